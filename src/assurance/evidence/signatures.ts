import { constants, createHash, type KeyObject, verify } from "node:crypto";

/** How node:crypto checks a KMS signing algorithm: the hash, and for RSA the padding. */
interface SchemeForNode {
  hash: "sha256" | "sha384" | "sha512";
  padding?: number;
  saltLength?: number;
}

const DIGEST_BYTES = { sha256: 32, sha384: 48, sha512: 64 } as const;

/** The node:crypto view of a KMS SigningAlgorithm, or undefined for one node cannot check (SM2, ML-DSA). */
export function schemeOf(algorithm: string): SchemeForNode | undefined {
  const match = /^(ECDSA|RSASSA_PSS|RSASSA_PKCS1_V1_5)_SHA_(256|384|512)$/.exec(algorithm);
  if (!match) return undefined;
  const hash = `sha${match[2]}` as SchemeForNode["hash"];
  if (match[1] === "RSASSA_PSS")
    // KMS's PSS uses MGF1 with the same hash and a salt as long as the digest.
    return { hash, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: DIGEST_BYTES[hash] };
  if (match[1] === "RSASSA_PKCS1_V1_5") return { hash, padding: constants.RSA_PKCS1_PADDING };
  return { hash };
}

/**
 * Whether `signature` (as KMS returns it: DER for ECDSA) is a valid `algorithm` signature of `message` by
 * `publicKey`. KMS signing a DIGEST of the message gives the same signature as signing the message (RAW).
 */
export function verifyKmsSignature(
  algorithm: string,
  message: Buffer,
  publicKey: KeyObject,
  signature: Buffer,
): boolean {
  const scheme = schemeOf(algorithm);
  if (!scheme) return false;
  try {
    return verify(
      scheme.hash,
      message,
      scheme.padding === undefined
        ? publicKey
        : { key: publicKey, padding: scheme.padding, saltLength: scheme.saltLength },
      signature,
    );
  } catch {
    // A key of the wrong type for the algorithm, or a malformed signature.
    return false;
  }
}

/**
 * The algorithm a pack is signed with, from the signing key's KeySpec: ECDSA with the curve's hash, RSASSA-PSS
 * SHA-256 for RSA. Undefined for a key that cannot sign a pack.
 */
export function packSigningAlgorithm(keySpec: string | undefined): string | undefined {
  switch (keySpec) {
    case "ECC_NIST_P256":
    case "ECC_SECG_P256K1":
      return "ECDSA_SHA_256";
    case "ECC_NIST_P384":
      return "ECDSA_SHA_384";
    case "ECC_NIST_P521":
      return "ECDSA_SHA_512";
    case "RSA_2048":
    case "RSA_3072":
    case "RSA_4096":
      return "RSASSA_PSS_SHA_256";
    default:
      return undefined;
  }
}

export const sha256Hex = (bytes: Buffer | string): string => createHash("sha256").update(bytes).digest("hex");

/** The digest KMS signs for `algorithm` with MessageType DIGEST. */
export function digestFor(algorithm: string, message: Buffer): Buffer {
  const scheme = schemeOf(algorithm);
  if (!scheme) throw new Error(`no digest for signing algorithm ${algorithm}`);
  return createHash(scheme.hash).update(message).digest();
}
