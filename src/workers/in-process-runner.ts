import { setTimeout as sleep } from "node:timers/promises";
import { toMigrationError } from "../shared/errors.js";
import type { MigrationRecord } from "../shared/migration.js";
import { decideAfterError, type RetryLimits } from "./outcomes.js";
import { PHASE_FUNCTIONS, type PhaseContext } from "./phases/index.js";
import { applyDecision, applyOutcome, giveUp, type Transition } from "./transitions.js";

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
  for (let step = 0; step < MAX_STEPS && record.status === "in_progress"; step++) {
    const phase = record.phase;
    if (phase === "done") break;
    let transition: Transition;
    let outcome = "success";
    try {
      const phaseOutcome = await PHASE_FUNCTIONS[phase](ctx, record);
      // After the await: the phase's checkpoints have changed `record` meanwhile.
      transition = applyOutcome(record, phaseOutcome, ctx.now());
    } catch (thrown) {
      const decision = decideAfterError(record, phase, toMigrationError(thrown), limits, ctx.now());
      transition = applyDecision(record, decision);
      outcome = decision.action;
    }
    record = transition.record;
    await hooks.onPhase?.(record, phase, outcome);
    const { schedule } = transition;
    if (schedule.kind === "again-later" || schedule.kind === "pause-queue") await sleep(schedule.delayMs);
  }
  const now = ctx.now();
  if (record.status === "in_progress" && record.phase !== "done")
    record = giveUp(
      record,
      record.phase,
      "TOO_MANY_STEPS",
      `gave up after ${MAX_STEPS} phase runs`,
      now,
    ).record;
  return { ...record, updatedAt: now.toISOString() };
}
