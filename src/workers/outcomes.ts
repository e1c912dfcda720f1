import type { MigrationError } from "../shared/errors.js";
import type { MigrationRecord, PhaseName } from "../shared/migration.js";
import { DROP_IMPORT_SECRETS } from "./phases/import.js";
import type { PhaseOutcome } from "./phases/index.js";
import { paramsPhase } from "./phases/params.js";
import { usableTokenMs } from "./phases/token-margin.js";

export interface RetryLimits {
  /** Attempts per phase before a retryable error fails the key. */
  maxAttempts: number;
  /** Times a key may go back to params for a new import token. */
  maxTokenRefreshes: number;
  /** Token safety margin (for "never back off past the token's life"). */
  tokenSafetyMarginMs: number;
  /** First backoff delay; doubles per attempt, with jitter. @defaultValue 1000 */
  baseBackoffMs?: number;
  /** @defaultValue 60000 */
  maxBackoffMs?: number;
  /** Waits (deferred errors) before giving up: with 60 s waits, a day. @defaultValue 1440 */
  maxDeferrals?: number;
  /** A new token is fetched by wrap, not params (`HSM2KMS_PARAMS_ON_HSM_HOST`). @defaultValue false */
  paramsOnHsmHost?: boolean;
}

/** What the scheduler does after a phase threw. The one place where error kinds become actions. */
export type AfterError =
  /** Run the same phase again after `delayMs`; one attempt spent. */
  | { action: "retry"; delayMs: number; patch: Partial<MigrationRecord> }
  /** A quota was hit: pause the queue for `delayMs`; no attempt spent. */
  | { action: "throttle"; delayMs: number }
  /** Back to params for a fresh token: hand over like a successful phase. */
  | { action: "refresh"; outcome: PhaseOutcome; reason: string }
  /** Fail the key for good. */
  | { action: "fail"; patch: Partial<MigrationRecord> };

function failure(
  record: MigrationRecord,
  phase: PhaseName,
  error: MigrationError,
  now: Date,
  message = error.message,
): AfterError {
  return {
    action: "fail",
    patch: {
      ...DROP_IMPORT_SECRETS,
      status: "failed",
      phase,
      attempts: record.attempts + 1,
      error: { code: error.code, kind: error.kind, phase, message, at: now.toISOString() },
      completedAt: now.toISOString(),
    },
  };
}

/** The token-refresh handover: forget the old token and ciphertext, go back to params (or wrap, which fetches). */
export function refreshOutcome(record: MigrationRecord, paramsOnHsmHost = false): PhaseOutcome {
  return {
    patch: {
      ...DROP_IMPORT_SECRETS,
      importStartedAt: undefined,
      tokenRefreshes: record.tokenRefreshes + 1,
      generation: record.generation + 1,
    },
    next: paramsPhase({ paramsOnHsmHost }),
  };
}

export function backoffMs(attempt: number, limits: RetryLimits, random = Math.random): number {
  const base = limits.baseBackoffMs ?? 1000;
  const cap = limits.maxBackoffMs ?? 60_000;
  const exponential = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

/**
 * Decides what follows a phase's error: retry with backoff (bounded by `maxAttempts`), pause for a
 * throttle (no attempt spent), refresh the token (bounded by `maxTokenRefreshes`), or fail with the reason.
 */
export function decideAfterError(
  record: MigrationRecord,
  phase: PhaseName,
  error: MigrationError,
  limits: RetryLimits,
  now: Date,
): AfterError {
  switch (error.kind) {
    case "fatal":
      return failure(record, phase, error, now);
    case "throttled":
      return { action: "throttle", delayMs: error.retryAfterMs ?? 1000 };
    case "deferred": {
      const deferrals = (record.deferrals ?? 0) + 1;
      if (deferrals > (limits.maxDeferrals ?? 1440))
        return failure(
          record,
          phase,
          error,
          now,
          `${error.message} (gave up after waiting ${deferrals - 1} times)`,
        );
      return { action: "retry", delayMs: error.retryAfterMs ?? 60_000, patch: { deferrals } };
    }
    case "token-expired":
      if (record.tokenRefreshes >= limits.maxTokenRefreshes)
        return failure(
          record,
          phase,
          error,
          now,
          `${error.message} (gave up after ${record.tokenRefreshes} new import tokens; raise HSM2KMS_MAX_TOKEN_REFRESHES or HSM2KMS_TOKEN_SAFETY_MARGIN if the HSM hosts are this slow)`,
        );
      return {
        action: "refresh",
        outcome: refreshOutcome(record, limits.paramsOnHsmHost),
        reason: error.code,
      };
    case "retryable": {
      const attempt = record.phaseAttempts + 1;
      if (attempt >= limits.maxAttempts)
        return failure(
          record,
          phase,
          error,
          now,
          `${error.message} (gave up after ${attempt} attempts in ${phase})`,
        );
      const delayMs = Math.max(error.retryAfterMs ?? 0, backoffMs(attempt, limits));
      // Never back off past the token's life: a retry that would wake to a dead token refreshes now instead.
      const token = record.importParams;
      if (
        (phase === "wrap" || phase === "import") &&
        token &&
        usableTokenMs(token, new Date(now.getTime() + delayMs), limits.tokenSafetyMarginMs) <= 0
      )
        return {
          action: "refresh",
          outcome: refreshOutcome(record, limits.paramsOnHsmHost),
          reason: "BACKOFF_PAST_TOKEN_LIFE",
        };
      return {
        action: "retry",
        delayMs,
        patch: {
          attempts: record.attempts + 1,
          phaseAttempts: attempt,
          error: { code: error.code, kind: error.kind, phase, message: error.message, at: now.toISOString() },
        },
      };
    }
  }
}
