import { DelayedError, type Job, UnrecoverableError, Worker } from "bullmq";
import { type MigrationError, toMigrationError } from "../shared/errors.js";
import { type Ledger, LedgerConflictError } from "../shared/ledger/index.js";
import { isInFlight, type MigrationRecord, type PhaseName } from "../shared/migration.js";
import type { PhaseJobData, PhaseQueues } from "../shared/queues.js";
import { type KmsTarget, toTarget } from "../shared/targets.js";
import type { WorkerEvents } from "./events.js";
import type { HandoverCache } from "./handover-cache.js";
import { type AfterError, decideAfterError, type RetryLimits } from "./outcomes.js";
import { paramsHoldMs } from "./params-gate.js";
import { PHASE_FUNCTIONS, type PhaseContext } from "./phases/index.js";
import { retryLogLine } from "./retry-log.js";
import { restartPhase } from "./stranded.js";
import { applyDecision, applyOutcome, beginRecord, type Schedule } from "./transitions.js";

export interface ProcessorDeps {
  ledger: Ledger;
  queues: PhaseQueues;
  /** Everything a phase needs but checkpoint, which the processor binds to the ledger. */
  context: Omit<PhaseContext, "checkpoint">;
  limits: RetryLimits;
  events: WorkerEvents;
  /**
   * Where this process keeps the records it hands over, so that the next phase's job, when it runs here,
   * starts from them instead of reading the ledger. @defaultValue none: every job reads the ledger
   */
  handovers?: HandoverCache;
}

function isCurrent(record: MigrationRecord, phase: PhaseName, job: Job<PhaseJobData>): boolean {
  return isInFlight(record) && record.phase === phase && record.generation === job.data.generation;
}

/**
 * The BullMQ processor of one phase: a thin adapter that loads the key's record, runs the phase, saves the
 * outcome to the ledger and then adds the next phase's job (deterministic id) before the job completes,
 * so a crash anywhere repeats at most one idempotent phase. Errors become BullMQ actions here and only here.
 */
export function createPhaseProcessor(phase: PhaseName, queueTarget: KmsTarget | string, deps: ProcessorDeps) {
  const { ledger, queues, context, limits, events, handovers } = deps;
  const target = toTarget(queueTarget);
  const { region, account } = target;
  const ended = (outcome: string, started: number) =>
    events.emit("phase:ended", { phase, region, account, outcome, durationMs: performance.now() - started });

  return async (job: Job<PhaseJobData>, token?: string): Promise<void> => {
    const started = performance.now();
    if (phase === "params" && !context.settings.paramsOnHsmHost) {
      // Just in time: no new token while the wrap backlog would outlast it (no KMS call, no attempt spent).
      const holdMs = await paramsHoldMs(queues, ledger, target, context.now(), limits.tokenSafetyMarginMs);
      if (holdMs > 0) {
        ended("hold", started);
        await queues.queue(phase, target).rateLimit(holdMs);
        throw Worker.RateLimitError();
      }
    }
    const stored =
      handovers?.take(job.data.migrationId, phase, job.data.generation) ??
      (await ledger.get(job.data.migrationId));
    if (!stored) {
      context.logger.warn(
        { migrationId: job.data.migrationId, phase },
        "job for a key the ledger does not know: dropped",
      );
      return;
    }
    let { record, rev } = stored;
    if (!isCurrent(record, phase, job)) {
      // A stale or repeated job (e.g. our handover was saved but the job add was lost, or the save was lost
      // and this job survived): make sure the job of the record's real phase runs, then finish. When that job
      // has already completed while the ledger still has the key in its phase, its save was lost: the phase
      // runs again (restartPhase).
      if (isInFlight(record)) {
        if (!(await queues.completedFor(record))) await queues.addFor(record);
        else
          await restartPhase(
            ledger,
            queues,
            { record, rev },
            context.now(),
            context.logger,
            "the ledger has this key in a phase whose job already completed (a save lost in a Redis failover)",
          );
      }
      ended("skip", started);
      return;
    }

    const save = async (next: MigrationRecord) => {
      if (next === record) return;
      rev = await ledger.save({ ...next, updatedAt: context.now().toISOString() }, rev);
      record = next;
    };
    const ctx: PhaseContext = { ...context, checkpoint: (patch) => save({ ...record, ...patch }) };
    // queued becomes in_progress with the phase's first write (a checkpoint or its outcome), not a write of
    // its own: one Redis round trip less per key.
    record = beginRecord(record);

    // What the state machine scheduled: the runner's only decisions are how to save and how to schedule.
    const carryOut = async (schedule: Schedule, failure?: MigrationError): Promise<void> => {
      switch (schedule.kind) {
        case "handover":
          await queues.addFor(record);
          handovers?.remember(record, rev);
          return;
        case "finished":
          events.emit("key:finished", {
            status: schedule.status,
            keySpec: record.sourceKey?.keySpec ?? "unknown",
            region,
            account,
          });
          if (failure) throw new UnrecoverableError(`${failure.code}: ${failure.message}`);
          return;
        case "again-later":
          await job.moveToDelayed(Date.now() + schedule.delayMs, token);
          throw new DelayedError();
        case "pause-queue":
          // Pause the whole queue (fleet-wide) and put the job back without spending an attempt.
          await queues.queue(phase, target).rateLimit(schedule.delayMs);
          throw Worker.RateLimitError();
      }
    };

    try {
      const outcome = await PHASE_FUNCTIONS[phase](ctx, record);
      const transition = applyOutcome(record, outcome, context.now());
      await save(transition.record);
      // Inside the try: a handover that could not be queued is retried like the phase (the repeated job
      // finds the record moved on and adds the next phase's job).
      await carryOut(transition.schedule);
      ended("success", started);
    } catch (thrown) {
      if (thrown instanceof LedgerConflictError) {
        ended("conflict", started);
        throw thrown;
      }
      const error = toMigrationError(thrown);
      const decision = decideAfterError(record, phase, error, limits, context.now());
      ended(decision.action, started);
      const transition = applyDecision(record, decision);
      await save(transition.record);
      observeDecision(deps, record, phase, target, error, decision);
      await carryOut(transition.schedule, error);
    }
  };
}

/** The events and log lines a decision after an error is seen by (the record is saved already). */
function observeDecision(
  { context, events }: ProcessorDeps,
  record: MigrationRecord,
  phase: PhaseName,
  { region, account }: KmsTarget,
  error: MigrationError,
  decision: AfterError,
): void {
  switch (decision.action) {
    case "fail":
      context.logger.warn(
        { migrationId: record.id, phase, code: error.code, kind: error.kind },
        error.message,
      );
      return;
    case "refresh":
      events.emit("token:refreshed", { reason: decision.reason, region, account });
      return;
    case "retry": {
      const line = retryLogLine(record, phase, error, decision.delayMs);
      context.logger.info(line.fields, line.message);
      return;
    }
    case "wait":
      events.emit("kms:not-visible", { operation: decision.operation, region, account });
      context.logger.info(
        { migrationId: record.id, phase, code: error.code, delayMs: decision.delayMs },
        "KMS does not show this campaign's change yet: looking again later",
      );
      return;
    case "throttle":
      return;
  }
}
