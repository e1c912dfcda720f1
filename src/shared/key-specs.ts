/**
 * What KMS can import, as tables: KeySpecs, their usages, the material KMS expects, and which wrapping
 * algorithms KMS allows for each. Source: AWS KMS Developer Guide, "Requirements for imported key
 * material" and "Select a wrapping algorithm" (summarised in docs/reference/kms-import.md).
 */

export const RSA_KEY_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"] as const;
export const ECC_KEY_SPECS = ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"] as const;
export const HMAC_KEY_SPECS = ["HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"] as const;
export const KEY_SPECS = [
  ...RSA_KEY_SPECS,
  ...ECC_KEY_SPECS,
  "SYMMETRIC_DEFAULT",
  ...HMAC_KEY_SPECS,
] as const;
export type KeySpec = (typeof KEY_SPECS)[number];

export const KEY_USAGES = ["SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export const WRAPPING_ALGORITHMS = [
  "RSAES_OAEP_SHA_1",
  "RSAES_OAEP_SHA_256",
  "RSA_AES_KEY_WRAP_SHA_1",
  "RSA_AES_KEY_WRAP_SHA_256",
] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];

export const WRAPPING_KEY_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"] as const;
export type WrappingKeySpec = (typeof WRAPPING_KEY_SPECS)[number];

export type KeyFamily = "RSA" | "EC" | "AES" | "HMAC";

export interface CurveInfo {
  /** Name node:crypto uses (`prime256v1`, `secp384r1`, ...). */
  nodeName: string;
  /** Dotted OID of the named curve. */
  oid: string;
  /** DER of the OID (as in CKA_EC_PARAMS). */
  oidDerHex: string;
  /** Field size in bytes (length of r, s and of the private scalar). */
  fieldBytes: number;
}

export interface KeySpecInfo {
  spec: KeySpec;
  family: KeyFamily;
  usages: readonly KeyUsage[];
  defaultUsage: KeyUsage;
  /** RSA modulus bits, EC field bits, AES/HMAC minimum key bits. */
  bits: number;
  curve?: CurveInfo;
  /** KMS signing algorithms, strongest-fit first (RSA and EC). */
  signingAlgorithms?: readonly string[];
  /** KMS MAC algorithm (HMAC). */
  macAlgorithm?: string;
  /** Hash for ECDSA/HMAC, as node:crypto names it. */
  hash?: "sha224" | "sha256" | "sha384" | "sha512";
}

const rsa = (spec: KeySpec, bits: number): KeySpecInfo => ({
  spec,
  family: "RSA",
  usages: ["SIGN_VERIFY", "ENCRYPT_DECRYPT"],
  defaultUsage: "SIGN_VERIFY",
  bits,
  signingAlgorithms: [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
  ],
  hash: "sha256",
});

const ec = (
  spec: KeySpec,
  bits: number,
  curve: CurveInfo,
  hash: "sha256" | "sha384" | "sha512",
): KeySpecInfo => ({
  spec,
  family: "EC",
  usages: spec === "ECC_SECG_P256K1" ? ["SIGN_VERIFY"] : ["SIGN_VERIFY", "KEY_AGREEMENT"],
  defaultUsage: "SIGN_VERIFY",
  bits,
  curve,
  signingAlgorithms: [`ECDSA_${hash.replace("sha", "SHA_")}`],
  hash,
});

const hmac = (spec: KeySpec, bits: number, hash: "sha224" | "sha256" | "sha384" | "sha512"): KeySpecInfo => ({
  spec,
  family: "HMAC",
  usages: ["GENERATE_VERIFY_MAC"],
  defaultUsage: "GENERATE_VERIFY_MAC",
  bits,
  macAlgorithm: `HMAC_${hash.replace("sha", "SHA_")}`,
  hash,
});

export const CURVES = {
  P256: {
    nodeName: "prime256v1",
    oid: "1.2.840.10045.3.1.7",
    oidDerHex: "06082a8648ce3d030107",
    fieldBytes: 32,
  },
  P384: { nodeName: "secp384r1", oid: "1.3.132.0.34", oidDerHex: "06052b81040022", fieldBytes: 48 },
  P521: { nodeName: "secp521r1", oid: "1.3.132.0.35", oidDerHex: "06052b81040023", fieldBytes: 66 },
  K256: { nodeName: "secp256k1", oid: "1.3.132.0.10", oidDerHex: "06052b8104000a", fieldBytes: 32 },
} as const satisfies Record<string, CurveInfo>;

