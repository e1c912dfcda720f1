import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { type WrappingAlgorithm, wrappingHash } from "../key-specs.js";

/** RFC 5649 alternative initial value, as AWS's documented openssl command passes it (`-iv A65959A6`). */
const KWP_AIV = Buffer.from("A65959A6", "hex");

/**
 * The KMS import ciphertext formats, in node:crypto. The emulator decrypts with `unwrapKeyMaterial`;
 * `wrapKeyMaterial` exists for tests and test fixtures only: the migration path wraps inside the HSM and
 * never holds key material in process memory.
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

/** Why a ciphertext could not be decrypted (maps to KMS InvalidCiphertextException). */
export class UnwrapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** Decrypts KMS import ciphertext with the wrapping private key. Throws UnwrapError when it cannot. */
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
