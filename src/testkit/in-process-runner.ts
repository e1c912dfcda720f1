import { setTimeout as sleep } from "node:timers/promises";
import { toMigrationError } from "../shared/errors.js";
import type { MigrationRecord } from "../shared/migration.js";
import { decideAfterError, type RetryLimits } from "../workers/outcomes.js";
import { PHASE_FUNCTIONS, type PhaseContext } from "../workers/phases/index.js";

export interface InProcessHooks {
  /** After each phase ran (success or error), with the record as it then stands. */
  onPhase?: (record: MigrationRecord, phase: string, outcome: string) => void | Promise<void>;
}

/** Handover cap: no key runs more phases than this (token refreshes and retries included). */
const MAX_STEPS = 200;

/**
 * Runs one key through every phase in this process, without queues: the same phase functions and the same
 * error decisions as the BullMQ workers. For small runs, tests and the benchmark baseline.
 */
export async function runMigrationInProcess(
  baseContext: Omit<PhaseContext, "checkpoint">,
  initial: MigrationRecord,
  limits: RetryLimits,
  hooks: InProcessHooks = {},
): Promise<MigrationRecord> {
  let record: MigrationRecord = { ...initial, status: "in_progress" };
  const ctx: PhaseContext = {
    ...baseContext,
    checkpoint: async (patch) => {
      record = { ...record, ...patch, updatedAt: baseContext.now().toISOString() };
    },
  };
  for (let step = 0; step < MAX_STEPS && record.phase !== "done" && record.status !== "failed"; step++) {
    const phase = record.phase;
    try {
      const outcome = await PHASE_FUNCTIONS[phase](ctx, record);
      record = {
        ...record,
        ...outcome.patch,
        phase: outcome.next,
        phaseAttempts: 0,
        visibilityWait: undefined,
        attempts: record.attempts + 1,
      };
      await hooks.onPhase?.(record, phase, "success");
    } catch (thrown) {
      const decision = decideAfterError(record, phase, toMigrationError(thrown), limits, ctx.now());
      await hooks.onPhase?.(record, phase, decision.action);
      if (decision.action === "fail") record = { ...record, ...decision.patch };
      else if (decision.action === "refresh")
        record = { ...record, ...decision.outcome.patch, phase: decision.outcome.next, phaseAttempts: 0 };
      else if (decision.action === "retry" || decision.action === "wait") {
        record = { ...record, ...decision.patch };
        await sleep(decision.delayMs);
      } else await sleep(decision.delayMs);
    }
  }
  const now = ctx.now().toISOString();
  if (record.phase === "done")
    return { ...record, status: "migrated", error: undefined, completedAt: now, updatedAt: now };
  if (record.status !== "failed")
    return {
      ...record,
      status: "failed",
      error: {
        code: "TOO_MANY_STEPS",
        kind: "fatal",
        phase: record.phase,
        message: `gave up after ${MAX_STEPS} phase runs`,
        at: now,
      },
    };
  return record;
}
