import { createECDH, createPrivateKey, type KeyObject } from "node:crypto";
import { type DerElement, DerError, readChildren, readElement, readUnsigned, TAG } from "./der.js";
import { incorrectKeyMaterial } from "./errors.js";
import { type EmulatedKeySpec, emulatedSpec } from "./spec-table.js";

const RSA_ENCRYPTION_OID = "06092a864886f70d010101";
const EC_PUBLIC_KEY_OID = "06072a8648ce3d0201";

export interface MaterialOptions {
  /** Strip fewer than 8 trailing zero bytes after a complete DER structure (SoftHSM2's KWP padding). */
  acceptKwpZeroPadding?: boolean;
  /** Called each time zero padding was stripped, so it is logged. */
  onZeroPaddingStripped?: (count: number) => void;
}

/**
 * Checks decrypted import material the way KMS does and returns it as the key will hold it: 32 bytes for
 * SYMMETRIC_DEFAULT, 28..128 bytes for HMAC (at least the spec's length), and for RSA and EC a PKCS#8
 * (RFC 5208) DER PrivateKeyInfo of the spec's size or curve. Throws IncorrectKeyMaterialException.
 */
export function validateKeyMaterial(
  spec: EmulatedKeySpec,
  material: Buffer,
  options: MaterialOptions = {},
): Buffer {
  const info = emulatedSpec(spec);
  if (info.family === "AES") {
    if (material.length !== 32)
      throw incorrectKeyMaterial(`SYMMETRIC_DEFAULT key material must be 32 bytes; got ${material.length}`);
    return material;
  }
  if (info.family === "HMAC") {
    if (material.length * 8 < info.bits || material.length * 8 > 1024)
      throw incorrectKeyMaterial(
        `${spec} key material must be ${info.bits / 8} to 128 bytes; got ${material.length}`,
      );
    return material;
  }
  const der = stripTrailing(material, options);
  try {
    if (info.family === "RSA") checkRsa(spec, der);
    else checkEc(spec, der);
  } catch (error) {
    if (error instanceof DerError)
      throw incorrectKeyMaterial(`key material is not valid DER: ${error.message}`);
    throw error;
  }
  return der;
}

function stripTrailing(material: Buffer, options: MaterialOptions): Buffer {
  let outer: DerElement;
  try {
    outer = readElement(material, 0);
  } catch (error) {
    throw incorrectKeyMaterial(`key material is not valid DER: ${(error as Error).message}`);
  }
  const trailing = material.length - outer.end;
  if (trailing === 0) return material;
  const zeros = material.subarray(outer.end).every((byte) => byte === 0);
  if (options.acceptKwpZeroPadding && zeros && trailing < 8) {
    options.onZeroPaddingStripped?.(trailing);
    return material.subarray(0, outer.end);
  }
  throw incorrectKeyMaterial(
    `key material has ${trailing} trailing bytes after the DER structure${zeros ? " (zero padding, as SoftHSM2 adds before AES-KWP)" : ""}`,
  );
}

/** The PrivateKeyInfo fields; rejects SEC1 and PKCS#1 structures with a message saying so. */
function readPrivateKeyInfo(der: Buffer) {
  const outer = readElement(der, 0);
  if (outer.tag !== TAG.SEQUENCE) throw incorrectKeyMaterial("key material is not a DER SEQUENCE");
  const fields = readChildren(der, outer);
  const [version, algorithm, privateKey] = fields;
  if (version?.tag === TAG.INTEGER && algorithm && algorithm.tag !== TAG.SEQUENCE) {
    const form = algorithm.tag === TAG.OCTET_STRING ? "SEC1 ECPrivateKey" : "PKCS#1 RSAPrivateKey";
    throw incorrectKeyMaterial(`expected PKCS#8 (RFC 5208) DER; got SEC1/PKCS#1 (${form})`);
  }
  if (!version || !algorithm || privateKey?.tag !== TAG.OCTET_STRING || version.tag !== TAG.INTEGER)
    throw incorrectKeyMaterial("expected PKCS#8 (RFC 5208) DER PrivateKeyInfo");
  if (readUnsigned(der, version) > 1n) throw incorrectKeyMaterial("unsupported PKCS#8 version");
  const [oidElement, parameters] = readChildren(der, algorithm);
  return { oidElement, parameters, privateKey };
}

// OIDs are shorter than 128 bytes, so their header is always two bytes.
function oidHex(der: Buffer, element: DerElement | undefined): string {
  if (!element || element.tag !== TAG.OID) return "";
  return der.subarray(element.start - 2, element.end).toString("hex");
}

