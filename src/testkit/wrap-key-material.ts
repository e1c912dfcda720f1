import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { KWP_AIV } from "../shared/crypto/kms-wrap.js";
import { type WrappingAlgorithm, wrappingHash } from "../shared/key-specs.js";

/**
 * The KMS import ciphertext formats, in node:crypto. For tests and test fixtures only: the
 * migration path wraps inside the HSM and never holds key material in process memory; the product decrypts
 * with `unwrapKeyMaterial` (src/shared/crypto/kms-wrap.ts).
 *
 * - RSAES_OAEP_SHA_1/256: RSA-OAEP (hash and MGF1 hash alike, no label) of the material.
 * - RSA_AES_KEY_WRAP_SHA_1/256: RSA-OAEP(aesKey, 32 bytes) || AES-KWP(aesKey, material); the first part
 *   is exactly the wrapping modulus size.
 */
export function wrapKeyMaterial(
  algorithm: WrappingAlgorithm,
  wrappingPublicKeyDer: Buffer,
  material: Buffer,
): Buffer {
  const publicKey = createPublicKey({ key: wrappingPublicKeyDer, format: "der", type: "spki" });
  const oaep = (data: Buffer) =>
    publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: wrappingHash(algorithm) },
      data,
    );
  if (algorithm.startsWith("RSAES_OAEP")) return oaep(material);
  const aesKey = randomBytes(32);
  try {
    const cipher = createCipheriv("id-aes256-wrap-pad", aesKey, KWP_AIV);
    return Buffer.concat([oaep(aesKey), cipher.update(material), cipher.final()]);
  } finally {
    aesKey.fill(0);
  }
}
