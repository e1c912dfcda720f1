import type { ImportTokenClaims } from "./import-token.js";
import type { EmulatedKeySpec, EmulatedKeyUsage } from "./spec-table.js";

/** `Creating`: a replica while ReplicateKey is still at work (AWS KMS API Reference, ReplicateKey). */
export type KeyState =
  | "Enabled"
  | "Disabled"
  | "PendingImport"
  | "PendingDeletion"
  | "PendingReplicaDeletion"
  | "Creating";
export type KeyOrigin = "AWS_KMS" | "EXTERNAL";
export type ExpirationModel = "KEY_MATERIAL_EXPIRES" | "KEY_MATERIAL_DOES_NOT_EXPIRE";

/**
 * A change other calls do not see yet (AWS KMS Developer Guide, "AWS KMS eventual consistency"): until
 * `visibleAt` (epoch ms) they see the state before it: no such key (`absent`), or the key state it had.
 */
export interface PendingChange {
  visibleAt: number;
  before: "absent" | KeyState;
}

export interface Tag {
  TagKey: string;
  TagValue: string;
}

/** One KMS key in one Region. Times are epoch milliseconds. */
export interface KeyRecord {
  keyId: string;
  region: string;
  creationDate: number;
  description: string;
  keySpec: EmulatedKeySpec;
  keyUsage: EmulatedKeyUsage;
  origin: KeyOrigin;
  keyState: KeyState;
  policy: string;
  tags: Tag[];
  multiRegion: boolean;
  /** Region of the primary key of a multi-Region key (this key's own Region when it is the primary). */
  primaryRegion?: string;
  /** PKCS#8 DER (RSA, EC) or raw bytes (AES, HMAC). Absent while PendingImport. */
  material?: Buffer;
  /**
   * SHA-256 of the first material imported (or of the primary's, for a replica): KMS binds a key to its
   * material for life, so every later import must bring the same bytes.
   */
  materialSha256?: string;
  expirationModel?: ExpirationModel;
  validTo?: number;
  deletionDate?: number;
  pendingWindowInDays?: number;
  /** The latest change to this key that other calls may not see yet (creation, import, replication). */
  pendingChange?: PendingChange;
}

export interface AliasRecord {
  aliasName: string;
  targetKeyId: string;
  creationDate: number;
  lastUpdatedDate: number;
  /** A new alias is seen by other calls only from this time (epoch ms). */
  visibleAt?: number;
}

/**
 * What GetParametersForImport handed out: what its token binds (the token names the one wrapping key it goes
 * with, by the SHA-256 of its public DER), and that wrapping key's private half.
 */
export interface ImportTokenRecord extends ImportTokenClaims {
  /** PKCS#8 DER of the wrapping private key. */
  wrappingPrivateKey: Buffer;
}
