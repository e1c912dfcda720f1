import { createPublicKey, type KeyObject } from "node:crypto";
import { DER_TAG, derElement } from "../der.js";

/**
 * DER SubjectPublicKeyInfo from the attributes a PKCS#11 token gives (RSA modulus/exponent, EC params/point),
 * normalised through node:crypto so that it is byte-for-byte what KMS GetPublicKey returns for the same key:
 * minimal integers, uncompressed EC point, named curve.
 */

/** Reads one DER TLV at `offset`: tag, content bounds, and where the next element starts. */
export function readDer(buffer: Buffer, offset = 0): { tag: number; start: number; end: number } {
  const tag = buffer[offset];
  const first = buffer[offset + 1];
  if (tag === undefined || first === undefined) throw new Error("truncated DER");
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new Error("unsupported DER length");
    length = buffer.readUIntBE(start, count);
    start += count;
  }
  const end = start + length;
  if (end > buffer.length) throw new Error("truncated DER");
  return { tag, start, end };
}

/** Dotted text of a DER-encoded OBJECT IDENTIFIER (as in CKA_EC_PARAMS); undefined if it is not one. */
export function decodeOid(oidDer: Buffer): string | undefined {
  try {
    const { tag, start, end } = readDer(oidDer);
    if (tag !== 0x06 || end !== oidDer.length || end === start) return undefined;
    const arcs: number[] = [];
    let value = 0;
    for (const byte of oidDer.subarray(start, end)) {
      value = value * 128 + (byte & 0x7f);
      if (byte & 0x80) continue;
      if (arcs.length === 0)
        arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
    return arcs.join(".");
  } catch {
    return undefined;
  }
}

/** DER SPKI of an RSA public key from CKA_MODULUS and CKA_PUBLIC_EXPONENT (big-endian bytes). */
export function rsaSpki(modulus: Buffer, publicExponent: Buffer): Buffer {
  const key = createPublicKey({
    key: {
      kty: "RSA",
      n: stripZeros(modulus).toString("base64url"),
      e: stripZeros(publicExponent).toString("base64url"),
    },
    format: "jwk",
  });
  return key.export({ format: "der", type: "spki" });
}

function stripZeros(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start += 1;
  return value.subarray(start);
}

/**
 * The EC point from CKA_EC_POINT. PKCS#11 says it is a DER OCTET STRING around the point (SoftHSM2, CloudHSM);
 * some tokens give the bare point. The two are told apart by length, which is fixed per curve for a bare point.
 */
export function ecPointFromAttribute(ecPoint: Buffer, fieldBytes: number): Buffer {
  // A wrapped point is always 2-3 bytes longer than a bare one of the same curve, so lengths never collide.
  if (ecPoint.length === 1 + 2 * fieldBytes || ecPoint.length === 1 + fieldBytes) return ecPoint;
  const { tag, start, end } = readDer(ecPoint);
  if (tag !== 0x04 || end !== ecPoint.length)
    throw new Error("CKA_EC_POINT is neither a point nor an OCTET STRING around one");
  return ecPoint.subarray(start, end);
}

const EC_PUBLIC_KEY_OID = Buffer.from("06072a8648ce3d0201", "hex");

/** DER SPKI of an EC public key from CKA_EC_PARAMS (named-curve OID DER) and the point (see ecPointFromAttribute). */
export function ecSpki(ecParams: Buffer, point: Buffer): Buffer {
  const algorithm = derElement(DER_TAG.SEQUENCE, EC_PUBLIC_KEY_OID, ecParams);
  const bitString = derElement(DER_TAG.BIT_STRING, Buffer.from([0]), point);
  const parsed = createPublicKey({
    key: derElement(DER_TAG.SEQUENCE, algorithm, bitString),
    format: "der",
    type: "spki",
  });
  return normalisedEcSpki(parsed);
}

/** A compressed point becomes uncompressed by a trip through JWK, which always carries both coordinates. */
function normalisedEcSpki(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  return createPublicKey({ key: jwk, format: "jwk" }).export({ format: "der", type: "spki" });
}

/** The RSA modulus and public exponent of a DER SPKI; throws when it is not an RSA public key. */
export function rsaPublicNumbers(spkiDer: Buffer): { modulus: Buffer; publicExponent: Buffer; bits: number } {
  const key = createPublicKey({ key: spkiDer, format: "der", type: "spki" });
  if (key.asymmetricKeyType !== "rsa")
    throw new Error(`expected an RSA key, got ${key.asymmetricKeyType ?? "?"}`);
  const jwk = key.export({ format: "jwk" });
  return {
    modulus: Buffer.from(jwk.n ?? "", "base64url"),
    publicExponent: Buffer.from(jwk.e ?? "", "base64url"),
    bits: key.asymmetricKeyDetails?.modulusLength ?? 0,
  };
}

/** The uncompressed point (04 || x || y) of an EC SPKI, as CKM_ECDH1_DERIVE takes the peer's key. */
export function ecPublicPoint(spkiDer: Buffer): { point: Buffer; namedCurve: string } {
  const key = createPublicKey({ key: spkiDer, format: "der", type: "spki" });
  if (key.asymmetricKeyType !== "ec")
    throw new Error(`expected an EC key, got ${key.asymmetricKeyType ?? "?"}`);
  const jwk = key.export({ format: "jwk" });
  const x = Buffer.from(jwk.x ?? "", "base64url");
  const y = Buffer.from(jwk.y ?? "", "base64url");
  return {
    point: Buffer.concat([Buffer.from([4]), x, y]),
    namedCurve: key.asymmetricKeyDetails?.namedCurve ?? "",
  };
}
