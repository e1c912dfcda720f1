import { open } from "node:fs/promises";
import { formatLimit, tooLarge, unreadable } from "../shared/bounded-read.js";
import { ConfigError } from "../shared/errors.js";
import { ManifestFileError } from "./file-error.js";

/**
 * Largest manifest read: a million rows of a few hundred bytes with room to spare. Reading stays flat in
 * memory whatever the size; the cap stops a wrong path (/dev/zero, a FIFO that never ends) from running on.
 */
export const MAX_MANIFEST_BYTES = 1024 ** 3;

/**
 * Opens a manifest for `readManifest`: a path that cannot be opened or is a folder is a ConfigError naming
 * it (exit 2) before anything is read; the bytes are then streamed and counted, and a file past `maxBytes`
 * ends the read with a ManifestFileError saying the cap.
 */
export async function openManifestFile(
  path: string,
  expected: string,
  maxBytes: number = MAX_MANIFEST_BYTES,
): Promise<AsyncIterable<Buffer>> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new ConfigError(`manifest ${path} ${unreadable(error)}: expected ${expected}`);
  }
  let folder = false;
  try {
    folder = (await handle.stat()).isDirectory();
  } catch (error) {
    await handle.close();
    throw new ConfigError(`manifest ${path} ${unreadable(error)}: expected ${expected}`);
  }
  if (folder) {
    await handle.close();
    throw new ConfigError(`manifest ${path} is a folder: expected ${expected}`);
  }
  return capped(handle.createReadStream(), maxBytes);
}

async function* capped(stream: AsyncIterable<Buffer> & { destroy(): void }, maxBytes: number) {
  let total = 0;
  try {
    for await (const chunk of stream) {
      total += chunk.length;
      if (total > maxBytes)
        throw new ManifestFileError(
          `the file ${tooLarge(maxBytes, "a manifest")}; expected at most ${formatLimit(maxBytes)} of CSV (split it and enqueue each part)`,
        );
      yield chunk;
    }
  } finally {
    stream.destroy();
  }
}