const TABLE: Record<KeySpec, KeySpecInfo> = {
  RSA_2048: rsa("RSA_2048", 2048),
  RSA_3072: rsa("RSA_3072", 3072),
  RSA_4096: rsa("RSA_4096", 4096),
  ECC_NIST_P256: ec("ECC_NIST_P256", 256, CURVES.P256, "sha256"),
  ECC_NIST_P384: ec("ECC_NIST_P384", 384, CURVES.P384, "sha384"),
  ECC_NIST_P521: ec("ECC_NIST_P521", 521, CURVES.P521, "sha512"),
  ECC_SECG_P256K1: ec("ECC_SECG_P256K1", 256, CURVES.K256, "sha256"),
  SYMMETRIC_DEFAULT: {
    spec: "SYMMETRIC_DEFAULT",
    family: "AES",
    usages: ["ENCRYPT_DECRYPT"],
    defaultUsage: "ENCRYPT_DECRYPT",
    bits: 256,
  },
  HMAC_224: hmac("HMAC_224", 224, "sha224"),
  HMAC_256: hmac("HMAC_256", 256, "sha256"),
  HMAC_384: hmac("HMAC_384", 384, "sha384"),
  HMAC_512: hmac("HMAC_512", 512, "sha512"),
};

export function keySpecInfo(spec: KeySpec): KeySpecInfo {
  return TABLE[spec];
}

export function isKeySpec(value: string): value is KeySpec {
  return (KEY_SPECS as readonly string[]).includes(value);
}

export function isKeyUsage(value: string): value is KeyUsage {
  return (KEY_USAGES as readonly string[]).includes(value);
}

export function isWrappingAlgorithm(value: string): value is WrappingAlgorithm {
  return (WRAPPING_ALGORITHMS as readonly string[]).includes(value);
}

/** The KeySpec of an EC key, from the dotted OID of its named curve. */
export function eccKeySpecForCurveOid(oid: string): KeySpec | undefined {
  return ECC_KEY_SPECS.find((spec) => TABLE[spec].curve?.oid === oid);
}

/** The KeySpec of an EC key, from the DER of CKA_EC_PARAMS (a named-curve OID). */
export function eccKeySpecForEcParams(ecParams: Buffer): KeySpec | undefined {
  const hex = ecParams.toString("hex");
  return ECC_KEY_SPECS.find((spec) => TABLE[spec].curve?.oidDerHex === hex);
}

/** The HMAC KeySpec KMS uses for a key of `bytes` length: the largest spec not longer than the key. */
export function hmacKeySpecForLength(bytes: number): KeySpec | undefined {
  if (bytes * 8 > 1024) return undefined;
  const fitting = HMAC_KEY_SPECS.filter((spec) => TABLE[spec].bits <= bytes * 8);
  return fitting.at(-1);
}

/**
 * Whether KMS allows `algorithm` for importing material of `spec` under a wrapping key of `wrappingKeySpec`:
 * symmetric and HMAC only RSAES_OAEP_*, RSA private keys only RSA_AES_KEY_WRAP_*, ECC either, except
 * P-521 with RSAES_OAEP under RSA_2048 (too large for OAEP).
 */
export function isWrappingAllowed(
  spec: KeySpec,
  algorithm: WrappingAlgorithm,
  wrappingKeySpec: WrappingKeySpec,
): boolean {
  const family = TABLE[spec].family;
  const oaep = algorithm.startsWith("RSAES_OAEP");
  if (family === "AES" || family === "HMAC") return oaep;
  if (family === "RSA") return !oaep;
  if (spec === "ECC_NIST_P521" && oaep && wrappingKeySpec === "RSA_2048") return false;
  return true;
}

/** The hash of a wrapping algorithm, as node:crypto names it. */
export function wrappingHash(algorithm: WrappingAlgorithm): "sha1" | "sha256" {
  return algorithm.endsWith("SHA_256") ? "sha256" : "sha1";
}

/** Modulus bits of a wrapping key spec. */
export function wrappingKeyBits(spec: WrappingKeySpec): number {
  return Number(spec.slice(4));
}
