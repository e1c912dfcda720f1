import { firstInvalidUtf8 } from "../shared/bounded-read.js";
import { ManifestFileError } from "./file-error.js";

const newlines = (text: string) => text.split("\n").length - 1;

/**
 * Decodes the manifest's chunks as UTF-8 text, strips a BOM, and refuses what is not text: invalid UTF-8
 * (with the line and byte offset of the first bad byte), UTF-16, NUL characters. String chunks pass as they
 * are (after the BOM check).
 */
export async function* decodeManifestText(
  input: AsyncIterable<Buffer | Uint8Array | string>,
): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let started = false;
  let line = 1;
  let offset = 0;
  // The start of a character the last chunk cut short, for a message that points at its first byte.
  let tail: Uint8Array = new Uint8Array(0);
  for await (const chunk of input) {
    let text: string;
    if (typeof chunk === "string") {
      text = flush(decoder, line, offset, tail) + chunk;
      tail = new Uint8Array(0);
    } else {
      if (!started && offset === 0 && isUtf16Bom(chunk))
        throw new ManifestFileError("the file is UTF-16 text; expected UTF-8 (save it as CSV UTF-8)");
      text = decodeChunk(decoder, chunk, line, offset, tail);
      tail = incompleteTail(tail, chunk);
      offset += chunk.length;
    }
    if (!started && text !== "") {
      started = true;
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    const nul = text.indexOf("\0");
    if (nul >= 0)
      throw new ManifestFileError(
        `line ${line + newlines(text.slice(0, nul))}: holds a NUL character; expected CSV text (is this a binary or UTF-16 file?)`,
      );
    line += newlines(text);
    if (text !== "") yield text;
  }
  const rest = flush(decoder, line, offset, tail);
  if (rest !== "") yield rest;
}

function isUtf16Bom(chunk: Uint8Array): boolean {
  return (
    chunk.length >= 2 &&
    ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff))
  );
}

const hex = (byte: number) => `0x${byte.toString(16).padStart(2, "0")}`;

/** The bytes of a character still incomplete at the end of what was decoded (at most 3; usually none). */
function incompleteTail(previous: Uint8Array, chunk: Uint8Array): Uint8Array {
  const last = Buffer.concat([previous, chunk.subarray(-3)]).subarray(-3);
  for (let index = last.length - 1; index >= 0; index--) {
    const byte = last[index]!;
    if (byte < 0x80) return new Uint8Array(0);
    if (byte >= 0xc0) {
      const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return last.length - index < length ? last.subarray(index) : new Uint8Array(0);
    }
  }
  return new Uint8Array(0);
}

function flush(decoder: TextDecoder, line: number, offset: number, tail: Uint8Array): string {
  try {
    return decoder.decode();
  } catch {
    const start = offset - tail.length;
    throw new ManifestFileError(
      `line ${line}: ends inside a UTF-8 character (byte ${hex(tail[0] ?? 0)} at offset ${start} starts a character the end of the file cuts short); expected a CSV file saved as UTF-8`,
    );
  }
}

function decodeChunk(
  decoder: TextDecoder,
  chunk: Uint8Array,
  line: number,
  offset: number,
  tail: Uint8Array,
): string {
  try {
    return decoder.decode(chunk, { stream: true });
  } catch {
    // Error path only: the character the last chunk left open comes first, so the scan starts in step.
    const bytes = Buffer.concat([tail, chunk]);
    const bad = firstInvalidUtf8(bytes, true) ?? 0;
    const before = bytes.subarray(0, bad).toString("utf8");
    const byte = bytes[bad] ?? 0;
    const what =
      byte >= 0xc2 && byte <= 0xf4
        ? `byte ${hex(byte)} at offset ${offset - tail.length + bad} starts a character the bytes after it do not complete`
        : `byte ${hex(byte)} at offset ${offset - tail.length + bad} cannot start a character`;
    throw new ManifestFileError(
      `line ${line + newlines(before)}: not UTF-8 text (${what}); expected a CSV file saved as UTF-8`,
    );
  }
}
