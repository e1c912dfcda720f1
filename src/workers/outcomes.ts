import { formatDuration } from "../shared/durations.js";
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
  /**
   * How long after this campaign changed a KMS key "not found" or a stale key state on it is waited out
   * (`HSM2KMS_KMS_CONSISTENCY_WINDOW`). @defaultValue 300000 (5 min)
   */
  consistencyWindowMs?: number;
}

/**
 * Looks for a change KMS does not show yet, at most, per phase (each wait adds at least half the time already
 * waited, so a 5-minute window takes about 14; past the budget, one last look at the window's end): the
 * queue's cap on how often one job may start allows for them.
 */
export const VISIBILITY_WAIT_BUDGET = 24;

/** What the scheduler does after a phase threw. The one place where error kinds become actions. */
export type AfterError =
  /** Run the same phase again after `delayMs`; one attempt spent. */
  | { action: "retry"; delayMs: number; patch: Partial<MigrationRecord> }
  /** A quota was hit: pause the queue for `delayMs`; no attempt spent. */
  | { action: "throttle"; delayMs: number }
  /** Back to params for a fresh token: hand over like a successful phase. */
  | { action: "refresh"; outcome: PhaseOutcome; reason: string }
  /** KMS does not show a change this campaign made yet: look again after `delayMs`; no attempt spent. */
  | { action: "wait"; delayMs: number; patch: Partial<MigrationRecord>; operation: string }
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
      visibilityWait: undefined,
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
      visibilityWait: undefined,
      tokenRefreshes: record.tokenRefreshes + 1,
      generation: record.generation + 1,
    },
    next: paramsPhase({ paramsOnHsmHost }),
  };
}

/** The latest change this campaign asked KMS for on the key (older records: the phases' own timestamps). */
function lastKmsChange(record: MigrationRecord): number | undefined {
  const times = [record.kmsChangedAt, record.createStartedAt, record.importStartedAt, record.importedAt]
    .filter((time): time is string => time !== undefined)
    .map((time) => Date.parse(time));
  return times.length > 0 ? Math.max(...times) : undefined;
}

/**
 * A NotFoundException or stale key state: wait, within the consistency window after the change this campaign
 * made (and at most a window after first seeing it in this phase, since a repeated phase may record its change
 * again), then fail saying how long KMS was given and what it answered.
 */
function decideNotVisible(
  record: MigrationRecord,
  phase: PhaseName,
  error: MigrationError,
  limits: RetryLimits,
  now: Date,
): AfterError {
  const changedAt = lastKmsChange(record);
  // Nothing this campaign did could still be propagating: the key is gone or in another state.
  if (changedAt === undefined) return failure(record, phase, error, now);
  const windowMs = limits.consistencyWindowMs ?? 300_000;
  const since = record.visibilityWait ? Date.parse(record.visibilityWait.since) : now.getTime();
  const waits = (record.visibilityWait?.waits ?? 0) + 1;
  const deadline = Math.min(changedAt, since) + windowMs;
  const leftMs = deadline - now.getTime();
  if (leftMs <= 0)
    return failure(
      record,
      phase,
      error,
      now,
      `${error.message} (KMS still answered this ${formatDuration(now.getTime() - changedAt)} after hsm2kms changed the key, ` +
        `after ${waits - 1} looks over ${formatDuration(now.getTime() - since)}; HSM2KMS_KMS_CONSISTENCY_WINDOW is ${formatDuration(windowMs)}: ` +
        "if KMS is this slow to show changes, raise it and run `hsm2kms retry --failed`; otherwise the key was deleted or changed outside hsm2kms)",
    );
  // Changes usually show within seconds: look again soon, then at least half as long again as already waited,
  // so a change that shows is seen soon after, and the looks stay few (logarithmic) when KMS takes minutes.
  const waitedMs = now.getTime() - since;
  const gentle = (limits.baseBackoffMs ?? 1000) * 1.5 ** (waits - 1) * (0.75 + Math.random() / 4);
  const delayMs =
    waits >= VISIBILITY_WAIT_BUDGET ? leftMs : Math.round(Math.min(leftMs, Math.max(waitedMs / 2, gentle)));
  const pastToken = refreshIfPastToken(record, phase, delayMs, limits, now);
  if (pastToken) return pastToken;
  return {
    action: "wait",
    delayMs,
    patch: { visibilityWait: { since: new Date(since).toISOString(), waits } },
    operation: String(error.details?.["operation"] ?? "unknown"),
  };
}

/**
 * Never wait past the token's life: a retry or wait in wrap or import that would wake to a dead import token
 * fetches a new one now instead.
 */
function refreshIfPastToken(
  record: MigrationRecord,
  phase: PhaseName,
  delayMs: number,
  limits: RetryLimits,
  now: Date,
): AfterError | undefined {
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
  return undefined;
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
    case "not-visible":
      return decideNotVisible(record, phase, error, limits, now);
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
      const pastToken = refreshIfPastToken(record, phase, delayMs, limits, now);
      if (pastToken) return pastToken;
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
