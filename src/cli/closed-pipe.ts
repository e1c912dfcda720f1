/**
 * `hsm2kms report | head`: the reader went away and the next write to standard output fails with EPIPE.
 * That is not an error of the command (the reader had what it wanted): end quietly, exit 0, no stack trace.
 * Jobs a worker held come back after their lock, as after any stop.
 */
export function isClosedPipe(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === "EPIPE";
}

/** Makes a closed standard output (or standard error) end the process quietly with exit code 0. */
export function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on("error", (error) => {
      if (isClosedPipe(error)) process.exit(0);
      throw error;
    });
}
