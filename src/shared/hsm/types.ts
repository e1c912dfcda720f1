import type { KeySpec, WrappingAlgorithm } from "../key-specs.js";

/** How a manifest row names a key in the HSM: CKA_LABEL, CKA_ID (hex), or both (both must match). */
export interface SourceKeyRef {
  label?: string | undefined;
  /** CKA_ID as lower-case hex. */
  idHex?: string | undefined;
}

/** What preflight learns about a source key. Contains no secret: safe to store in the ledger. */
export interface SourceKeyDescription {
  label: string;
  idHex: string;
  objectClass: "private" | "secret";
  /** PKCS#11 key type name: `RSA`, `EC`, `AES`, `GENERIC_SECRET`, `SHA256_HMAC`, ... */
  keyType: string;
  /** The KMS KeySpec this key maps to, or undefined when KMS cannot import it (see `unsupportedReason`). */
  keySpec: KeySpec | undefined;
  unsupportedReason?: string | undefined;
  extractable: boolean;
  wrapWithTrusted: boolean;
  modulusBits?: number | undefined;
  publicExponentHex?: string | undefined;
  /** Dotted OID of the EC named curve. */
  curveOid?: string | undefined;
  /** Secret key length in bytes (AES, HMAC/generic secret). */
  secretBytes?: number | undefined;
  /** DER SubjectPublicKeyInfo of the public half (RSA, EC), built from the matching public key object. */
  publicKeySpkiDer?: Buffer | undefined;
  /**
   * Identity of the key material without revealing it: `sha256:<hex of SHA-256(SPKI)>` for asymmetric keys,
   * `kcv:<hex CKA_CHECK_VALUE>` for secret keys where the token gives one, else `object:<label>/<id>`.
   */
  fingerprint: string;
}

/** How the key is wrapped inside the HSM. */
export type HsmWrapPath =
  /** CKM_RSA_AES_KEY_WRAP in one call. */
  | "rsa-aes-native"
  /** CKM_RSA_PKCS_OAEP of the key itself (secret keys only). */
  | "oaep-direct"
  /** Ephemeral AES-256 session key generated in the HSM, CKM_AES_KEY_WRAP_PAD of the key, OAEP of the AES key. */
  | "two-step";

export interface WrapPlan {
  wrappingAlgorithm: WrappingAlgorithm;
  hsmPath: HsmWrapPath;
}

/** What the token can do, probed once per token and cached. */
export interface WrapCapabilities {
  /** OAEP hashes usable with C_WrapKey (CKM_RSA_PKCS_OAEP), e.g. ["sha256", "sha1"] on CloudHSM, ["sha1"] on SoftHSM2. */
  oaepHashes: Array<"sha1" | "sha256">;
  /** CKM_RSA_AES_KEY_WRAP available with these OAEP hashes. */
  rsaAesKeyWrapHashes: Array<"sha1" | "sha256">;
  /** CKM_AES_KEY_WRAP_PAD (RFC 5649) available, with CKM_AES_KEY_GEN for the ephemeral key. */
  aesKeyWrapPad: boolean;
  /**
   * The token zero-pads key data to a multiple of 8 before AES-KWP (SoftHSM2 2.6.1): the unwrapped PKCS#8
   * carries trailing 0x00 bytes. Reported so that it is handled visibly, never silently.
   */
  kwpZeroPads: boolean;
  /**
   * CKM_RSA_PKCS_OAEP can wrap a private (EC) key directly (SoftHSM2: no, CKR_KEY_NOT_WRAPPABLE). Absent means
   * no: private keys then go through RSA_AES_KEY_WRAP_*.
   */
  oaepWrapsPrivateKeys?: boolean;
  /** CKM_ECDH1_DERIVE available (KEY_AGREEMENT verification). */
  ecdh: boolean;
  manufacturer: string;
  model: string;
}

export interface WrapRequest {
  /** The KMS wrapping public key: DER SubjectPublicKeyInfo of an RSA key, from GetParametersForImport. */
  wrappingPublicKeyDer: Buffer;
  plan: WrapPlan;
  /**
   * The fingerprint preflight recorded: the key is described again in the wrap's own session and a different
   * one fails SOURCE_KEY_CHANGED before anything is wrapped (one search of the token instead of two calls').
   */
  expectedFingerprint?: string | undefined;
}

/**
 * The HSM port the phases use. Implemented over PKCS#11 (pkcs11js) for CloudHSM and SoftHSM2.
 * Every method that fails throws a MigrationError (see ../errors.ts) whose message names the key.
 */
export interface HsmPort {
  /** Every private and secret key on the token, described (for `inventory`). */
  listKeys(): Promise<SourceKeyDescription[]>;
  /** Finds exactly one private or secret key; SOURCE_KEY_NOT_FOUND / SOURCE_KEY_AMBIGUOUS otherwise. */
  describeKey(ref: SourceKeyRef): Promise<SourceKeyDescription>;
  /** Probes (once, then cached) what the token can wrap with. */
  capabilities(): Promise<WrapCapabilities>;
  /**
   * Wraps the key for KMS inside the HSM. Imports the wrapping public key as a session object, wraps, and
   * destroys every temporary object (also on failure). Returns the ciphertext KMS expects for the plan's
   * wrapping algorithm.
   */
  wrapKey(ref: SourceKeyRef, request: WrapRequest): Promise<Buffer>;
  /**
   * HMAC of `message` computed by the HSM with the source key (GENERATE_VERIFY_MAC verification), with the
   * hash of `keySpec` (the spec the key is imported as; default: the one inferred from the key's length).
   */
  hmac(ref: SourceKeyRef, message: Buffer, keySpec?: KeySpec): Promise<Buffer>;
  /**
   * ECDH in the HSM between the source key and `peerPublicKeyDer` (SPKI); returns the raw shared secret
   * (KEY_AGREEMENT verification). Throws HSM_MECHANISM_UNAVAILABLE when the token cannot.
   */
  deriveSharedSecret(ref: SourceKeyRef, peerPublicKeyDer: Buffer): Promise<Buffer>;
  /** Sessions open and in use (for the hsm2kms_hsm_sessions gauge). */
  sessionStats(): { open: number; inUse: number };
  /** Logs out, closes sessions, finalizes the library. */
  close(): Promise<void>;
}
