import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { Writable } from "node:stream";
import { ConfigError } from "../shared/errors.js";

/** A file a command writes its output to (`--out`), opened before any work is done. */
export interface OutFile {
  /** Takes writes; a failed write's callback gets an error naming the file (the stream never crashes). */
  stream: NodeJS.WritableStream;
  /** Writes `text` now, to prove the file takes bytes (a full disk, /dev/full) before any work is done. */
  write(text: string): Promise<void>;
  /** Flushes and closes; never throws (a failed write already rejected, naming the file). */
  close(): Promise<void>;
}

const WHY: Record<string, string> = {
  ENOENT: "its folder does not exist",
  EISDIR: "it is a folder",
  ENOTDIR: "a part of the path is not a folder",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exhausted",
  EFBIG: "the file is too large",
  EIO: "an I/O error",
  EPIPE: "the reading end was closed",
};

const why = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code ?? "error";
  return WHY[code] ? `${code}: ${WHY[code]}` : code;
};

/** Writes all of `bytes` (a pipe may take fewer at a time), counting what went out. */
async function writeAll(
  handle: FileHandle,
  bytes: Buffer,
  onWritten: (count: number) => void,
): Promise<void> {
  for (let offset = 0; offset < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    onWritten(bytesWritten);
    offset += bytesWritten;
  }
}

/**
 * Opens (creating or truncating) the file `--out` names, mode 0640. A path that cannot be opened is a
 * ConfigError (exit 2) naming it and why; so is a first write that fails (nothing was written yet). A write
 * that fails later is a plain error naming the file (exit 1: the work was done, its output is incomplete).
 * `flag` is how messages name the file. @defaultValue `--out`
 */
export async function openOutFile(path: string, flag = "--out"): Promise<OutFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, "w", 0o640);
  } catch (error) {
    throw new ConfigError(
      `${flag} ${path} cannot be written (${why(error)}): expected a file path in an existing folder`,
    );
  }
  let written = 0;
  let failure: Error | undefined;
  const problem = (error: unknown): Error =>
    written === 0
      ? new ConfigError(`${flag} ${path} cannot be written (${why(error)}): expected a writable file`)
      : new Error(
          `${flag} ${path}: writing failed after ${written} bytes (${why(error)}); the file is incomplete`,
        );
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writeAll(handle, chunk, (count) => {
        written += count;
      }).then(
        () => callback(),
        (error: unknown) => {
          failure ??= problem(error);
          callback(failure);
        },
      );
    },
  });
  // The error reaches every write's callback; without a listener the stream would also crash the process.
  stream.on("error", () => {});
  const write = (text: string) =>
    new Promise<void>((resolve, reject) =>
      stream.write(text, (error) => (error ? reject(failure ?? error) : resolve())),
    );
  return {
    stream,
    write,
    close: async () => {
      if (!failure && !stream.destroyed) await new Promise<void>((resolve) => stream.end(() => resolve()));
      await handle.close().catch(() => {});
    },
  };
}
