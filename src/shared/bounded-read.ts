import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";

/**
 * Reading a file the user named, with a cap. The size a file claims is not trusted (stat says 0 for
 * /dev/zero, a FIFO or /proc files): the bytes are read in chunks and counted, and reading stops one byte
 * past the cap. Problems come back as text that names no byte of the file, for the caller to prefix with
 * the setting or flag that named it.
 */
export type BoundedRead = { bytes: Buffer } | { problem: string };

const CHUNK_BYTES = 64 * 1024;

/** `4 KiB`, `32 KiB`, `4 MiB`, `1 GiB`, or the byte count when it is not a round unit. */
export function formatLimit(bytes: number): string {
  for (const [unit, size] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const)
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  return `${bytes} bytes`;
}

/** `is larger than 4 KiB, the limit for a PIN file` */
export function tooLarge(maxBytes: number, purpose: string): string {
  return `is larger than ${formatLimit(maxBytes)}, the limit for ${purpose}`;
}

const WHY: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "it is a folder",
  ENOTDIR: "a part of the path is not a folder",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "the path is too long",
};

/** `cannot be read (ENOENT: no such file)`: the errno code and what it means, never the error's own text. */
export function unreadable(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? "error";
  return `cannot be read (${WHY[code] ? `${code}: ${WHY[code]}` : code})`;
}

/** Reads at most `maxBytes` of `path` synchronously (for start-up configuration such as the PIN file). */
export function readFileBoundedSync(path: string, maxBytes: number, purpose: string): BoundedRead {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    return { problem: unreadable(error) };
  }
  try {
    if (fstatSync(fd).isDirectory()) return { problem: "is a folder" };
    const chunks: Buffer[] = [];
    let total = 0;
    const buffer = Buffer.alloc(Math.min(CHUNK_BYTES, maxBytes + 1));
    for (;;) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.length, maxBytes + 1 - total), null);
      if (read === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, read)));
      total += read;
      if (total > maxBytes) return { problem: tooLarge(maxBytes, purpose) };
    }
    return { bytes: Buffer.concat(chunks, total) };
  } catch (error) {
    return { problem: unreadable(error) };
  } finally {
    closeSync(fd);
  }
}

/** Reads at most `maxBytes` of `path`. */
export async function readFileBounded(path: string, maxBytes: number, purpose: string): Promise<BoundedRead> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    return { problem: unreadable(error) };
  }
  try {
    if ((await handle.stat()).isDirectory()) return { problem: "is a folder" };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.alloc(Math.min(CHUNK_BYTES, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) return { problem: tooLarge(maxBytes, purpose) };
    }
    return { bytes: Buffer.concat(chunks, total) };
  } catch (error) {
    return { problem: unreadable(error) };
  } finally {
    await handle.close();
  }
}

/**
 * UTF-8 text of a file's bytes (a leading BOM dropped), or where it stops being UTF-8: the byte offset of
 * the first sequence that is not, so the message can point at it without showing it.
 */
export function decodeUtf8(bytes: Buffer): { text: string } | { problem: string } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes) };
  } catch {
    const offset = firstInvalidUtf8(bytes) ?? 0;
    return { problem: `is not UTF-8 text (byte offset ${offset})` };
  }
}

/**
 * The offset of the first byte that starts an ill-formed UTF-8 sequence (Unicode Standard, table 3-7
 * "Well-Formed UTF-8 Byte Sequences"): a byte that cannot start a character, or the lead byte of a
 * character the following bytes cut short. Undefined when every byte is well-formed; a sequence cut off by
 * the end of `bytes` counts as ill-formed unless `allowIncompleteEnd`.
 */
export function firstInvalidUtf8(bytes: Uint8Array, allowIncompleteEnd = false): number | undefined {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index]!;
    if (lead < 0x80) {
      index++;
      continue;
    }
    const shape = sequenceShape(lead);
    if (!shape) return index;
    const [length, secondMin, secondMax] = shape;
    for (let next = 1; next < length; next++) {
      if (index + next >= bytes.length) return allowIncompleteEnd ? undefined : index;
      const byte = bytes[index + next]!;
      const [min, max] = next === 1 ? [secondMin, secondMax] : [0x80, 0xbf];
      if (byte < min || byte > max) return index;
    }
    index += length;
  }
  return undefined;
}

/** Length and allowed range of the second byte of a sequence starting with `lead`; undefined: not a lead. */
function sequenceShape(lead: number): [number, number, number] | undefined {
  if (lead >= 0xc2 && lead <= 0xdf) return [2, 0x80, 0xbf];
  if (lead === 0xe0) return [3, 0xa0, 0xbf];
  if (lead === 0xed) return [3, 0x80, 0x9f];
  if (lead >= 0xe1 && lead <= 0xef) return [3, 0x80, 0xbf];
  if (lead === 0xf0) return [4, 0x90, 0xbf];
  if (lead >= 0xf1 && lead <= 0xf3) return [4, 0x80, 0xbf];
  if (lead === 0xf4) return [4, 0x80, 0x8f];
  return undefined;
}
