/**
 * SoftHSM2 tokens the benchmarks keep under bench/.cache (git-ignored) and reuse across runs: a 2,000-key
 * token takes minutes to make on a shared 2-core machine, and a rehearsal of a real campaign runs on a token
 * of that size. Each token sits in its own folder (softhsm2.conf, tokens/, the PIN file) with `keys.json`,
 * the keys made in it so far, written after every batch. Delete the folder to start again.
 *
 * Also a command, so a token can be made in a child process (SoftHSM2 reads its config once per process):
 * `tsx bench/lib/cached-token.ts DIR COUNT` prints the token's environment and keys as JSON.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { HsmConfig } from "../../src/shared/config.js";
import { Secret } from "../../src/shared/secret.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { initSandboxToken } from "../../src/testkit/softhsm.js";
import { addMixedKeys } from "../../test/helpers/fleet.js";

/** Where the benchmarks keep their tokens. */
export const CACHE_DIR = join(import.meta.dirname, "..", ".cache");

export interface CachedToken {
  dir: string;
  label: string;
  /** For child processes: SOFTHSM2_CONF, HSM2KMS_PKCS11_LIB, HSM2KMS_TOKEN_LABEL, HSM2KMS_PKCS11_PIN_FILE. */
  env: Record<string, string>;
  hsmConfig: HsmConfig;
  /** Every key made in the token, oldest first. */
  keys: SampleKey[];
}

/** Keys per generation batch (and per save of keys.json): an interrupted run keeps what it made. */
const BATCH = 250;

/** Opens (or creates) the cached token `name` in this process. Sets process.env.SOFTHSM2_CONF. */
export async function openCachedToken(name: string): Promise<CachedToken> {
  const dir = join(CACHE_DIR, name);
  await mkdir(dir, { recursive: true });
  const label = `bench-${name}`.slice(0, 32);
  const token = await initSandboxToken({ dir, label, keys: [] });
  const keysFile = join(dir, "keys.json");
  const keys: SampleKey[] = existsSync(keysFile) ? JSON.parse(readFileSync(keysFile, "utf8")) : [];
  const pin = readFileSync(token.pinFile, "utf8").trim();
  return {
    dir,
    label,
    env: { ...token.env },
    hsmConfig: { library: token.library, tokenLabel: label, slot: undefined, pin: new Secret(pin) },
    keys,
  };
}

/** Makes keys in `token` until it holds `count` (mixed types, the first four RSA-2048); returns them all. */
export async function growCachedToken(token: CachedToken, count: number): Promise<SampleKey[]> {
  const started = performance.now();
  const before = token.keys.length;
  while (token.keys.length < count) {
    // addMixedKeys numbers CKA_IDs from 0 on every call: the labels keep each key unique. A run that dies
    // mid-batch leaves that batch's keys on the token but not in keys.json: the label's per-batch stamp keeps
    // the next run's batch from making their twins (two keys with one label and id are ambiguous to hsm2kms).
    const more = await addMixedKeys(
      token.env,
      `bench${token.keys.length}t${Date.now().toString(36)}`,
      Math.min(BATCH, count - token.keys.length),
      token.keys.length === 0 ? 4 : 0,
    );
    token.keys.push(...more);
    await writeFile(join(token.dir, "keys.json"), `${JSON.stringify(token.keys)}\n`);
  }
  if (token.keys.length > before)
    process.stderr.write(
      `bench: made ${token.keys.length - before} keys in ${token.label} (now ${token.keys.length}) in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
  return token.keys.slice(0, count);
}

if (process.argv[1] === import.meta.filename) {
  const [name, count] = process.argv.slice(2);
  if (!name || !/^\d+$/.test(count ?? "")) {
    process.stderr.write("usage: tsx bench/lib/cached-token.ts NAME COUNT\n");
    process.exit(2);
  }
  const token = await openCachedToken(name);
  const keys = await growCachedToken(token, Number(count));
  process.stdout.write(`${JSON.stringify({ env: token.env, label: token.label, keys })}\n`);
}
