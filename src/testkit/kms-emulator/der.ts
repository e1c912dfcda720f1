/** A DER element: tag byte, where its contents start and end (exclusive) in the buffer. */
export interface DerElement {
  tag: number;
  start: number;
  end: number;
}

/** Why bytes are not strict DER. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/**
 * Reads one element at `offset`, strictly: single-byte tags, definite and minimally encoded lengths,
 * contents within `limit`.
 */
export function readElement(bytes: Buffer, offset: number, limit = bytes.length): DerElement {
  if (offset + 2 > limit) throw new DerError(`truncated element at offset ${offset}`);
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at offset ${offset}`);
  const first = bytes[offset + 1]!;
  let length = first;
  let start = offset + 2;
  if (first === 0x80) throw new DerError(`indefinite length at offset ${offset}`);
  if (first > 0x80) {
    const count = first & 0x7f;
    if (count > 4 || start + count > limit) throw new DerError(`bad length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    if (bytes[start] === 0 || length < 0x80) throw new DerError(`non-minimal length at offset ${offset}`);
    start += count;
  }
  if (start + length > limit) throw new DerError(`element at offset ${offset} overruns its container`);
  return { tag, start, end: start + length };
}

/** The children of a constructed element, which must fill it exactly. */
export function readChildren(bytes: Buffer, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  let offset = parent.start;
  while (offset < parent.end) {
    const child = readElement(bytes, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

export const contents = (bytes: Buffer, element: DerElement) => bytes.subarray(element.start, element.end);

/** An INTEGER's value (non-negative, as in key structures). */
export function readUnsigned(bytes: Buffer, element: DerElement): bigint {
  if (element.tag !== 0x02) throw new DerError("expected INTEGER");
  const value = contents(bytes, element);
  return value.length === 0 ? 0n : BigInt(`0x${value.toString("hex")}`);
}

export const TAG = {
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  CONTEXT_0: 0xa0,
  CONTEXT_1: 0xa1,
} as const;
