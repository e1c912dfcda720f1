import { constants, createDecipheriv, type KeyObject, privateDecrypt } from "node:crypto";
import { type WrappingAlgorithm, wrappingHash } from "../key-specs.js";

/** RFC 5649 alternative initial value, as AWS's documented openssl command passes it (`-iv A65959A6`). */
export const KWP_AIV = Buffer.from("A65959A6", "hex");

/** Why a ciphertext could not be decrypted (maps to KMS InvalidCiphertextException). */
export class UnwrapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/**
 * Decrypts KMS import ciphertext with the wrapping private key. Throws UnwrapError when it cannot.
 * The formats (AWS KMS Developer Guide, "Encrypt the key material"):
 * - RSAES_OAEP_SHA_1/256: RSA-OAEP (hash and MGF1 hash alike, no label) of the material.
 * - RSA_AES_KEY_WRAP_SHA_1/256: RSA-OAEP(aesKey, 32 bytes) || AES-KWP(aesKey, material); the first part
 *   is exactly the wrapping modulus size.
 * The test-only inverse, `wrapKeyMaterial`, lives in src/testkit/wrap-key-material.ts.
 */
export function unwrapKeyMaterial(
  algorithm: WrappingAlgorithm,
  wrappingPrivateKey: KeyObject,
  ciphertext: Buffer,
): Buffer {
  const modulusBytes = (wrappingPrivateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const oaepDecrypt = (data: Buffer) => {
    try {
      return privateDecrypt(
        {
          key: wrappingPrivateKey,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: wrappingHash(algorithm),
        },
        data,
      );
    } catch {
      throw new UnwrapError(`RSA-OAEP (${wrappingHash(algorithm)}) decryption failed`);
    }
  };
  if (algorithm.startsWith("RSAES_OAEP")) {
    if (ciphertext.length !== modulusBytes)
      throw new UnwrapError(
        `ciphertext is ${ciphertext.length} bytes, expected ${modulusBytes} for ${algorithm}`,
      );
    return oaepDecrypt(ciphertext);
  }
  if (ciphertext.length < modulusBytes + 16)
    throw new UnwrapError(`ciphertext is ${ciphertext.length} bytes, too short for ${algorithm}`);
  const aesKey = oaepDecrypt(ciphertext.subarray(0, modulusBytes));
  try {
    if (aesKey.length !== 32) throw new UnwrapError(`wrapped AES key is ${aesKey.length} bytes, expected 32`);
    const decipher = createDecipheriv("id-aes256-wrap-pad", aesKey, KWP_AIV);
    return Buffer.concat([decipher.update(ciphertext.subarray(modulusBytes)), decipher.final()]);
  } catch (error) {
    if (error instanceof UnwrapError) throw error;
    throw new UnwrapError("AES key wrap with padding (RFC 5649) integrity check failed");
  } finally {
    aesKey.fill(0);
  }
}
