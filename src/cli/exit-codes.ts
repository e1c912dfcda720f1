/** The CLI's exit codes: a user-facing contract (docs/architecture.md#the-contract). */
export const EXIT = {
  /** Everything asked for succeeded. */
  ok: 0,
  /** Some keys (or rows) failed. */
  failed: 1,
  /** Usage or configuration error: nothing was done. */
  usage: 2,
} as const;
