import { constants, createDecipheriv, type KeyObject, privateDecrypt } from "node:crypto";
import { invalidCiphertext } from "./errors.js";
import type { WrappingAlgorithmValue } from "./spec-table.js";

/** RFC 5649's alternative initial value, which AWS's OpenSSL example passes as `-iv A65959A6`. */
const KWP_IV = Buffer.from("A65959A6", "hex");

/**
 * Decrypts EncryptedKeyMaterial as AWS KMS Developer Guide "Step 3: Encrypt the key material" describes it:
 * - RSAES_OAEP_SHA_1/256: RSA-OAEP of the material, the same hash for OAEP and MGF1, no label;
 * - RSA_AES_KEY_WRAP_SHA_1/256: RSA-OAEP of a 256-bit AES key (exactly the wrapping modulus long), followed by
 *   the material under AES key wrap with padding (RFC 5649) with that key.
 * Throws InvalidCiphertextException, naming what failed but never the bytes.
 */
export function unwrapImportedMaterial(
  algorithm: WrappingAlgorithmValue,
  wrappingPrivateKey: KeyObject,
  ciphertext: Buffer,
): Buffer {
  const hash = algorithm.endsWith("SHA_256") ? "sha256" : "sha1";
  const modulusBytes = (wrappingPrivateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const oaep = (data: Buffer) => {
    try {
      return privateDecrypt(
        { key: wrappingPrivateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
        data,
      );
    } catch {
      throw invalidCiphertext(`Cannot decrypt the key material: RSA-OAEP (${hash}) decryption failed.`);
    }
  };
  if (algorithm === "RSAES_OAEP_SHA_1" || algorithm === "RSAES_OAEP_SHA_256") {
    if (ciphertext.length !== modulusBytes)
      throw invalidCiphertext(
        `Cannot decrypt the key material: ${algorithm} ciphertext must be ${modulusBytes} bytes; got ${ciphertext.length}.`,
      );
    return oaep(ciphertext);
  }
  if (ciphertext.length < modulusBytes + 16)
    throw invalidCiphertext(
      `Cannot decrypt the key material: ${algorithm} ciphertext must be at least ${modulusBytes + 16} bytes; got ${ciphertext.length}.`,
    );
  const aesKey = oaep(ciphertext.subarray(0, modulusBytes));
  try {
    if (aesKey.length !== 32)
      throw invalidCiphertext(
        `Cannot decrypt the key material: the wrapped AES key is ${aesKey.length} bytes, not 32.`,
      );
    const decipher = createDecipheriv("id-aes256-wrap-pad", aesKey, KWP_IV);
    try {
      return Buffer.concat([decipher.update(ciphertext.subarray(modulusBytes)), decipher.final()]);
    } catch {
      throw invalidCiphertext(
        "Cannot decrypt the key material: AES key wrap with padding (RFC 5649) integrity check failed.",
      );
    }
  } finally {
    aesKey.fill(0);
  }
}
