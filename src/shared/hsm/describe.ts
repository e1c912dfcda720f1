import { createHash } from "node:crypto";
import pkcs11js from "pkcs11js";
import { fatal, isMigrationError } from "../errors.js";
import { eccKeySpecForEcParams, hmacKeySpecForLength, type KeySpec, keySpecInfo } from "../key-specs.js";
import {
  findObjects,
  HMAC_KEY_TYPES,
  keyTypeName,
  readAttribute,
  readBool,
  readLabel,
  readUlong,
} from "./attributes.js";
import type { SourceKeyObject } from "./find.js";
import type { Handle, Pkcs11 } from "./pkcs11-library.js";
import { decodeOid, ecPointFromAttribute, ecSpki, rsaSpki } from "./spki.js";
import type { SourceKeyDescription } from "./types.js";

interface Reader {
  pkcs11: Pkcs11;
  session: Handle;
  /**
   * The key pair's public key objects, as matchingPublicKeys defines them, from somewhere cheaper than a
   * search (the token index). @defaultValue two searches of the token
   */
  publicKeys?: ((key: SourceKeyObject, keyType: number) => Handle[]) | undefined;
}

type KeyFacts = Pick<
  SourceKeyDescription,
  | "keySpec"
  | "unsupportedReason"
  | "modulusBits"
  | "publicExponentHex"
  | "curveOid"
  | "secretBytes"
  | "publicKeySpkiDer"
>;

/**
 * Reads a key's attributes into a SourceKeyDescription: the KMS KeySpec it maps to (or why none), its public
 * key as DER SPKI and its fingerprint. With `requirePublicKey` (preflight), an asymmetric key whose public half
 * cannot be found is a fatal error; without it (inventory), the key is reported as unsupported instead.
 */
export function describeSourceKey(
  reader: Reader,
  key: SourceKeyObject,
  options: { requirePublicKey: boolean },
): SourceKeyDescription {
  const { pkcs11, session } = reader;
  const keyType = keyTypeName(readUlong(pkcs11, session, key.handle, pkcs11js.CKA_KEY_TYPE) ?? -1);
  const facts = keyFacts(reader, key, keyType, options.requirePublicKey);
  const checkValue =
    key.objectClass === "secret"
      ? readAttribute(pkcs11, session, key.handle, pkcs11js.CKA_CHECK_VALUE)
      : undefined;
  return {
    label: key.label,
    idHex: key.idHex,
    objectClass: key.objectClass,
    keyType,
    ...facts,
    extractable: readBool(pkcs11, session, key.handle, pkcs11js.CKA_EXTRACTABLE) ?? false,
    wrapWithTrusted: readBool(pkcs11, session, key.handle, pkcs11js.CKA_WRAP_WITH_TRUSTED) ?? false,
    fingerprint: fingerprint(key, facts.publicKeySpkiDer, checkValue),
  };
}

/**
 * describeSourceKey for `inventory`: never throws for one odd key (it would hide all the others); a key that
 * cannot be described is listed with the reason as `unsupportedReason`.
 */
export function describeForInventory(reader: Reader, key: SourceKeyObject): SourceKeyDescription {
  try {
    return describeSourceKey(reader, key, { requirePublicKey: false });
  } catch (error) {
    if (!isMigrationError(error) || error.kind !== "fatal") throw error;
    return {
      label: key.label,
      idHex: key.idHex,
      objectClass: key.objectClass,
      keyType: keyTypeName(readUlong(reader.pkcs11, reader.session, key.handle, pkcs11js.CKA_KEY_TYPE) ?? -1),
      keySpec: undefined,
      unsupportedReason: error.message,
      extractable: readBool(reader.pkcs11, reader.session, key.handle, pkcs11js.CKA_EXTRACTABLE) ?? false,
      wrapWithTrusted:
        readBool(reader.pkcs11, reader.session, key.handle, pkcs11js.CKA_WRAP_WITH_TRUSTED) ?? false,
      fingerprint: fingerprint(key, undefined, undefined),
    };
  }
}

function fingerprint(key: SourceKeyObject, spki: Buffer | undefined, checkValue: Buffer | undefined): string {
  if (spki) return `sha256:${createHash("sha256").update(spki).digest("hex")}`;
  if (checkValue && checkValue.length > 0) return `kcv:${checkValue.toString("hex")}`;
  return `object:${key.label}/${key.idHex}`;
}

function keyFacts(
  reader: Reader,
  key: SourceKeyObject,
  keyType: string,
  requirePublicKey: boolean,
): KeyFacts {
  if (key.objectClass === "private" && keyType === "RSA") return rsaFacts(reader, key);
  if (key.objectClass === "private" && keyType === "EC") return ecFacts(reader, key, requirePublicKey);
  if (key.objectClass === "secret") return secretFacts(reader, key, keyType);
  return { keySpec: undefined, unsupportedReason: `${keyType} keys are not importable into KMS` };
}

function rsaFacts(reader: Reader, key: SourceKeyObject): KeyFacts {
  const { pkcs11, session } = reader;
  // The private key's own modulus is the surest public half; a separate public object is the fallback.
  const holder = readAttribute(pkcs11, session, key.handle, pkcs11js.CKA_MODULUS)?.length
    ? key.handle
    : matchingPublicKeys(reader, key, pkcs11js.CKK_RSA)[0];
  const modulus = holder && readAttribute(pkcs11, session, holder, pkcs11js.CKA_MODULUS);
  const exponent = holder && readAttribute(pkcs11, session, holder, pkcs11js.CKA_PUBLIC_EXPONENT);
  if (!modulus?.length || !exponent?.length)
    throw fatal(
      "SOURCE_PUBLIC_KEY_NOT_FOUND",
      `key "${key.label}": the RSA private key does not expose CKA_MODULUS and no public key object has its id or label`,
    );
  const modulusBits = bitLength(modulus);
  const keySpec = (["RSA_2048", "RSA_3072", "RSA_4096"] as const).find(
    (spec) => keySpecInfo(spec).bits === modulusBits,
  );
  return {
    keySpec,
    unsupportedReason: keySpec
      ? undefined
      : `RSA-${modulusBits}: KMS imports RSA keys of 2048, 3072 or 4096 bits only`,
    modulusBits,
    publicExponentHex: stripLeadingZeros(exponent).toString("hex"),
    publicKeySpkiDer: rsaSpki(modulus, exponent),
  };
}

