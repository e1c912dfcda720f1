/**
 * The emulator's own reading of AWS's documents on key specs and key import. It deliberately shares nothing
 * with the product's tables: when both are written from the documents independently, a mistake on either side
 * shows as a disagreement (see the emulator spec-table test) instead of passing every test.
 *
 * Sources: AWS KMS Developer Guide, "Key spec reference" (specs, usages, algorithms) and "Importing key
 * material" / "Step 2: Download the wrapping public key and import token" / "Step 3: Encrypt the key
 * material"; AWS KMS API Reference, GetParametersForImport (WrappingAlgorithm, WrappingKeySpec).
 */

export const EMULATED_KEY_SPECS = [
  "SYMMETRIC_DEFAULT",
  "RSA_2048",
  "RSA_3072",
  "RSA_4096",
  "ECC_NIST_P256",
  "ECC_NIST_P384",
  "ECC_NIST_P521",
  "ECC_SECG_P256K1",
  "HMAC_224",
  "HMAC_256",
  "HMAC_384",
  "HMAC_512",
] as const;
export type EmulatedKeySpec = (typeof EMULATED_KEY_SPECS)[number];

export const EMULATED_KEY_USAGES = [
  "ENCRYPT_DECRYPT",
  "SIGN_VERIFY",
  "GENERATE_VERIFY_MAC",
  "KEY_AGREEMENT",
] as const;
export type EmulatedKeyUsage = (typeof EMULATED_KEY_USAGES)[number];

export interface EmulatedCurve {
  /** node:crypto's curve name. */
  nodeName: string;
  /** DER of the named curve's OID (tag, length, contents), as in a PKCS#8 AlgorithmIdentifier. */
  oidDerHex: string;
  /** Bytes of the private scalar (RFC 5915 ECPrivateKey privateKey length). */
  fieldBytes: number;
}

export interface EmulatedSpec {
  family: "AES" | "RSA" | "EC" | "HMAC";
  /** Symmetric: key bits; RSA: modulus bits; EC: field bits; HMAC: the minimum key bits. */
  bits: number;
  curve?: EmulatedCurve;
  usages: readonly EmulatedKeyUsage[];
  signingAlgorithms?: readonly string[];
  encryptionAlgorithms?: readonly string[];
  macAlgorithm?: string;
}

// In the order DescribeKey lists them.
const RSA_SIGNING = [
  "RSASSA_PKCS1_V1_5_SHA_256",
  "RSASSA_PKCS1_V1_5_SHA_384",
  "RSASSA_PKCS1_V1_5_SHA_512",
  "RSASSA_PSS_SHA_256",
  "RSASSA_PSS_SHA_384",
  "RSASSA_PSS_SHA_512",
] as const;

