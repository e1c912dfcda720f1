import type { KeySpec, KeyUsage, WrappingAlgorithm, WrappingKeySpec } from "../key-specs.js";

export interface KmsKeyInfo {
  keyId: string;
  arn: string;
  keyState: string;
  keySpec: string | undefined;
  keyUsage: string | undefined;
  origin: string | undefined;
  creationDate: Date | undefined;
  multiRegion: boolean;
  description: string | undefined;
  /** The algorithms KMS allows with the key (DescribeKey), by kind; absent when KMS lists none. */
  algorithms?: KmsKeyAlgorithms | undefined;
  /** KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE; undefined while the key has no material. */
  expirationModel?: string | undefined;
  /** When the imported material expires (KEY_MATERIAL_EXPIRES only). */
  validTo?: Date | undefined;
}

/** What DescribeKey says a key may be used with. */
export interface KmsKeyAlgorithms {
  signing?: string[] | undefined;
  encryption?: string[] | undefined;
  mac?: string[] | undefined;
  keyAgreement?: string[] | undefined;
}

export interface CreateImportedKeyInput {
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  description?: string | undefined;
  tags: Record<string, string>;
  multiRegion: boolean;
  policy?: string | undefined;
}

/** One set of import parameters. The token is bound to this key and wrapping key; never reuse it for another. */
export interface ImportParameters {
  keyId: string;
  wrappingAlgorithm: WrappingAlgorithm;
  wrappingKeySpec: WrappingKeySpec;
  /** DER SubjectPublicKeyInfo of the KMS wrapping key. */
  wrappingPublicKeyDer: Buffer;
  /** Opaque; a secret for our purposes: never logged. */
  importToken: Buffer;
  validTo: Date;
}

export interface ImportKeyMaterialInput {
  keyId: string;
  importToken: Buffer;
  encryptedKeyMaterial: Buffer;
  /** Material expires then (KEY_MATERIAL_EXPIRES); undefined: KEY_MATERIAL_DOES_NOT_EXPIRE. */
  validTo: Date | undefined;
}

/** A KMS key found through the Resource Groups Tagging API, with the tags its index holds. */
export interface TaggedKmsKey {
  keyId: string;
  arn: string;
  /** The tags as the (eventually consistent) tag index last saw them. */
  tags: Record<string, string>;
}

/** What one KMS request did, for metrics and logs (observers; they cannot break the call). */
export interface KmsRequestEvent {
  region: string;
  /** The account the request acted in; undefined: the caller's own. */
  account?: string | undefined;
  operation: string;
  outcome: "success" | "throttled" | "error";
  durationMs: number;
  errorName?: string;
}

/** A Region's key quota ("AWS KMS keys") found full, or keys being created there again. */
export interface ResourceQuotaEvent {
  region: string;
  /** The account whose quota it is; undefined: the caller's own. */
  account?: string | undefined;
  /** The quota's name, e.g. `AWS KMS keys`. */
  quota: string;
  state: "exceeded" | "cleared";
  /** The operation KMS refused (exceeded) or that succeeded (cleared). */
  operation: string;
}

/**
 * The KMS port the phases use, one per Region. Every method throws a MigrationError already mapped onto
 * the pipeline's vocabulary (throttled, token-expired, retryable, fatal) whose message names the key.
 */
export interface KmsPort {
  readonly region: string;
  createKey(input: CreateImportedKeyInput): Promise<KmsKeyInfo>;
  /** A key by id, ARN or alias name; undefined when KMS says NotFound. */
  describeKey(keyIdOrAlias: string): Promise<KmsKeyInfo | undefined>;
  listResourceTags(keyId: string): Promise<Record<string, string>>;
  /**
   * The KMS keys of this Region carrying tag `tagKey` = `tagValue`, from the Resource Groups Tagging API
   * (`tag:GetResources`, resource type `kms:key`): a call or two whatever the account holds. The tag index is
   * eventually consistent: a key tagged moments ago may be missing, and keys pending deletion are included.
   */
  findKeysByTag(tagKey: string, tagValue: string): Promise<TaggedKmsKey[]>;
  createAlias(aliasName: string, keyId: string): Promise<void>;
  getParametersForImport(
    keyId: string,
    algorithm: WrappingAlgorithm,
    wrappingKeySpec: WrappingKeySpec,
  ): Promise<ImportParameters>;
  importKeyMaterial(input: ImportKeyMaterialInput): Promise<void>;
  deleteImportedKeyMaterial(keyId: string): Promise<void>;
  /** Returns the deletion date. */
  scheduleKeyDeletion(keyId: string, pendingWindowInDays: number): Promise<Date | undefined>;
  /**
   * ReplicateKey, called in the primary's Region: a replica of multi-Region key `keyId` in `replicaRegion`
   * (same key id; an EXTERNAL replica starts PendingImport). Returns the replica's metadata.
   */
  replicateKey(
    keyId: string,
    replicaRegion: string,
    input: { description?: string | undefined; tags: Record<string, string>; policy?: string | undefined },
  ): Promise<KmsKeyInfo>;
  getPublicKey(keyId: string): Promise<Buffer>;
  /**
   * Sign: `message` is the message itself (RAW, at most 4096 bytes) or its digest under the algorithm's hash
   * (DIGEST, for longer messages). @defaultValue messageType "RAW"
   */
  sign(
    keyId: string,
    message: Buffer,
    signingAlgorithm: string,
    messageType?: "RAW" | "DIGEST",
  ): Promise<Buffer>;
  encrypt(keyId: string, plaintext: Buffer, encryptionAlgorithm?: string): Promise<Buffer>;
  decrypt(keyId: string, ciphertext: Buffer, encryptionAlgorithm?: string): Promise<Buffer>;
  generateMac(keyId: string, message: Buffer, macAlgorithm: string): Promise<Buffer>;
  deriveSharedSecret(keyId: string, peerPublicKeyDer: Buffer): Promise<Buffer>;
  close(): void;
}
