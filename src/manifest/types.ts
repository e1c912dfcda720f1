import type { KeySpec, KeyUsage } from "../shared/key-specs.js";

/**
 * The manifest's columns: a user-facing contract (docs/architecture.md#the-contract). Any order in a file;
 * each at most once.
 */
export const MANIFEST_COLUMNS = [
  "source_label",
  "source_id",
  "key_spec",
  "key_usage",
  "alias",
  "description",
  "tags",
  "region",
  "multi_region",
  "expires_at",
  "replica_regions",
  "key_policy",
] as const;

export type ManifestColumn = (typeof MANIFEST_COLUMNS)[number];

/**
 * `account`: the 12-digit AWS account a key goes to (empty: the caller's own), reached through the role
 * HSM2KMS_ACCOUNTS_FILE names for it. Not among the inventory's columns: an HSM does not know where its keys
 * should go.
 */
export const ACCOUNT_COLUMN = "account";

/** A column a manifest may have: the inventory's, plus `account`. */
export type ReadColumn = ManifestColumn | typeof ACCOUNT_COLUMN;

export function isManifestColumn(name: string): name is ManifestColumn {
  return (MANIFEST_COLUMNS as readonly string[]).includes(name);
}

/** One valid manifest row, normalised. */
export interface ManifestRow {
  /** 1-based physical line of the record's first line in the file (the header is line 1). */
  line: number;
  /** CKA_LABEL of the source key. At least one of sourceLabel and sourceIdHex is set. */
  sourceLabel: string | undefined;
  /** CKA_ID as lower-case hex of even length, without `0x`. */
  sourceIdHex: string | undefined;
  /** undefined: infer from the HSM. */
  keySpec: KeySpec | undefined;
  /** undefined: the spec's default, decided once the spec is known. */
  keyUsage: KeyUsage | undefined;
  /** `alias/...` */
  alias: string | undefined;
  description: string | undefined;
  tags: Record<string, string>;
  /** The row's region, or the default region. */
  region: string;
  multiRegion: boolean;
  expiresAt: Date | undefined;
  /** Regions to replicate a multi-Region key into (the row's own Region excluded). */
  replicaRegions: string[];
  /** Path of a JSON key policy file (relative to the manifest's folder); read and checked at enqueue. */
  keyPolicyPath: string | undefined;
  /** The target account (12 digits); undefined: the caller's own. */
  account?: string | undefined;
}

/** What is wrong with a row: `message` says what is wrong and what is expected. */
export interface RowProblem {
  line: number;
  /** undefined: the problem is about the row as a whole (field count, no source key). */
  column: string | undefined;
  message: string;
}

/** What readManifest yields per data record: a valid row, or every problem of a rejected one. */
export type ManifestEntry =
  | { kind: "row"; row: ManifestRow }
  | { kind: "rejected"; line: number; problems: RowProblem[] };
