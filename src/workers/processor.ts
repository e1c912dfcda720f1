import { DelayedError, type Job, UnrecoverableError, Worker } from "bullmq";
import { toMigrationError } from "../shared/errors.js";
import { type Ledger, LedgerConflictError } from "../shared/ledger/index.js";
import type { MigrationRecord, PhaseName } from "../shared/migration.js";
import type { PhaseJobData, PhaseQueues } from "../shared/queues.js";
import type { WorkerEvents } from "./events.js";
import { decideAfterError, type RetryLimits } from "./outcomes.js";
import { paramsHoldMs } from "./params-gate.js";
import { PHASE_FUNCTIONS, type PhaseContext } from "./phases/index.js";
import { retryLogLine } from "./retry-log.js";

export interface ProcessorDeps {
  ledger: Ledger;
  queues: PhaseQueues;
  /** Everything a phase needs but checkpoint, which the processor binds to the ledger. */
  context: Omit<PhaseContext, "checkpoint">;
  limits: RetryLimits;
  events: WorkerEvents;
}

function isCurrent(record: MigrationRecord, phase: PhaseName, job: Job<PhaseJobData>): boolean {
  const live = record.status === "queued" || record.status === "in_progress";
  return live && record.phase === phase && record.generation === job.data.generation;
}

/**
 * The BullMQ processor of one phase: a thin adapter that loads the key's record, runs the phase, saves the
 * outcome to the ledger and then adds the next phase's job (deterministic id) before the job completes,
 * so a crash anywhere repeats at most one idempotent phase. Errors become BullMQ actions here and only here.
 */
export function createPhaseProcessor(phase: PhaseName, region: string, deps: ProcessorDeps) {
  const { ledger, queues, context, limits, events } = deps;
  const ended = (outcome: string, started: number) =>
    events.emit("phase:ended", { phase, region, outcome, durationMs: performance.now() - started });

  return async (job: Job<PhaseJobData>, token?: string): Promise<void> => {
    const started = performance.now();
    if (phase === "params" && !context.settings.paramsOnHsmHost) {
      // Just in time: no new token while the wrap backlog would outlast it (no KMS call, no attempt spent).
      const holdMs = await paramsHoldMs(queues, ledger, region, context.now(), limits.tokenSafetyMarginMs);
      if (holdMs > 0) {
        ended("hold", started);
        await queues.queue(phase, region).rateLimit(holdMs);
        throw Worker.RateLimitError();
      }
    }
    const stored = await ledger.get(job.data.migrationId);
    if (!stored) {
      context.logger.warn(
        { migrationId: job.data.migrationId, phase },
        "job for a key the ledger does not know: dropped",
      );
      return;
    }
    let { record, rev } = stored;
    if (!isCurrent(record, phase, job)) {
      // A stale or repeated job (e.g. our handover was saved but the job add was lost): make sure the job of
      // the record's real phase exists, then finish.
      if (record.status === "queued" || record.status === "in_progress") await queues.addFor(record);
      ended("skip", started);
      return;
    }

    const save = async (next: MigrationRecord) => {
      rev = await ledger.save({ ...next, updatedAt: context.now().toISOString() }, rev);
      record = next;
    };
    const ctx: PhaseContext = { ...context, checkpoint: (patch) => save({ ...record, ...patch }) };
    if (record.status === "queued") await save({ ...record, status: "in_progress" });

    try {
      const outcome = await PHASE_FUNCTIONS[phase](ctx, record);
      const done = outcome.next === "done";
      const now = context.now().toISOString();
      await save({
        ...record,
        ...outcome.patch,
        phase: outcome.next,
        status: done ? "migrated" : "in_progress",
        attempts: record.attempts + 1,
        phaseAttempts: 0,
        visibilityWait: undefined,
        ...(done ? { error: undefined, completedAt: now } : {}),
      });
      await queues.addFor(record);
      ended("success", started);
      if (done)
        events.emit("key:finished", {
          status: "migrated",
          keySpec: record.sourceKey?.keySpec ?? "unknown",
          region,
        });
    } catch (thrown) {
      if (thrown instanceof LedgerConflictError) {
        ended("conflict", started);
        throw thrown;
      }
      const error = toMigrationError(thrown);
      const decision = decideAfterError(record, phase, error, limits, context.now());
      ended(decision.action, started);
      switch (decision.action) {
        case "fail":
          await save({ ...record, ...decision.patch });
          events.emit("key:finished", {
            status: "failed",
            keySpec: record.sourceKey?.keySpec ?? "unknown",
            region,
          });
          context.logger.warn(
            { migrationId: record.id, phase, code: error.code, kind: error.kind },
            error.message,
          );
          throw new UnrecoverableError(`${error.code}: ${error.message}`);
        case "refresh":
          await save({
            ...record,
            ...decision.outcome.patch,
            phase: decision.outcome.next,
            phaseAttempts: 0,
          });
          await queues.addFor(record);
          events.emit("token:refreshed", { reason: decision.reason, region });
          return;
        case "retry":
          await save({ ...record, ...decision.patch });
          {
            const line = retryLogLine(record, phase, error, decision.delayMs);
            context.logger.info(line.fields, line.message);
          }
          await job.moveToDelayed(Date.now() + decision.delayMs, token);
          throw new DelayedError();
        case "wait":
          await save({ ...record, ...decision.patch });
          events.emit("kms:not-visible", { operation: decision.operation, region });
          context.logger.info(
            { migrationId: record.id, phase, code: error.code, delayMs: decision.delayMs },
            "KMS does not show this campaign's change yet: looking again later",
          );
          await job.moveToDelayed(Date.now() + decision.delayMs, token);
          throw new DelayedError();
        case "throttle":
          // Pause the whole queue (fleet-wide) and put the job back without spending an attempt.
          await queues.queue(phase, region).rateLimit(decision.delayMs);
          throw Worker.RateLimitError();
      }
    }
  };
}
