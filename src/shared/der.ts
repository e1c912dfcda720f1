/**
 * DER encoding (ITU-T X.690, Distinguished Encoding Rules): tag-length-value elements and INTEGERs, nothing
 * about what they mean. The one encoder the product (SubjectPublicKeyInfo from token attributes) and the KMS
 * emulator (ECDSA signatures) both build on; each keeps its own reading rules and tables.
 */

/** Universal tags used here (X.690 8.x). */
export const DER_TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
} as const;

/**
 * The length octets of `length` content bytes: one byte below 128, otherwise 0x80 | count followed by the
 * length in `count` big-endian bytes, no leading zero (X.690 8.1.3 and 10.1: the definite, minimal form).
 */
export function derLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`not a DER length: ${length}`);
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One element: `tag`, then the length of the concatenated `contents`, then the contents. */
export function derElement(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

/** A non-negative INTEGER in its minimal two's-complement form (a 0x00 before a high first bit). */
export function derUnsignedInteger(value: bigint): Buffer {
  if (value < 0n) throw new RangeError("derUnsignedInteger takes a non-negative value");
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return derElement(DER_TAG.INTEGER, Buffer.from(hex, "hex"));
}
