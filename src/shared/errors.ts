/**
 * One error vocabulary for the whole pipeline. Every failure a phase can meet is a MigrationError with a
 * `kind` that says what the scheduler must do with it, and a stable `code` that scripts and reports match on.
 * Messages name the key and the fix; they never carry PINs, key material or import tokens.
 */

/** What the scheduler does with a failure. */
export type ErrorKind =
  /** Try again later with backoff; spends an attempt. */
  | "retryable"
  /** A quota was hit: pause the queue for `retryAfterMs`, spend no attempt. */
  | "throttled"
  /** The import token is expired, invalid or about to die: go back to the params phase. */
  | "token-expired"
  /** Waiting for something else (e.g. a replica's primary): try later, spending no attempt (bounded). */
  | "deferred"
  /**
   * KMS does not show a key, alias or key state (NotFoundException, KMSInvalidStateException): possibly a change
   * that has not propagated yet (AWS KMS Developer Guide, "AWS KMS eventual consistency"). Within the consistency
   * window after this campaign changed that key, wait and look again, spending no attempt; otherwise fatal.
   */
  | "not-visible"
  /** Retrying cannot help: fail the key with this reason. */
  | "fatal";

export interface MigrationErrorOptions {
  /** Delay before the next try, for `retryable` and `throttled`. */
  retryAfterMs?: number;
  /** The underlying error (its message must already be free of secrets). */
  cause?: unknown;
  /** Machine-readable facts for the ledger (never secrets). */
  details?: Record<string, unknown>;
}

export class MigrationError extends Error {
  readonly kind: ErrorKind;
  /** Stable, upper-snake-case identifier, e.g. `SOURCE_KEY_NOT_FOUND`. */
  readonly code: string;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(kind: ErrorKind, code: string, message: string, options: MigrationErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = this.constructor.name;
    this.kind = kind;
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }
}

export const fatal = (code: string, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("fatal", code, message, options);
export const retryable = (code: string, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("retryable", code, message, options);
export const throttled = (code: string, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("throttled", code, message, options);
export const deferred = (code: string, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("deferred", code, message, options);
export const notVisible = (code: string, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("not-visible", code, message, options);
export const tokenExpired = (code: string, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("token-expired", code, message, options);

/**
 * Detects a MigrationError by shape, not instanceof, so detection survives module duplication and a
 * serialisation round trip through a job's failedReason.
 */
export function isMigrationError(error: unknown): error is MigrationError {
  return (
    error instanceof Error &&
    typeof (error as MigrationError).kind === "string" &&
    typeof (error as MigrationError).code === "string"
  );
}

/** Turns anything thrown into a MigrationError; unknown errors are retryable with code `UNEXPECTED`. */
export function toMigrationError(error: unknown): MigrationError {
  if (isMigrationError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return retryable("UNEXPECTED", message, { cause: error });
}

/** A configuration or usage error: the CLI prints it and exits with code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}
