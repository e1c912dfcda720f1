import type { Job } from "bullmq";
import type { Logger } from "pino";
import { type Ledger, LedgerConflictError } from "../shared/ledger/index.js";
import { describeSource, isInFlight, type PhaseName } from "../shared/migration.js";
import type { PhaseJobData } from "../shared/queues.js";
import type { WorkerEvents } from "./events.js";
import { giveUp } from "./transitions.js";

/**
 * BullMQ gives a job up without running the processor when the workers running it died too often
 * (`maxStalledCount`: a crash, a SIGKILL, a lost lock, each time) or it was started too often
 * (`maxStartedAttempts`). No job of the key's phase is left then, so unless the ledger is told, the key stays
 * `in_progress` for ever and `worker --until-idle` exits 0. Called on every `failed` event: it acts only when
 * the job has really failed for good and the key's record still waits for this very job.
 */
export async function failAbandonedJob(
  deps: { ledger: Ledger; events: WorkerEvents; logger: Logger },
  phase: PhaseName,
  region: string,
  job: Job<PhaseJobData>,
  error: Error,
): Promise<void> {
  try {
    if (!(await job.isFailed())) return;
    const stored = await deps.ledger.get(job.data.migrationId);
    if (!stored) return;
    const { record, rev } = stored;
    if (!isInFlight(record) || record.phase !== phase || record.generation !== job.data.generation) return;
    const message = `${describeSource(record.source)}: the queue gave up the ${phase} job (${error.message}): the workers running it stopped too many times (crash, kill or lost lock); fix the cause, then run \`hsm2kms retry --failed\``;
    const now = new Date();
    const failed = giveUp(record, phase, "WORKER_LOST", message, now).record;
    await deps.ledger.save({ ...failed, updatedAt: now.toISOString() }, rev);
    deps.logger.warn({ migrationId: record.id, phase, code: "WORKER_LOST" }, message);
    deps.events.emit("key:finished", {
      status: "failed",
      keySpec: record.sourceKey?.keySpec ?? "unknown",
      region,
      account: record.account,
    });
  } catch (failure) {
    // Another worker moved the key on meanwhile (conflict): then it is not stuck. Anything else is logged.
    if (!(failure instanceof LedgerConflictError))
      deps.logger.error({ jobId: job.id, phase, err: String(failure) }, "could not record an abandoned job");
  }
}
