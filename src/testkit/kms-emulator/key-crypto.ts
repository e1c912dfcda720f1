import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from "node:crypto";
import type { KeyRecord } from "./key-record.js";
import {
  signEcdsaDigest,
  signPkcs1Digest,
  signPssDigest,
  verifyEcdsaDigest,
  verifyPkcs1Digest,
  verifyPssDigest,
} from "./prehashed.js";
import { type EmulatedKeySpec, emulatedSpec } from "./spec-table.js";

/** Fresh material for an AWS_KMS-origin key, generated off the event loop for RSA and EC. */
export async function generateMaterial(spec: EmulatedKeySpec): Promise<Buffer> {
  const info = emulatedSpec(spec);
  if (info.family === "AES" || info.family === "HMAC") return randomBytes(info.bits / 8);
  const encoding = {
    privateKeyEncoding: { format: "der", type: "pkcs8" },
    publicKeyEncoding: { format: "der", type: "spki" },
  } as const;
  return new Promise<Buffer>((resolve, reject) => {
    const done = (error: Error | null, _publicKey: Buffer, privateKey: Buffer) =>
      error ? reject(error) : resolve(privateKey);
    if (info.family === "RSA") generateKeyPair("rsa", { modulusLength: info.bits, ...encoding }, done);
    else generateKeyPair("ec", { namedCurve: info.curve!.nodeName, ...encoding }, done);
  });
}

// Parsing PKCS#8 on every Sign would dominate benchmark profiles; material buffers are never mutated.
const privateKeys = new WeakMap<Buffer, KeyObject>();

export function privateKeyOf(key: KeyRecord): KeyObject {
  const material = key.material!;
  let privateKey = privateKeys.get(material);
  if (!privateKey) {
    privateKey = createPrivateKey({ key: material, format: "der", type: "pkcs8" });
    privateKeys.set(material, privateKey);
  }
  return privateKey;
}

export function publicKeyDer(key: KeyRecord): Buffer {
  return createPublicKey(privateKeyOf(key)).export({ format: "der", type: "spki" });
}

type Hash = "sha256" | "sha384" | "sha512";

interface SigningScheme {
  kind: "pkcs1" | "pss" | "ecdsa";
  hash: Hash;
}

/** RSASSA_PKCS1_V1_5_SHA_256 -> pkcs1/sha256, RSASSA_PSS_SHA_384 -> pss/sha384, ECDSA_SHA_512 -> ecdsa/sha512. */
export function signingScheme(algorithm: string): SigningScheme {
  const hash = `sha${algorithm.slice(-3)}` as Hash;
  if (algorithm.startsWith("RSASSA_PKCS1_V1_5")) return { kind: "pkcs1", hash };
  if (algorithm.startsWith("RSASSA_PSS")) return { kind: "pss", hash };
  return { kind: "ecdsa", hash };
}

const digestLength = (hash: Hash) => Number(hash.slice(3)) / 8;

export function expectedDigestLength(algorithm: string): number {
  return digestLength(signingScheme(algorithm).hash);
}

function nodeSignOptions(privateOrPublic: KeyObject, scheme: SigningScheme) {
  if (scheme.kind === "pss")
    return {
      key: privateOrPublic,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: digestLength(scheme.hash),
    };
  if (scheme.kind === "ecdsa") return { key: privateOrPublic, dsaEncoding: "der" as const };
  return { key: privateOrPublic };
}

/** A KMS signature: over the message (RAW, KMS hashes) or over a caller's digest (DIGEST). */
export function signWithKey(key: KeyRecord, algorithm: string, message: Buffer, isDigest: boolean): Buffer {
  const privateKey = privateKeyOf(key);
  const scheme = signingScheme(algorithm);
  if (!isDigest) return sign(scheme.hash, message, nodeSignOptions(privateKey, scheme));
  if (scheme.kind === "pkcs1") return signPkcs1Digest(privateKey, scheme.hash, message);
  if (scheme.kind === "pss") return signPssDigest(privateKey, scheme.hash, message);
  return signEcdsaDigest(privateKey, message);
}

export function verifyWithKey(
  key: KeyRecord,
  algorithm: string,
  message: Buffer,
  isDigest: boolean,
  signature: Buffer,
): boolean {
  const privateKey = privateKeyOf(key);
  const publicKey = createPublicKey(privateKey);
  const scheme = signingScheme(algorithm);
  try {
    if (!isDigest) return verify(scheme.hash, message, nodeSignOptions(publicKey, scheme), signature);
    if (scheme.kind === "pkcs1") return verifyPkcs1Digest(publicKey, scheme.hash, message, signature);
    if (scheme.kind === "pss") return verifyPssDigest(publicKey, scheme.hash, message, signature);
    return verifyEcdsaDigest(privateKey, message, signature);
  } catch {
    return false;
  }
}