const rsa = (bits: number): EmulatedSpec => ({
  family: "RSA",
  bits,
  usages: ["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
  signingAlgorithms: RSA_SIGNING,
  encryptionAlgorithms: ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
});

// "Key spec reference": NIST curves sign or agree keys; secp256k1 only signs.
const ecc = (curve: EmulatedCurve, bits: number, signing: string, agreement: boolean): EmulatedSpec => ({
  family: "EC",
  bits,
  curve,
  usages: agreement ? ["SIGN_VERIFY", "KEY_AGREEMENT"] : ["SIGN_VERIFY"],
  signingAlgorithms: [signing],
});

const hmac = (bits: number): EmulatedSpec => ({
  family: "HMAC",
  bits,
  usages: ["GENERATE_VERIFY_MAC"],
  macAlgorithm: `HMAC_SHA_${bits}`,
});

const TABLE: Record<EmulatedKeySpec, EmulatedSpec> = {
  SYMMETRIC_DEFAULT: {
    family: "AES",
    bits: 256,
    usages: ["ENCRYPT_DECRYPT"],
    encryptionAlgorithms: ["SYMMETRIC_DEFAULT"],
  },
  RSA_2048: rsa(2048),
  RSA_3072: rsa(3072),
  RSA_4096: rsa(4096),
  ECC_NIST_P256: ecc(
    { nodeName: "prime256v1", oidDerHex: "06082a8648ce3d030107", fieldBytes: 32 },
    256,
    "ECDSA_SHA_256",
    true,
  ),
  ECC_NIST_P384: ecc(
    { nodeName: "secp384r1", oidDerHex: "06052b81040022", fieldBytes: 48 },
    384,
    "ECDSA_SHA_384",
    true,
  ),
  ECC_NIST_P521: ecc(
    { nodeName: "secp521r1", oidDerHex: "06052b81040023", fieldBytes: 66 },
    521,
    "ECDSA_SHA_512",
    true,
  ),
  ECC_SECG_P256K1: ecc(
    { nodeName: "secp256k1", oidDerHex: "06052b8104000a", fieldBytes: 32 },
    256,
    "ECDSA_SHA_256",
    false,
  ),
  HMAC_224: hmac(224),
  HMAC_256: hmac(256),
  HMAC_384: hmac(384),
  HMAC_512: hmac(512),
};

export function emulatedSpec(spec: EmulatedKeySpec): EmulatedSpec {
  return TABLE[spec];
}

/** Every value of the API's AlgorithmSpec enum, deprecated ones included (they fail at run time, not in the model). */
export const WRAPPING_ALGORITHM_VALUES = [
  "RSAES_PKCS1_V1_5",
  "RSAES_OAEP_SHA_1",
  "RSAES_OAEP_SHA_256",
  "RSA_AES_KEY_WRAP_SHA_1",
  "RSA_AES_KEY_WRAP_SHA_256",
  "SM2PKE",
] as const;
export type WrappingAlgorithmValue = (typeof WRAPPING_ALGORITHM_VALUES)[number];

/** Every value of the API's WrappingKeySpec enum. */
export const WRAPPING_KEY_SPEC_VALUES = ["RSA_2048", "RSA_3072", "RSA_4096", "SM2"] as const;
export type WrappingKeySpecValue = (typeof WRAPPING_KEY_SPEC_VALUES)[number];

/** The RSA wrapping key specs the emulator generates keys for. */
export type RsaWrappingKeySpec = Exclude<WrappingKeySpecValue, "SM2">;

export const rsaWrappingKeyBits = (spec: RsaWrappingKeySpec) => Number(spec.slice("RSA_".length));

// China Regions are the only ones with SM2 wrapping and the only ones without RSA_AES wrapping.
const isChinaRegion = (region: string) => region.startsWith("cn-");

/**
 * Why KMS refuses to hand out a wrapping key of `wrappingKeySpec` for `algorithm` to import `keySpec` material
 * in `region`, or undefined when it allows it. From the API Reference's GetParametersForImport:
 * - RSAES_PKCS1_V1_5 is no longer supported (since October 10, 2023);
 * - RSA_AES_KEY_WRAP_SHA_1/256 wrap RSA and ECC key material only, and are not supported in China Regions;
 * - RSAES_OAEP_SHA_1/256 wrap every type except RSA private keys, and not ECC_NIST_P521 under RSA_2048;
 * - SM2PKE and the SM2 wrapping key spec exist only in China Regions (and SM2 is not emulated).
 */
export function wrappingRefusal(
  keySpec: EmulatedKeySpec,
  algorithm: WrappingAlgorithmValue,
  wrappingKeySpec: WrappingKeySpecValue,
  region: string,
): string | undefined {
  const family = TABLE[keySpec].family;
  if (algorithm === "RSAES_PKCS1_V1_5")
    return "WrappingAlgorithm RSAES_PKCS1_V1_5 is no longer supported (deprecated since October 10, 2023); use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.";
  if (algorithm === "SM2PKE" || wrappingKeySpec === "SM2")
    return isChinaRegion(region)
      ? "SM2PKE and the SM2 wrapping key spec are not emulated; use an RSA wrapping key spec."
      : "SM2PKE and the SM2 wrapping key spec are available only in China Regions.";
  if (algorithm.startsWith("RSA_AES_KEY_WRAP")) {
    if (isChinaRegion(region)) return `WrappingAlgorithm ${algorithm} is not supported in China Regions.`;
    if (family !== "RSA" && family !== "EC")
      return `WrappingAlgorithm ${algorithm} wraps RSA and ECC private keys only; use RSAES_OAEP_SHA_256 for ${keySpec} key material.`;
    return undefined;
  }
  if (family === "RSA")
    return `${keySpec} private keys are too large for ${algorithm}; use RSA_AES_KEY_WRAP_SHA_256.`;
  if (keySpec === "ECC_NIST_P521" && wrappingKeySpec === "RSA_2048")
    return `${algorithm} with an RSA_2048 wrapping key cannot wrap ECC_NIST_P521 key material; use a larger wrapping key or RSA_AES_KEY_WRAP_SHA_256.`;
  return undefined;
}