function ecFacts(reader: Reader, key: SourceKeyObject, requirePublicKey: boolean): KeyFacts {
  const { pkcs11, session } = reader;
  const ecParams = readAttribute(pkcs11, session, key.handle, pkcs11js.CKA_EC_PARAMS) ?? Buffer.alloc(0);
  const curveOid = decodeOid(ecParams);
  const keySpec = eccKeySpecForEcParams(ecParams);
  if (!keySpec) {
    const curve = curveOid ?? (ecParams[0] === 0x30 ? "with explicit parameters" : ecParams.toString("hex"));
    return {
      keySpec: undefined,
      curveOid,
      unsupportedReason: `EC curve ${curve} is not importable into KMS (named curves P-256, P-384, P-521, secp256k1 only)`,
    };
  }
  const point = ecPoint(reader, key, ecParams);
  if (!point) {
    const reason = `key "${key.label}": no EC public key object with id ${key.idHex || "(none)"} or label "${key.label}", and the private key does not expose CKA_EC_POINT, so its public key (needed to verify the import) is unknown`;
    if (requirePublicKey) throw fatal("SOURCE_PUBLIC_KEY_NOT_FOUND", reason);
    return { keySpec: undefined, curveOid, unsupportedReason: reason };
  }
  const fieldBytes = keySpecInfo(keySpec).curve?.fieldBytes ?? 0;
  return { keySpec, curveOid, publicKeySpkiDer: ecSpki(ecParams, ecPointFromAttribute(point, fieldBytes)) };
}

function ecPoint(reader: Reader, key: SourceKeyObject, ecParams: Buffer): Buffer | undefined {
  const { pkcs11, session } = reader;
  const own = readAttribute(pkcs11, session, key.handle, pkcs11js.CKA_EC_POINT);
  if (own?.length) return own;
  const points = new Map<string, Buffer>();
  for (const handle of matchingPublicKeys(reader, key, pkcs11js.CKK_EC)) {
    const params = readAttribute(pkcs11, session, handle, pkcs11js.CKA_EC_PARAMS);
    const point = readAttribute(pkcs11, session, handle, pkcs11js.CKA_EC_POINT);
    if (params?.equals(ecParams) && point?.length) points.set(point.toString("hex"), point);
  }
  if (points.size > 1)
    throw fatal(
      "SOURCE_PUBLIC_KEY_AMBIGUOUS",
      `key "${key.label}": ${points.size} different EC public key objects share its id or label; give each key pair its own CKA_ID`,
    );
  return [...points.values()][0];
}

/** Public key objects of the key pair: same CKA_ID (label as tie-break), else same label. */
function matchingPublicKeys(reader: Reader, key: SourceKeyObject, keyType: number): Handle[] {
  if (reader.publicKeys) return reader.publicKeys(key, keyType);
  const { pkcs11, session } = reader;
  const base = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
  ];
  if (key.idHex) {
    const byId = findObjects(pkcs11, session, [
      ...base,
      { type: pkcs11js.CKA_ID, value: Buffer.from(key.idHex, "hex") },
    ]);
    const sameLabel = byId.filter((handle) => readLabel(pkcs11, session, handle) === key.label);
    if (sameLabel.length > 0) return sameLabel;
    if (byId.length > 0) return byId;
  }
  if (!key.label) return [];
  return findObjects(pkcs11, session, [...base, { type: pkcs11js.CKA_LABEL, value: key.label }]);
}

function secretFacts(reader: Reader, key: SourceKeyObject, keyType: string): KeyFacts {
  const secretBytes = readUlong(reader.pkcs11, reader.session, key.handle, pkcs11js.CKA_VALUE_LEN);
  const size = secretBytes === undefined ? "of unknown length" : `of ${secretBytes * 8} bits`;
  let keySpec: KeySpec | undefined;
  let unsupportedReason: string | undefined;
  if (keyType === "AES") {
    keySpec = secretBytes === 32 ? "SYMMETRIC_DEFAULT" : undefined;
    unsupportedReason = `AES-${secretBytes === undefined ? "?" : secretBytes * 8}: KMS imports only 256-bit AES keys`;
  } else if (HMAC_KEY_TYPES.has(keyType)) {
    keySpec = secretBytes === undefined ? undefined : hmacKeySpecForLength(secretBytes);
    unsupportedReason = `${keyType} key ${size}: KMS imports HMAC keys of 224 to 1024 bits only`;
  } else unsupportedReason = `${keyType} keys are not importable into KMS`;
  return { keySpec, unsupportedReason: keySpec ? undefined : unsupportedReason, secretBytes };
}

function stripLeadingZeros(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start += 1;
  return value.subarray(start);
}

function bitLength(value: Buffer): number {
  const bytes = stripLeadingZeros(value);
  const top = bytes[0] ?? 0;
  return (bytes.length - 1) * 8 + (top === 0 ? 0 : Math.floor(Math.log2(top)) + 1);
}
