import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { invalidCiphertext } from "./errors.js";
import { privateKeyOf } from "./key-crypto.js";
import type { KeyRecord } from "./key-record.js";

const BLOB_VERSION = 0x01;

/** Encryption context as AAD: sorted, so the caller's member order does not matter (as in KMS). */
function contextAad(context: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), "utf8");
}

/**
 * SYMMETRIC_DEFAULT ciphertext blob: `version | keyIdLength | keyId | iv(12) | tag(16) | AES-256-GCM data`.
 * The key ID inside lets Decrypt find the key without a KeyId, as KMS does.
 */
export function encryptSymmetric(
  key: KeyRecord,
  plaintext: Buffer,
  context?: Record<string, string>,
): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key.material!, iv);
  cipher.setAAD(contextAad(context));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const keyId = Buffer.from(key.keyId, "utf8");
  return Buffer.concat([Buffer.from([BLOB_VERSION, keyId.length]), keyId, iv, cipher.getAuthTag(), data]);
}

/** The key ID a symmetric ciphertext blob names; InvalidCiphertextException when it is not one of ours. */
export function blobKeyId(blob: Buffer): string {
  if (blob.length < 2 + 12 + 16 || blob[0] !== BLOB_VERSION || blob.length < 2 + blob[1]! + 28)
    throw invalidCiphertext("The ciphertext is invalid or was not produced by this KMS.");
  return blob.subarray(2, 2 + blob[1]!).toString("utf8");
}

export function decryptSymmetric(key: KeyRecord, blob: Buffer, context?: Record<string, string>): Buffer {
  const offset = 2 + blob[1]!;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.material!, blob.subarray(offset, offset + 12));
    decipher.setAAD(contextAad(context));
    decipher.setAuthTag(blob.subarray(offset + 12, offset + 28));
    return Buffer.concat([decipher.update(blob.subarray(offset + 28)), decipher.final()]);
  } catch {
    throw invalidCiphertext("The ciphertext or its encryption context does not match this key.");
  }
}

const oaepHash = (algorithm: string) => (algorithm === "RSAES_OAEP_SHA_1" ? "sha1" : "sha256");

/** Largest plaintext RSA-OAEP can carry under this key: k - 2·hLen - 2. */
export function maxOaepPlaintext(key: KeyRecord, algorithm: string): number {
  const modulusBytes = privateKeyOf(key).asymmetricKeyDetails!.modulusLength! / 8;
  return modulusBytes - 2 * (oaepHash(algorithm) === "sha1" ? 20 : 32) - 2;
}

export function encryptRsa(key: KeyRecord, algorithm: string, plaintext: Buffer): Buffer {
  const publicKey = createPublicKey(privateKeyOf(key));
  return publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(algorithm) },
    plaintext,
  );
}

export function decryptRsa(key: KeyRecord, algorithm: string, ciphertext: Buffer): Buffer {
  try {
    return privateDecrypt(
      { key: privateKeyOf(key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(algorithm) },
      ciphertext,
    );
  } catch {
    throw invalidCiphertext("The ciphertext cannot be decrypted with this key and algorithm.");
  }
}

/** HMAC_SHA_256 -> sha256 */
export function computeMac(key: KeyRecord, macAlgorithm: string, message: Buffer): Buffer {
  return createHmac(`sha${macAlgorithm.slice(-3)}`, key.material!)
    .update(message)
    .digest();
}

export function macMatches(key: KeyRecord, macAlgorithm: string, message: Buffer, mac: Buffer): boolean {
  const expected = computeMac(key, macAlgorithm, message);
  return expected.length === mac.length && timingSafeEqual(expected, mac);
}