function parseNodeKey(der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch (error) {
    throw incorrectKeyMaterial(`key material is not a usable private key: ${(error as Error).message}`);
  }
}

function checkRsa(spec: EmulatedKeySpec, der: Buffer): void {
  const { oidElement, privateKey } = readPrivateKeyInfo(der);
  if (oidHex(der, oidElement) !== RSA_ENCRYPTION_OID)
    throw incorrectKeyMaterial(`${spec} needs an rsaEncryption PKCS#8 key`);
  const rsaKey = readElement(der, privateKey.start, privateKey.end);
  if (rsaKey.end !== privateKey.end) throw incorrectKeyMaterial("trailing bytes inside the RSAPrivateKey");
  const fields = readChildren(der, rsaKey);
  const version = fields[0] ? readUnsigned(der, fields[0]) : -1n;
  if (version !== 0n || fields.length !== 9)
    throw incorrectKeyMaterial(
      "RSA key material must have exactly two primes (multi-prime RSA is not supported)",
    );
  const [, n, , , p, q] = fields.map((field) => readUnsigned(der, field));
  if (p! * q! !== n) throw incorrectKeyMaterial("RSA key material is inconsistent: p * q != n");
  const key = parseNodeKey(der);
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== "rsa" || bits !== emulatedSpec(spec).bits)
    throw incorrectKeyMaterial(`${spec} needs a ${emulatedSpec(spec).bits}-bit RSA key; got ${bits} bits`);
}

function checkEc(spec: EmulatedKeySpec, der: Buffer): void {
  const curve = emulatedSpec(spec).curve!;
  const { oidElement, parameters, privateKey } = readPrivateKeyInfo(der);
  if (oidHex(der, oidElement) !== EC_PUBLIC_KEY_OID)
    throw incorrectKeyMaterial(`${spec} needs an id-ecPublicKey PKCS#8 key`);
  if (parameters?.tag !== TAG.OID)
    throw incorrectKeyMaterial(
      "EC key material must name its curve (explicit curve parameters are rejected)",
    );
  if (oidHex(der, parameters) !== curve.oidDerHex)
    throw incorrectKeyMaterial(`${spec} needs a key on curve ${curve.nodeName}; got another curve`);
  const ecKey = readElement(der, privateKey.start, privateKey.end);
  if (ecKey.end !== privateKey.end) throw incorrectKeyMaterial("trailing bytes inside the ECPrivateKey");
  const [version, scalar, ...rest] = readChildren(der, ecKey);
  if (!version || readUnsigned(der, version) !== 1n || scalar?.tag !== TAG.OCTET_STRING)
    throw incorrectKeyMaterial("expected an RFC 5915 ECPrivateKey inside the PKCS#8 key");
  if (scalar.end - scalar.start !== curve.fieldBytes)
    throw incorrectKeyMaterial(`EC private key must be ${curve.fieldBytes} bytes for ${spec}`);
  const innerParameters = rest.find((field) => field.tag === TAG.CONTEXT_0);
  if (innerParameters) {
    const named = readElement(der, innerParameters.start, innerParameters.end);
    if (oidHex(der, named) !== curve.oidDerHex)
      throw incorrectKeyMaterial("ECPrivateKey parameters disagree with the PKCS#8 curve");
  }
  const key = parseNodeKey(der);
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== curve.nodeName)
    throw incorrectKeyMaterial(`${spec} needs a key on ${curve.nodeName}`);
  const publicKey = rest.find((field) => field.tag === TAG.CONTEXT_1);
  if (publicKey)
    checkEmbeddedPublicKey(der, publicKey, curve.nodeName, der.subarray(scalar.start, scalar.end));
}

/**
 * The optional public key in an ECPrivateKey must be the private scalar's own point. node:crypto would
 * trust the embedded point, so derive it independently (ECDH computes scalar × G).
 */
function checkEmbeddedPublicKey(der: Buffer, wrapper: DerElement, curveName: string, scalar: Buffer): void {
  const bitString = readElement(der, wrapper.start, wrapper.end);
  const point = der.subarray(bitString.start + 1, bitString.end);
  const ecdh = createECDH(curveName);
  try {
    ecdh.setPrivateKey(scalar);
  } catch {
    throw incorrectKeyMaterial("the EC private key is out of range for its curve");
  }
  const derived = ecdh.getPublicKey(undefined, point[0] === 0x04 ? "uncompressed" : "compressed");
  if (!derived.equals(point))
    throw incorrectKeyMaterial("the public key inside the EC key material does not match its private key");
}
