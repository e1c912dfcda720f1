/**
 * One error vocabulary for the whole pipeline. Every failure a phase can meet is a MigrationError with a
 * `kind` that says what the scheduler must do with it, and a stable `code` from the closed table in
 * error-codes.ts, which scripts and reports match on.
 * Messages name the key and the fix; they never carry PINs, key material or import tokens.
 */

import type { CodeOfKind, ErrorCode, ErrorKind } from "./error-codes.js";

export type { CodeOfKind, ErrorCode, ErrorKind } from "./error-codes.js";

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
  /** Stable identifier from the table (error-codes.ts), e.g. `SOURCE_KEY_NOT_FOUND`. */
  readonly code: ErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(kind: ErrorKind, code: ErrorCode, message: string, options: MigrationErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = this.constructor.name;
    this.kind = kind;
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }
}

/** A failure no retry can cure: fail the key. */
export const fatal = (code: CodeOfKind<"fatal">, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("fatal", code, message, options);
/** Try again later with backoff, spending an attempt. */
export const retryable = (code: CodeOfKind<"retryable">, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("retryable", code, message, options);
/** A request quota was hit: pause the queue. */
export const throttled = (code: CodeOfKind<"throttled">, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("throttled", code, message, options);
/** Waiting for something else: try later without spending an attempt. */
export const deferred = (code: CodeOfKind<"deferred">, message: string, options?: MigrationErrorOptions) =>
  new MigrationError("deferred", code, message, options);
/** KMS does not show a change (yet): wait within the consistency window. */
export const notVisible = (
  code: CodeOfKind<"not-visible">,
  message: string,
  options?: MigrationErrorOptions,
) => new MigrationError("not-visible", code, message, options);
/** The import token cannot be used: fetch new import parameters. */
export const tokenExpired = (
  code: CodeOfKind<"token-expired">,
  message: string,
  options?: MigrationErrorOptions,
) => new MigrationError("token-expired", code, message, options);

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
