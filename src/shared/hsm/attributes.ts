import pkcs11js from "pkcs11js";
import type { Handle, Pkcs11 } from "./pkcs11-library.js";

/**
 * Reads one attribute; undefined when the object does not have it or keeps it secret. One attribute per call:
 * C_GetAttributeValue fails as a whole when any requested attribute is invalid for the object.
 */
export function readAttribute(
  pkcs11: Pkcs11,
  session: Handle,
  object: Handle,
  type: number,
): Buffer | undefined {
  try {
    const value = pkcs11.C_GetAttributeValue(session, object, [{ type }])[0]?.value;
    return value === undefined ? undefined : Buffer.from(value);
  } catch (error) {
    const message = error instanceof Error ? error.message : "";
    if (/CKR_ATTRIBUTE_(TYPE_INVALID|SENSITIVE)/.test(message)) return undefined;
    throw error;
  }
}

/** A CK_ULONG attribute: pkcs11js returns it as a little-endian buffer of the platform's word size. */
export function readUlong(pkcs11: Pkcs11, session: Handle, object: Handle, type: number): number | undefined {
  const value = readAttribute(pkcs11, session, object, type);
  return value === undefined || value.length === 0 ? undefined : decodeUlong(value);
}

export function decodeUlong(value: Buffer): number {
  if (value.length >= 8) return Number(value.readBigUInt64LE(0));
  return value.readUIntLE(0, Math.min(value.length, 6));
}

/** A CK_BBOOL attribute; undefined when the object has none. */
export function readBool(pkcs11: Pkcs11, session: Handle, object: Handle, type: number): boolean | undefined {
  const value = readAttribute(pkcs11, session, object, type);
  return value === undefined || value.length === 0 ? undefined : value[0] !== 0;
}

/** CKA_LABEL as text (empty when none). */
export function readLabel(pkcs11: Pkcs11, session: Handle, object: Handle): string {
  return readAttribute(pkcs11, session, object, pkcs11js.CKA_LABEL)?.toString("utf8") ?? "";
}

/** CKA_ID as lower-case hex (empty when none). */
export function readIdHex(pkcs11: Pkcs11, session: Handle, object: Handle): string {
  return readAttribute(pkcs11, session, object, pkcs11js.CKA_ID)?.toString("hex") ?? "";
}

/** Every object handle matching `template`, in pages. */
export function findObjects(pkcs11: Pkcs11, session: Handle, template: pkcs11js.Template): Handle[] {
  pkcs11.C_FindObjectsInit(session, template);
  const found: Handle[] = [];
  try {
    for (;;) {
      const page = pkcs11.C_FindObjects(session, 256);
      if (page.length === 0) break;
      found.push(...page);
    }
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
  return found;
}

const KEY_TYPE_NAMES: Record<number, string> = {
  [pkcs11js.CKK_RSA]: "RSA",
  [pkcs11js.CKK_EC]: "EC",
  [pkcs11js.CKK_AES]: "AES",
  [pkcs11js.CKK_GENERIC_SECRET]: "GENERIC_SECRET",
  [pkcs11js.CKK_SHA_1_HMAC]: "SHA_1_HMAC",
  [pkcs11js.CKK_SHA224_HMAC]: "SHA224_HMAC",
  [pkcs11js.CKK_SHA256_HMAC]: "SHA256_HMAC",
  [pkcs11js.CKK_SHA384_HMAC]: "SHA384_HMAC",
  [pkcs11js.CKK_SHA512_HMAC]: "SHA512_HMAC",
  [pkcs11js.CKK_DES3]: "DES3",
  [pkcs11js.CKK_DSA]: "DSA",
  [pkcs11js.CKK_DH]: "DH",
};

/** The PKCS#11 key type name without `CKK_`, e.g. `RSA`, `SHA256_HMAC`, or `0x...` for vendor types. */
export function keyTypeName(keyType: number): string {
  return KEY_TYPE_NAMES[keyType] ?? `0x${keyType.toString(16)}`;
}

/** Key types KMS treats as HMAC material. */
export const HMAC_KEY_TYPES: ReadonlySet<string> = new Set([
  "GENERIC_SECRET",
  "SHA_1_HMAC",
  "SHA224_HMAC",
  "SHA256_HMAC",
  "SHA384_HMAC",
  "SHA512_HMAC",
]);
