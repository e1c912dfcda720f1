import {
  constants,
  createECDH,
  createHash,
  type KeyObject,
  privateEncrypt,
  publicDecrypt,
  randomBytes,
} from "node:crypto";
import { mod, modInverse } from "../../shared/crypto/modular.js";
import { DER_TAG, derElement, derUnsignedInteger } from "../../shared/der.js";

/**
 * Signatures over a digest the caller computed (KMS MessageType DIGEST). node:crypto only signs messages,
 * so these build the primitives from what it does offer: RSA without padding, and EC point multiplication
 * through ECDH (a public key is its private scalar times the generator).
 */

type Hash = "sha256" | "sha384" | "sha512";

const DIGEST_INFO_PREFIX: Record<Hash, string> = {
  sha256: "3031300d060960864801650304020105000420",
  sha384: "3041300d060960864801650304020205000430",
  sha512: "3051300d060960864801650304020305000440",
};

export function signPkcs1Digest(key: KeyObject, hash: Hash, digest: Buffer): Buffer {
  const digestInfo = Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[hash], "hex"), digest]);
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo);
}

export function verifyPkcs1Digest(key: KeyObject, hash: Hash, digest: Buffer, signature: Buffer): boolean {
  try {
    const recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
    return recovered.equals(Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[hash], "hex"), digest]));
  } catch {
    return false;
  }
}

function mgf1(hash: Hash, seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0; blocks.length * seed.length < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    blocks.push(createHash(hash).update(seed).update(c).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** EMSA-PSS (RFC 8017 9.1) with MGF1 of the same hash and salt length = digest length, as KMS uses. */
export function signPssDigest(key: KeyObject, hash: Hash, digest: Buffer): Buffer {
  const modulusBits = key.asymmetricKeyDetails!.modulusLength!;
  const emLength = Math.ceil((modulusBits - 1) / 8);
  const salt = randomBytes(digest.length);
  const h = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLength - 2 * digest.length - 2), Buffer.from([1]), salt]);
  const maskedDb = mgf1(hash, h, db.length).map((byte, i) => byte ^ db[i]!);
  maskedDb[0]! &= 0xff >> (8 * emLength - (modulusBits - 1));
  const em = Buffer.concat([maskedDb, h, Buffer.from([0xbc])]);
  const block = Buffer.concat([Buffer.alloc(modulusBits / 8 - emLength), em]);
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, block);
}

export function verifyPssDigest(key: KeyObject, hash: Hash, digest: Buffer, signature: Buffer): boolean {
  const modulusBits = key.asymmetricKeyDetails!.modulusLength!;
  const emLength = Math.ceil((modulusBits - 1) / 8);
  let block: Buffer;
  try {
    block = publicDecrypt({ key, padding: constants.RSA_NO_PADDING }, signature);
  } catch {
    return false;
  }
  const em = block.subarray(block.length - emLength);
  if (em[em.length - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLength - digest.length - 1);
  const h = em.subarray(emLength - digest.length - 1, emLength - 1);
  const db = mgf1(hash, h, maskedDb.length).map((byte, i) => byte ^ maskedDb[i]!);
  db[0]! &= 0xff >> (8 * emLength - (modulusBits - 1));
  const separator = db.length - digest.length - 1;
  if (db[separator] !== 1 || db.subarray(0, separator).some((byte) => byte !== 0)) return false;
  const salt = db.subarray(separator + 1);
  const expected = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  return expected.equals(h);
}

/** Group orders of the curves KMS signs with. */
const ORDERS: Record<string, bigint> = {
  prime256v1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp384r1:
    0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  secp521r1:
    0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
};

const toBig = (bytes: Buffer) => BigInt(`0x${bytes.toString("hex") || "0"}`);

/** x coordinate of scalar × G, via ECDH (which derives a public point from a private scalar). */
function baseMultiplyX(curve: string, scalar: bigint, fieldBytes: number): bigint {
  const ecdh = createECDH(curve);
  ecdh.setPrivateKey(Buffer.from(scalar.toString(16).padStart(fieldBytes * 2, "0"), "hex"));
  return toBig(ecdh.getPublicKey().subarray(1, 1 + fieldBytes));
}

function ecParams(key: KeyObject) {
  const curve = key.asymmetricKeyDetails!.namedCurve!;
  const n = ORDERS[curve]!;
  const fieldBytes = Math.ceil(n.toString(16).length / 2);
  return { curve, n, fieldBytes };
}

/** ECDSA over a digest (the digest is no longer than the group order here), DER-encoded as KMS returns. */
export function signEcdsaDigest(key: KeyObject, digest: Buffer): Buffer {
  const { curve, n, fieldBytes } = ecParams(key);
  const d = toBig(Buffer.from(key.export({ format: "jwk" }).d!, "base64url"));
  const z = toBig(digest);
  for (;;) {
    const k = mod(toBig(randomBytes(fieldBytes + 8)), n - 1n) + 1n;
    const r = mod(baseMultiplyX(curve, k, fieldBytes), n);
    const s = mod(modInverse(k, n) * (z + r * d), n);
    if (r === 0n || s === 0n) continue;
    return derElement(DER_TAG.SEQUENCE, derUnsignedInteger(r), derUnsignedInteger(s));
  }
}

/** Verifies with the private key: u1·G + u2·Q = (u1 + u2·d)·G, since Q = d·G. */
export function verifyEcdsaDigest(key: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const { curve, n, fieldBytes } = ecParams(key);
  const parsed = parseEcdsaSignature(signature);
  if (!parsed) return false;
  const { r, s } = parsed;
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  const d = toBig(Buffer.from(key.export({ format: "jwk" }).d!, "base64url"));
  const w = modInverse(s, n);
  const scalar = mod(toBig(digest) * w + r * w * d, n);
  if (scalar === 0n) return false;
  return mod(baseMultiplyX(curve, scalar, fieldBytes), n) === r;
}

function parseEcdsaSignature(signature: Buffer): { r: bigint; s: bigint } | undefined {
  if (signature[0] !== 0x30) return undefined;
  let offset = signature[1]! & 0x80 ? 2 + (signature[1]! & 0x7f) : 2;
  const values: bigint[] = [];
  for (let i = 0; i < 2; i++) {
    if (signature[offset] !== 0x02) return undefined;
    const length = signature[offset + 1]!;
    values.push(toBig(signature.subarray(offset + 2, offset + 2 + length)));
    offset += 2 + length;
  }
  return offset === signature.length ? { r: values[0]!, s: values[1]! } : undefined;
}
