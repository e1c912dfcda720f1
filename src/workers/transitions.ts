/**
 * The migration state machine, written once: how a phase's outcome or the decision taken after its error
 * changes a key's record, and what the runner must schedule next. Pure functions of the record (no I/O, no
 * clock but the `now` they are given): the BullMQ processor and the in-process runner only save the record and
 * carry out the schedule, and tests step records through the same rules.
 */
import type { MigrationRecord, PhaseName } from "../shared/migration.js";
import type { AfterError } from "./outcomes.js";
import { DROP_IMPORT_SECRETS } from "./phases/import.js";
import type { PhaseOutcome } from "./phases/index.js";

/** What a runner does once the new record is saved. */
export type Schedule =
  /** Start the job of the record's (new) phase: a handover after success or a token refresh. */
  | { kind: "handover" }
  /** Nothing more for this key: it is `migrated` or `failed` for good. */
  | { kind: "finished"; status: "migrated" | "failed" }
  /** Run the same phase again after `delayMs` (a retry with backoff, or a wait for KMS to show a change). */
  | { kind: "again-later"; delayMs: number }
  /** Pause the phase's whole queue for `delayMs` (a quota was hit); the record is unchanged. */
  | { kind: "pause-queue"; delayMs: number };

/** A record after one step of the state machine, and what follows. */
export interface Transition {
  /** The new record; the very same object when the step changes nothing (then there is nothing to save). */
  record: MigrationRecord;
  schedule: Schedule;
}

/** A key a worker picks up: `queued` becomes `in_progress` (the same record when it already is). */
export function beginRecord(record: MigrationRecord): MigrationRecord {
  return record.status === "queued" ? { ...record, status: "in_progress" } : record;
}

/**
 * A phase succeeded: merge its patch, move to the phase it named, count the attempt and reset the per-phase
 * counters. The last phase marks the key `migrated` and clears an error left by earlier retries.
 */
export function applyOutcome(record: MigrationRecord, outcome: PhaseOutcome, now: Date): Transition {
  const done = outcome.next === "done";
  const next: MigrationRecord = {
    ...record,
    ...outcome.patch,
    phase: outcome.next,
    status: done ? "migrated" : "in_progress",
    attempts: record.attempts + 1,
    phaseAttempts: 0,
    visibilityWait: undefined,
    ...(done ? { error: undefined, completedAt: now.toISOString() } : {}),
  };
  return { record: next, schedule: done ? { kind: "finished", status: "migrated" } : { kind: "handover" } };
}

/**
 * A phase threw and `decideAfterError` chose what follows: apply it to the record. The caps (attempts, token
 * refreshes, waits) are applied by that decision; this only turns it into a record and a schedule.
 */
export function applyDecision(record: MigrationRecord, decision: AfterError): Transition {
  switch (decision.action) {
    case "fail":
      return { record: { ...record, ...decision.patch }, schedule: { kind: "finished", status: "failed" } };
    case "refresh":
      return {
        record: { ...record, ...decision.outcome.patch, phase: decision.outcome.next, phaseAttempts: 0 },
        schedule: { kind: "handover" },
      };
    case "retry":
    case "wait":
      return {
        record: { ...record, ...decision.patch },
        schedule: { kind: "again-later", delayMs: decision.delayMs },
      };
    case "throttle":
      return { record, schedule: { kind: "pause-queue", delayMs: decision.delayMs } };
  }
}

/**
 * Fails a key its runner gave up on (not a phase's error: too many steps, a job the queue abandoned): `code`
 * names why, `message` the fix. Like any failure it forgets the import token and wrapped material; `phase` is
 * where it stopped.
 */
export function giveUp(
  record: MigrationRecord,
  phase: PhaseName,
  code: string,
  message: string,
  now: Date,
): Transition {
  const at = now.toISOString();
  return {
    record: {
      ...record,
      ...DROP_IMPORT_SECRETS,
      status: "failed",
      error: { code, kind: "fatal", phase, message, at },
      completedAt: at,
    },
    schedule: { kind: "finished", status: "failed" },
  };
}
