import { randomBytes } from "node:crypto";
import { chmod, rename, writeFile } from "node:fs/promises";
import { readFileBounded } from "../../shared/bounded-read.js";
import type { AliasRecord, ImportTokenRecord, KeyRecord } from "./key-record.js";
import { KeyStore } from "./key-store.js";

type Stored<T> = Omit<T, "material" | "wrappingPrivateKey"> & {
  material?: string;
  wrappingPrivateKey?: string;
};

interface StateFileV1 {
  version: 1;
  accountId: string;
  tokenSecret: string;
  regions: Record<string, { keys: Stored<KeyRecord>[]; aliases: AliasRecord[] }>;
  tokens: Stored<ImportTokenRecord>[];
}

export function serializeState(store: KeyStore, tokenSecret: Buffer): string {
  store.purgeExpiredTokens();
  const regions: StateFileV1["regions"] = {};
  for (const [name, region] of store.regions)
    regions[name] = {
      keys: [...region.keys.values()].map((key) => ({ ...key, material: key.material?.toString("base64") })),
      aliases: [...region.aliases.values()],
    };
  const state: StateFileV1 = {
    version: 1,
    accountId: store.accountId,
    tokenSecret: tokenSecret.toString("base64"),
    regions,
    tokens: [...store.tokens.values()].map((token) => ({
      ...token,
      wrappingPrivateKey: token.wrappingPrivateKey.toString("base64"),
    })),
  };
  return JSON.stringify(state);
}

/** Far above any rehearsal's keys and tokens; stops a wrong path (/dev/zero) from being read without end. */
const MAX_STATE_FILE_BYTES = 256 * 1024 * 1024;

/** The store and token secret saved in `path`, or undefined when there is no such file yet. */
export async function loadState(
  path: string,
  accountId: string,
  now: () => number = Date.now,
): Promise<{ store: KeyStore; tokenSecret: Buffer } | undefined> {
  const read = await readFileBounded(path, MAX_STATE_FILE_BYTES, "an emulator state file");
  if ("problem" in read) {
    if (read.problem.startsWith("cannot be read (ENOENT")) return undefined;
    throw new Error(`--state ${path} ${read.problem}`);
  }
  let state: StateFileV1;
  try {
    state = JSON.parse(read.bytes.toString("utf8")) as StateFileV1;
  } catch {
    // JSON.parse's message quotes the file: a state file named by mistake is not repeated.
    throw new Error(`--state ${path} is not a kms-emulator state file (not valid JSON)`);
  }
  if (state.version !== 1) throw new Error(`${path}: unsupported state file version ${state.version}`);
  if (state.accountId !== accountId)
    throw new Error(`${path} holds account ${state.accountId}, not ${accountId}`);
  const store = new KeyStore(accountId, now);
  for (const [name, region] of Object.entries(state.regions)) {
    const target = store.region(name);
    for (const key of region.keys)
      target.keys.set(key.keyId, {
        ...key,
        material: key.material === undefined ? undefined : Buffer.from(key.material, "base64"),
      });
    for (const alias of region.aliases) target.aliases.set(alias.aliasName, alias);
  }
  for (const token of state.tokens)
    store.tokens.set(token.tokenId, {
      ...token,
      wrappingPrivateKey: Buffer.from(token.wrappingPrivateKey ?? "", "base64"),
    });
  return { store, tokenSecret: Buffer.from(state.tokenSecret, "base64") };
}

/**
 * Writes the state file atomically (temporary file, then rename) with mode 0600: it holds key material.
 * Saves requested while one is being written are coalesced into the next write.
 */
export class StateSaver {
  private writing: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly render: () => string,
  ) {}

  save(): Promise<void> {
    if (this.next) return this.next;
    const previous = this.writing ?? Promise.resolve();
    this.next = previous
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        const current = this.write();
        this.writing = current;
        current
          .finally(() => {
            if (this.writing === current) this.writing = undefined;
          })
          .catch(() => undefined);
        return current;
      });
    return this.next;
  }

  async flush(): Promise<void> {
    await this.next;
    await this.writing;
  }

  private async write(): Promise<void> {
    const temporary = `${this.path}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temporary, this.render(), { mode: 0o600 });
    // The umask can only remove bits, but a pre-existing file keeps its own mode: force it.
    await chmod(temporary, 0o600);
    await rename(temporary, this.path);
  }
}
