/** The CLI's exit codes (DESIGN.md contract). */
export const EXIT = {
  /** Everything asked for succeeded. */
  ok: 0,
  /** Some keys (or rows) failed. */
  failed: 1,
  /** Usage or configuration error: nothing was done. */
  usage: 2,
} as const;
