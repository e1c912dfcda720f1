import { ManifestFileError } from "./manifest-file-error.js";

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
  for await (const chunk of input) {
    let text: string;
    if (typeof chunk === "string") text = flush(decoder, line, offset) + chunk;
    else {
      if (!started && offset === 0 && isUtf16Bom(chunk))
        throw new ManifestFileError("the file is UTF-16 text; expected UTF-8 (save it as CSV UTF-8)");
      text = decodeChunk(decoder, chunk, line, offset);
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
  const rest = flush(decoder, line, offset);
  if (rest !== "") yield rest;
}

function isUtf16Bom(chunk: Uint8Array): boolean {
  return (
    chunk.length >= 2 &&
    ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff))
  );
}

function flush(decoder: TextDecoder, line: number, offset: number): string {
  try {
    return decoder.decode();
  } catch {
    throw new ManifestFileError(
      `line ${line}: ends inside a UTF-8 character (byte offset ${offset}); expected a CSV file saved as UTF-8`,
    );
  }
}

function decodeChunk(decoder: TextDecoder, chunk: Uint8Array, line: number, offset: number): string {
  try {
    return decoder.decode(chunk, { stream: true });
  } catch {
    // Error path only: find the first bad byte by bisection, for a message that points at it.
    let good = 0;
    let bad = chunk.length;
    while (bad - good > 1) {
      const middle = (good + bad) >> 1;
      if (decodesCleanly(chunk.subarray(0, middle))) good = middle;
      else bad = middle;
    }
    const before = new TextDecoder("utf-8").decode(chunk.subarray(0, good));
    const byte = chunk[bad - 1] ?? 0;
    throw new ManifestFileError(
      `line ${line + newlines(before)}: not UTF-8 text (byte 0x${byte.toString(16).padStart(2, "0")} at offset ${offset + bad - 1}); expected a CSV file saved as UTF-8`,
    );
  }
}

function decodesCleanly(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}
