import pkcs11js from "pkcs11js";
import { isMigrationError } from "../errors.js";
import { describeRef, pickSourceKey, type SourceKeyObject, sourceKeyNotFound } from "./find.js";
import { ckrName } from "./pkcs11-errors.js";
import type { Handle, Pkcs11 } from "./pkcs11-library.js";
import { readNames, type TokenSnapshot } from "./token-index.js";
import type { SourceKeyRef } from "./types.js";

/**
 * A handle from the index no longer names the object it was listed as (the key was deleted, replaced, or the
 * handle given to another object): the index must be listed again, and nothing may be done with the handle.
 */
export class StaleHandle extends Error {
  constructor(what: string) {
    super(`${what}: the token index is out of date`);
    this.name = "StaleHandle";
  }
}

/**
 * The index has no object for a lookup, but it was listed before the lookup began: a listing made since may
 * have it (the lookup runs again on one).
 */
export class IndexMiss extends Error {
  constructor(what: string) {
    super(`${what}: not in the token index listed before the lookup`);
    this.name = "IndexMiss";
  }
}

/** PKCS#11 answers for a handle that names no object, or not one the call can use. */
const STALE_HANDLE_ERRORS: ReadonlySet<string> = new Set([
  "CKR_OBJECT_HANDLE_INVALID",
  "CKR_KEY_HANDLE_INVALID",
  "CKR_ATTRIBUTE_TYPE_INVALID",
]);

/**
 * Whether `error` says a handle was stale: StaleHandle, or an operation on it that failed with
 * CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID (the key went between the lookup and its use).
 */
export function isStaleHandle(error: unknown): boolean {
  if (error instanceof StaleHandle) return true;
  const raw = isMigrationError(error) ? error.cause : error;
  const name = ckrName(raw);
  return name === "CKR_OBJECT_HANDLE_INVALID" || name === "CKR_KEY_HANDLE_INVALID";
}

/** What a lookup through the index needs: the session to confirm handles in and the listing to look in. */
export interface IndexedReader {
  pkcs11: Pkcs11;
  session: Handle;
  snapshot: TokenSnapshot;
  /** The listing began after the lookup did: what it lacks is absent, not merely newer than the index. */
  fresh: boolean;
}

const CKO_BY_CLASS = { private: pkcs11js.CKO_PRIVATE_KEY, secret: pkcs11js.CKO_SECRET_KEY } as const;

/** Reads the handle's names back and throws StaleHandle unless they are still the listed ones. */
function confirm(
  { pkcs11, session }: IndexedReader,
  handle: Handle,
  listed: { label: string; idHex: string; ckoClass: number; keyType?: number },
  what: string,
): void {
  let names: ReturnType<typeof readNames>;
  try {
    names = readNames(pkcs11, session, handle);
  } catch (error) {
    if (STALE_HANDLE_ERRORS.has(ckrName(error) ?? "")) throw new StaleHandle(what);
    throw error;
  }
  if (
    names.ckoClass !== listed.ckoClass ||
    names.label !== listed.label ||
    names.idHex !== listed.idHex ||
    (listed.keyType !== undefined && names.keyType !== listed.keyType)
  )
    throw new StaleHandle(what);
}

/**
 * The one private or secret key a reference names, through the index, its handle confirmed in this session:
 * fatal SOURCE_KEY_AMBIGUOUS exactly as a search reports it; SOURCE_KEY_NOT_FOUND when a fresh listing has
 * none (IndexMiss when the listing predates the lookup); StaleHandle when a candidate's handle moved.
 */
export function resolveSourceKey(
  reader: IndexedReader,
  ref: SourceKeyRef,
  tokenLabel: string,
): SourceKeyObject {
  const { snapshot } = reader;
  const idHex = ref.idHex?.toLowerCase();
  const candidates =
    ref.label !== undefined
      ? snapshot.keysByLabel(ref.label).filter((key) => idHex === undefined || key.idHex === idHex)
      : snapshot.keysById(idHex ?? "");
  if (candidates.length === 0) {
    if (!reader.fresh) throw new IndexMiss(describeRef(ref));
    throw sourceKeyNotFound(ref, tokenLabel);
  }
  // Every candidate is confirmed, so that a deleted duplicate never makes a key look ambiguous.
  for (const key of candidates)
    confirm(reader, key.handle, { ...key, ckoClass: CKO_BY_CLASS[key.objectClass] }, describeKey(key));
  return pickSourceKey(candidates, ref, tokenLabel);
}

/**
 * The public key objects of a key pair as describe looks for them (same CKA_ID, label as tie-break, else
 * same label), through the index, confirmed. None in a listing older than the lookup is an IndexMiss, so that
 * a public key created since is found.
 */
export function indexedPublicKeys(reader: IndexedReader, key: SourceKeyObject, keyType: number): Handle[] {
  const { snapshot } = reader;
  const ofType = <T extends { keyType: number }>(found: readonly T[]) =>
    found.filter((candidate) => candidate.keyType === keyType);
  let found = key.idHex ? ofType(snapshot.publicKeysById(key.idHex)) : [];
  const sameLabel = found.filter((candidate) => candidate.label === key.label);
  if (sameLabel.length > 0) found = sameLabel;
  if (found.length === 0 && key.label) found = ofType(snapshot.publicKeysByLabel(key.label));
  if (found.length === 0 && !reader.fresh) throw new IndexMiss(`public key of ${describeKey(key)}`);
  for (const candidate of found)
    confirm(
      reader,
      candidate.handle,
      { ...candidate, ckoClass: pkcs11js.CKO_PUBLIC_KEY },
      `public key "${candidate.label}"`,
    );
  return found.map((candidate) => candidate.handle);
}

function describeKey(key: SourceKeyObject): string {
  return `${key.objectClass} key "${key.label}" id ${key.idHex || "(none)"}`;
}
