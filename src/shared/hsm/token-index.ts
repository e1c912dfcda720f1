import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import pkcs11js from "pkcs11js";
import { decodeUlong } from "./attributes.js";
import type { SourceKeyObject } from "./find.js";
import type { Handle, Pkcs11 } from "./pkcs11-library.js";

/** A public key object as the index lists it: what describe needs to pick a key pair's public half. */
export interface IndexedPublicKey {
  handle: Handle;
  label: string;
  idHex: string;
  /** CKA_KEY_TYPE (CKK_RSA, CKK_EC, ...). */
  keyType: number;
}

/** One listing of the token: its private, secret and public key objects with their names and handles. */
export interface TokenSnapshot {
  /** Private and secret keys, private first, in the token's order (inventory lists them so). */
  readonly keys: readonly SourceKeyObject[];
  readonly publicKeys: readonly IndexedPublicKey[];
  /** When the listing began (TokenIndex's clock): every key created before that instant is in it. */
  readonly startedAt: number;
  /** The session pool's login count when listed: a new login may have changed every handle. */
  readonly logins: number;
  keysByLabel(label: string): readonly SourceKeyObject[];
  keysById(idHex: string): readonly SourceKeyObject[];
  publicKeysByLabel(label: string): readonly IndexedPublicKey[];
  publicKeysById(idHex: string): readonly IndexedPublicKey[];
}

/** Objects read between two yields to the event loop while listing (pkcs11js's searches are synchronous). */
const PAGE = 64;

const LISTED_CLASSES = [
  { objectClass: "private", ckoClass: pkcs11js.CKO_PRIVATE_KEY },
  { objectClass: "secret", ckoClass: pkcs11js.CKO_SECRET_KEY },
  { objectClass: "public", ckoClass: pkcs11js.CKO_PUBLIC_KEY },
] as const;

interface ListedObject {
  handle: Handle;
  objectClass: (typeof LISTED_CLASSES)[number]["objectClass"];
  label: string;
  idHex: string;
  keyType: number;
}

/**
 * Lists the token's key objects: one search per class (so no attribute of a certificate or data object is
 * read) and one C_GetAttributeValue per object for its label, id and key type, which every key object has.
 * Yields to the event loop every page so that a token of thousands of keys does not stall the process.
 */
export async function listTokenKeys(
  pkcs11: Pkcs11,
  session: Handle,
): Promise<Pick<TokenSnapshot, "keys" | "publicKeys">> {
  const listed: ListedObject[] = [];
  for (const { objectClass, ckoClass } of LISTED_CLASSES) {
    pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: ckoClass }]);
    try {
      for (;;) {
        const page = pkcs11.C_FindObjects(session, PAGE);
        if (page.length === 0) break;
        for (const handle of page)
          listed.push({ handle, objectClass, ...readNames(pkcs11, session, handle) });
        await yieldToEventLoop();
      }
    } finally {
      pkcs11.C_FindObjectsFinal(session);
    }
  }
  return {
    keys: listed.flatMap(({ handle, objectClass, label, idHex }) =>
      objectClass === "public" ? [] : [{ handle, objectClass, label, idHex }],
    ),
    publicKeys: listed.flatMap(({ handle, objectClass, label, idHex, keyType }) =>
      objectClass === "public" ? [{ handle, label, idHex, keyType }] : [],
    ),
  };
}

/** The names of a key object, in one call: CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL, CKA_ID. */
export function readNames(
  pkcs11: Pkcs11,
  session: Handle,
  handle: Handle,
): { ckoClass: number; keyType: number; label: string; idHex: string } {
  const [ckoClass, keyType, label, id] = pkcs11.C_GetAttributeValue(session, handle, [
    { type: pkcs11js.CKA_CLASS },
    { type: pkcs11js.CKA_KEY_TYPE },
    { type: pkcs11js.CKA_LABEL },
    { type: pkcs11js.CKA_ID },
  ]);
  const ulong = (value: Buffer | undefined) => (value?.length ? decodeUlong(Buffer.from(value)) : -1);
  return {
    ckoClass: ulong(ckoClass?.value),
    keyType: ulong(keyType?.value),
    label: Buffer.from(label?.value ?? []).toString("utf8"),
    idHex: Buffer.from(id?.value ?? []).toString("hex"),
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const name = key(item);
    const group = groups.get(name);
    if (group) group.push(item);
    else groups.set(name, [item]);
  }
  return groups;
}

