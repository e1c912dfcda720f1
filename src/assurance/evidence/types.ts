import type { VerificationCheck } from "../../shared/migration.js";

/**
 * The evidence pack's files, as JSON. A pack is a folder:
 *
 * ```
 * manifest.json        every record file with its SHA-256, the keys without a record, counts, tool version
 * manifest.sig.json    (with --sign-with) a KMS signature over manifest.json's exact bytes
 * records/<id>.json    one per migrated key, named by its migration id
 * ```
 *
 * Nothing in a pack is secret: no PIN, no import token, no wrapped material.
 */

export const RECORD_FORMAT = "hsm2kms-evidence-record/1";
export const MANIFEST_FORMAT = "hsm2kms-evidence-manifest/1";
export const SIGNATURE_FORMAT = "hsm2kms-evidence-signature/1";
export const MANIFEST_FILE = "manifest.json";
export const SIGNATURE_FILE = "manifest.sig.json";
export const RECORDS_FOLDER = "records";

/** Who made the pack: the AWS caller identity when STS answered, and always the local OS user. */
export type OperatorIdentity =
  | { source: "sts"; arn: string; account: string; userId: string; localUser: string }
  | { source: "unavailable"; reason: string; localUser: string };

/** One migrated key. */
export interface EvidenceRecord {
  format: typeof RECORD_FORMAT;
  migrationId: string;
  source: {
    label: string;
    idHex: string;
    keyType: string;
    objectClass: "private" | "secret";
    /** The manifest line the key came from, when known. */
    manifestLine?: number | undefined;
    /** Hex SHA-256 of the DER SubjectPublicKeyInfo; asymmetric keys only. */
    spkiSha256?: string | undefined;
    /** The HSM public key (DER SPKI, base64); asymmetric keys only. */
    publicKeySpkiB64?: string | undefined;
    /** The fingerprint preflight recorded (`sha256:...`, `kcv:...` or `object:...`). */
    fingerprint: string;
  };
  kms: {
    keyArn: string;
    keyId: string;
    /** The 12-digit account the KMS key is in (the manifest's account, else the one its ARN names). */
    account: string;
    region: string;
    keySpec: string;
    keyUsage: string;
    alias?: string | undefined;
    multiRegion: boolean;
    /** Migration id of the multi-Region primary, for a replica. */
    replicaOf?: string | undefined;
  };
  wrapping: { algorithm?: string | undefined; hsmPath?: string | undefined };
  verification: { verified: string; checks: VerificationCheck[] };
  timestamps: {
    created: string;
    createStarted?: string | undefined;
    importStarted?: string | undefined;
    imported?: string | undefined;
    verified?: string | undefined;
    updated: string;
  };
  attempts: number;
  tokenRefreshes: number;
  operator: OperatorIdentity;
}

/** A record file as the manifest lists it. */
export interface ManifestEntry {
  /** Relative to the pack folder: `records/<migration id>.json`. */
  file: string;
  sha256: string;
  bytes: number;
  migrationId: string;
  sourceLabel: string;
  /** The key's target account; absent: the caller's own. */
  account?: string | undefined;
  region: string;
}

/** A key of the ledger that is not migrated: listed, with no record. */
export interface NotMigratedEntry {
  migrationId: string;
  sourceLabel?: string | undefined;
  sourceIdHex?: string | undefined;
  /** The key's target account; absent: the caller's own. */
  account?: string | undefined;
  region: string;
  status: string;
  error?: { code: string; message: string } | undefined;
}

export interface EvidenceManifest {
  format: typeof MANIFEST_FORMAT;
  tool: { name: "hsm2kms"; version: string };
  createdAt: string;
  /** The ledger the pack was made from (`HSM2KMS_QUEUE_PREFIX`). */
  campaign: string;
  operator: OperatorIdentity;
  counts: { keys: number; records: number; notMigrated: number };
  records: ManifestEntry[];
  notMigrated: NotMigratedEntry[];
}

/** manifest.sig.json: a KMS signature over manifest.json's exact bytes. */
export interface ManifestSignature {
  format: typeof SIGNATURE_FORMAT;
  /** KMS SigningAlgorithm, e.g. ECDSA_SHA_256; the digest signed is the manifest's under its hash. */
  algorithm: string;
  messageType: "DIGEST";
  /** Hex digest of manifest.json under the algorithm's hash (what KMS signed). */
  manifestDigest: string;
  signatureB64: string;
  keyArn: string;
  /** The signing key's public key (DER SPKI, base64) from KMS GetPublicKey, and its hex SHA-256. */
  publicKeySpkiB64: string;
  publicKeySha256: string;
  signedAt: string;
}
