import type { Logger } from "pino";
import { type Ledger, LedgerConflictError, type StoredRecord } from "../shared/ledger/index.js";
import { isInFlight, type MigrationRecord, type PhaseName } from "../shared/migration.js";
import { type PhaseQueues, queueName } from "../shared/queues.js";
import { targetOf } from "../shared/targets.js";

/**
 * Runs a key's current phase again under a new generation (new job ids), as a token refresh does: for a key
 * the ledger has in a phase no job will run, because the job of that phase has already run or is gone. Redis
 * replicates asynchronously, so a failover to a replica that had not received the last writes loses them: a
 * phase's save can be lost while its job completed, or a job lost while the ledger moved on (the ledger and
 * each queue live in different hash slots, often on different nodes). The phase then runs again, as after a
 * worker killed before its save; every phase is written to be run again. False when the key moved meanwhile.
 */
export async function restartPhase(
  ledger: Ledger,
  queues: PhaseQueues,
  stored: StoredRecord,
  now: Date,
  logger: Logger,
  why: string,
): Promise<boolean> {
  const next: MigrationRecord = {
    ...stored.record,
    generation: stored.record.generation + 1,
    updatedAt: now.toISOString(),
  };
  try {
    await ledger.save(next, stored.rev);
  } catch (error) {
    // Someone moved the key on meanwhile: its own handover added what comes next.
    if (error instanceof LedgerConflictError) return false;
    throw error;
  }
  logger.warn(
    { migrationId: next.id, phase: next.phase, generation: next.generation },
    `${why}: running the phase again`,
  );
  await queues.addFor(next);
  return true;
}

/** How many times one process restarts one key's phase before it leaves the key to an operator. */
const MAX_RESTARTS_PER_KEY = 3;

/**
 * Finds the keys that no job will ever run and restarts their phase: keys the ledger has queued or in progress
 * in a phase whose queue (one this worker serves) has no job at all, fleet-wide. Called only when those queues
 * are empty, so every such key is stranded (a save or a job lost in a Redis failover, an enqueue that died
 * between the ledger and the queue). Reads the ledger only while its counters show keys queued or in progress.
 */
export class StrandedKeys {
  private readonly restarts = new Map<string, number>();

  constructor(
    private readonly ledger: Ledger,
    private readonly queues: PhaseQueues,
    private readonly logger: Logger,
  ) {}

  /** Restarts the stranded keys whose phase queue is in `served` (queue names); returns how many. */
  async resume(served: ReadonlySet<string>, now: () => Date): Promise<number> {
    const { byStatus } = await this.ledger.counts();
    if ((byStatus["queued"] ?? 0) + (byStatus["in_progress"] ?? 0) === 0) return 0;
    const stranded: string[] = [];
    for await (const record of this.ledger.records())
      if (isLive(record) && served.has(queueName(record.phase, targetOf(record)))) stranded.push(record.id);
    let resumed = 0;
    for (const id of stranded) {
      const stored = await this.ledger.get(id);
      if (!stored || !isLive(stored.record)) continue;
      const count = this.restarts.get(id) ?? 0;
      if (count >= MAX_RESTARTS_PER_KEY) {
        if (count === MAX_RESTARTS_PER_KEY)
          this.logger.error(
            { migrationId: id, phase: stored.record.phase },
            `no job runs this key and restarting its phase ${MAX_RESTARTS_PER_KEY} times did not move it: left as it is; hsm2kms status and report show it in progress`,
          );
        this.restarts.set(id, count + 1);
        continue;
      }
      this.restarts.set(id, count + 1);
      const why =
        "no job runs this key: its phase's queue is empty (a save or a job lost, as in a Redis failover)";
      if (await restartPhase(this.ledger, this.queues, stored, now(), this.logger, why)) resumed++;
    }
    return resumed;
  }
}

function isLive(record: MigrationRecord): record is MigrationRecord & { phase: PhaseName } {
  return isInFlight(record) && record.phase !== "done";
}