function snapshotOf(
  listing: Pick<TokenSnapshot, "keys" | "publicKeys">,
  startedAt: number,
  logins: number,
): TokenSnapshot {
  const keysByLabel = groupBy(listing.keys, (key) => key.label);
  const keysById = groupBy(listing.keys, (key) => key.idHex);
  const publicByLabel = groupBy(listing.publicKeys, (key) => key.label);
  const publicById = groupBy(listing.publicKeys, (key) => key.idHex);
  return {
    ...listing,
    startedAt,
    logins,
    keysByLabel: (label) => keysByLabel.get(label) ?? [],
    keysById: (idHex) => keysById.get(idHex.toLowerCase()) ?? [],
    publicKeysByLabel: (label) => publicByLabel.get(label) ?? [],
    publicKeysById: (idHex) => publicById.get(idHex.toLowerCase()) ?? [],
  };
}

export interface TokenIndexOptions {
  /** Lists the token in a logged-in session; `logins` is the pool's login count in that session. */
  list(): Promise<{ listing: Pick<TokenSnapshot, "keys" | "publicKeys">; logins: number }>;
  /** The session pool's login count now. */
  logins(): number;
  /**
   * Least time between the starts of two listings: misses and stale handles coalesce into one listing per
   * interval, however many keys ask at once. @defaultValue ten times the last listing's duration, from 100 ms
   * to 30 s: listings then take at most about a tenth of the HSM's time on any token size, and a key created
   * during a run waits at most half a minute to be found
   */
  minRefreshIntervalMs?: number;
  /** Called after each listing (for the log). */
  onListed?(snapshot: TokenSnapshot, ms: number): void;
  /** Monotonic milliseconds. @defaultValue performance.now */
  now?(): number;
}

/**
 * A per-process index of the token's key objects, so that each HSM call resolves its key with a lookup and
 * confirms it with C_GetAttributeValue on the handle rather than a search, which reads the whole object store
 * on SoftHSM2 and is a round trip on CloudHSM. Listed at first use, and again when a key is missing (a key
 * created since), a handle turns out stale (a key deleted or replaced), or the pool logged in again (handles
 * may all have changed); at most one listing per interval, shared by every caller waiting for it.
 */
export class TokenIndex {
  readonly #options: TokenIndexOptions;
  readonly #now: () => number;
  #current: TokenSnapshot | undefined;
  #pending: Promise<TokenSnapshot> | undefined;
  #lastStart = Number.NEGATIVE_INFINITY;
  #lastDurationMs = 0;

  constructor(options: TokenIndexOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  get #intervalMs(): number {
    return this.#options.minRefreshIntervalMs ?? Math.min(30_000, Math.max(100, 10 * this.#lastDurationMs));
  }

  /** The index's clock: pass its reading to `listedSince` to ask for a listing at least that recent. */
  now(): number {
    return this.#now();
  }

  /** The current snapshot, listing the token first when there is none or the pool logged in since. */
  async snapshot(): Promise<TokenSnapshot> {
    const current = this.#current;
    if (current && current.logins === this.#options.logins()) return current;
    return this.listedSince(this.#now());
  }

  /**
   * A snapshot whose listing began at or after `instant` (so it holds every key that existed then), from the
   * same login. Waits for the interval since the last listing to pass; callers waiting meanwhile share it.
   */
  async listedSince(instant: number): Promise<TokenSnapshot> {
    for (;;) {
      const current = this.#current;
      if (current && current.startedAt >= instant && current.logins === this.#options.logins())
        return current;
      this.#pending ??= this.#list().finally(() => {
        this.#pending = undefined;
      });
      const listed = await this.#pending;
      // A listing that began before `instant` (already under way when asked) does not answer: go round.
      if (listed.startedAt >= instant && listed.logins === this.#options.logins()) return listed;
    }
  }

  /** Forgets the current snapshot: the next call lists the token again. */
  invalidate(): void {
    this.#current = undefined;
  }

  async #list(): Promise<TokenSnapshot> {
    const wait = this.#lastStart + this.#intervalMs - this.#now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const startedAt = this.#now();
    this.#lastStart = startedAt;
    const { listing, logins } = await this.#options.list();
    const snapshot = snapshotOf(listing, startedAt, logins);
    this.#current = snapshot;
    this.#lastDurationMs = this.#now() - startedAt;
    this.#options.onListed?.(snapshot, this.#lastDurationMs);
    return snapshot;
  }
}
