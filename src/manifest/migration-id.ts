import { createHash } from "node:crypto";

/** What identifies a source key in one target region (and account). */
export type SourceKeyInRegion = {
  region: string;
  sourceLabel: string | undefined;
  sourceIdHex: string | undefined;
  /** The target account; undefined: the caller's own. */
  account?: string | undefined;
};

function keyDigest(row: SourceKeyInRegion): Buffer {
  // NUL cannot occur in a region, a valid label (no control characters) or hex, so the join is unambiguous.
  // Without an account the text is exactly what earlier versions hashed: their ledgers and re-runs keep
  // their ids. With one, it starts `account:<12 digits>`, which no Region name does.
  const account = row.account === undefined ? "" : `account:${row.account}\0`;
  return createHash("sha256")
    .update(`${account}${row.region}\0${row.sourceLabel ?? ""}\0${row.sourceIdHex ?? ""}`, "utf8")
    .digest();
}

/**
 * The deterministic id of one key's migration to one region: `k` + the first 40 hex digits of
 * sha256(region NUL label NUL id), with `account:<account>` NUL in front for a key that goes to another
 * account. The same key, account and region always give the same id, so re-running a manifest adds nothing
 * twice, and the same key in the same Region of two accounts has two ids. It never holds `:` (BullMQ's key
 * separator) and is never all digits (BullMQ rejects integer job ids).
 */
export function migrationId(row: SourceKeyInRegion): string {
  return `k${keyDigest(row).toString("hex", 0, 20)}`;
}

/**
 * A 12-byte digest of the source key in its region, as a 12-character latin1 string: a compact Map key
 * for duplicate detection (a collision needs ~2^48 rows).
 */
export function sourceKeyDigest(row: SourceKeyInRegion): string {
  return keyDigest(row).toString("latin1", 0, 12);
}

/** A 12-byte digest of an alias in a region, for duplicate alias detection. */
export function aliasDigest(region: string, alias: string): string {
  return createHash("sha256").update(`${region}\0${alias}`, "utf8").digest().toString("latin1", 0, 12);
}
