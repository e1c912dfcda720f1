import { type JobsOptions, Queue } from "bullmq";
import type { KmsQuotas } from "./kms-quotas.js";
import type { MigrationRecord, PhaseName } from "./migration.js";
import type { RedisConnection } from "./redis.js";
import { type KmsTarget, parseTargetName, targetName, targetOf } from "./targets.js";

/** What a phase job carries: only the key's id and generation. State lives in the ledger, never secrets here. */
export interface PhaseJobData {
  migrationId: string;
  generation: number;
}

/** The KMS operation whose quota bounds each KMS phase (a fleet-wide BullMQ limiter per queue). */
export const PHASE_KMS_OPERATION: Partial<Record<PhaseName, string>> = {
  create: "CreateKey",
  params: "GetParametersForImport",
  import: "ImportKeyMaterial",
  verify: "Sign",
};

/** The KMS operation that paces a phase: with HSM2KMS_PARAMS_ON_HSM_HOST, wrap calls GetParametersForImport. */
export function pacedOperation(phase: PhaseName, paramsOnHsmHost = false): string | undefined {
  if (!paramsOnHsmHost) return PHASE_KMS_OPERATION[phase];
  if (phase === "wrap") return PHASE_KMS_OPERATION.params;
  return phase === "params" ? undefined : PHASE_KMS_OPERATION[phase];
}

/**
 * Slack on the pacing interval. The limiter paces job starts; KMS meters requests a few milliseconds later,
 * with jitter. A bucket that holds a single request (quota 1/s) throttles any request that arrives early,
 * so it gets 2% slack; larger buckets absorb the jitter and need only a hair. Phases that are not the
 * migration's bottleneck (their quota is above the scarcest paced quota) run 10% under theirs: several
 * worker processes on busy hosts start their calls with enough jitter to bunch a few windows together, and
 * those phases lose no throughput by leaving KMS's bucket some room.
 */
function limiterSlack(rps: number, bottleneck: boolean): number {
  if (!bottleneck) return 1.1;
  return rps < 2 ? 1.02 : 1.005;
}

/** The lowest quota among the operations that pace phases: the one that sets the migration's pace. */
function scarcestPacedQuota(quotas: KmsQuotas): number {
  const paced = Object.values(PHASE_KMS_OPERATION).map((operation) => quotas[operation ?? ""]);
  return Math.min(...paced.filter((rps): rps is number => rps !== undefined && rps > 0));
}

/**
 * The fleet-wide rate limit of a phase's queue, from the quota of its KMS operation, paced in half-second windows
 * rather than one-second bursts: a burst at each second's start would meet KMS's token bucket before it
 * refilled, since the KMS call comes a little after the job starts.
 */
export function phaseLimiter(
  phase: PhaseName,
  quotas: KmsQuotas,
  paramsOnHsmHost = false,
): { max: number; duration: number } | undefined {
  const operation = pacedOperation(phase, paramsOnHsmHost);
  const rps = operation ? quotas[operation] : undefined;
  if (!rps) return undefined;
  // Windows of about half a second: each costs the limiter a few milliseconds of wake-up, so several jobs
  // per window once the quota allows it, while a window's burst stays half of KMS's one-second bucket.
  const perWindow = Math.max(1, Math.floor(rps / 2));
  const slack = limiterSlack(rps, rps <= scarcestPacedQuota(quotas));
  return { max: perWindow, duration: Math.ceil((1000 * perWindow * slack) / rps) };
}

/**
 * Queue name of a phase for a target: `<phase>-<region>` for the caller's own account (a bare Region is
 * that), `<phase>-<account>-<region>` for another account, so that each account and Region is paced by its
 * own limiter, as KMS meters it.
 */
export function queueName(phase: PhaseName, target: KmsTarget | string): string {
  return `${phase}-${targetName(target)}`;
}

/** The phase and target of a {@link queueName} (phase names hold no `-`; Regions and accounts may). */
export function parseQueueName(name: string): { phase: PhaseName; target: KmsTarget } {
  const dash = name.indexOf("-");
  return { phase: name.slice(0, dash) as PhaseName, target: parseTargetName(name.slice(dash + 1)) };
}

/**
 * BullMQ prefix of a phase queue. The braces are a Redis Cluster hash tag: every key of one queue lands in
 * one slot (BullMQ's scripts touch several keys of a queue at once), while different queues spread out.
 */
export function bullPrefix(prefix: string, phase: PhaseName, target: KmsTarget | string): string {
  return `${prefix}:{${queueName(phase, target)}}`;
}

/**
 * Name of a campaign's renewal queue: `renew` carries the scheduled sweep (one BullMQ job scheduler per
 * campaign), `renew-<target>` (as queueName names targets) one job per key due in that account and Region.
 */
export function renewQueueName(target?: KmsTarget | string): string {
  return target === undefined ? "renew" : `renew-${targetName(target)}`;
}

/** BullMQ prefix of a renewal queue, with the same hash-tag convention as `bullPrefix`: `<prefix>:{renew-<region>}`. */
export function renewBullPrefix(prefix: string, target?: KmsTarget | string): string {
  return `${prefix}:{${renewQueueName(target)}}`;
}

/** Deterministic job id of a key's phase: adding it twice adds nothing. No ':' and never all digits. */
export function phaseJobId(record: Pick<MigrationRecord, "id" | "generation">, phase: PhaseName): string {
  return `${record.id}-${phase}-g${record.generation}`;
}

/** Job options for phase jobs: retention bounded, a few attempts for infrastructure failures only. */
export const PHASE_JOB_OPTIONS: JobsOptions = {
  // Phase errors are handled through the ledger; these attempts only cover a lost Redis connection and similar.
  attempts: 5,
  backoff: { type: "exponential", delay: 2000 },
  removeOnComplete: { age: 3600, count: 20_000 },
  removeOnFail: { age: 7 * 86_400 },
};

/** The phase queues of one deployment (prefix), created on demand per phase and target (account, Region). */
export class PhaseQueues {
  private readonly queues = new Map<string, Queue<PhaseJobData>>();

  /**
   * @param onError Where the queues' connection errors go. Without a listener BullMQ prints each one as a
   * multi-line stack trace on stderr, outside the JSON log. @defaultValue ignored
   */
  constructor(
    private readonly connection: RedisConnection,
    readonly prefix: string,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  /** The queue of a phase for a target (a bare Region: the caller's own account there). */
  queue(phase: PhaseName, target: KmsTarget | string): Queue<PhaseJobData> {
    const name = queueName(phase, target);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue<PhaseJobData>(name, {
        connection: this.connection,
        prefix: bullPrefix(this.prefix, phase, target),
      });
      queue.on("error", this.onError);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Adds the job of the record's current phase (a no-op if it exists). */
  async addFor(record: MigrationRecord): Promise<void> {
    if (record.phase === "done") return;
    await this.queue(record.phase, targetOf(record)).add(
      record.phase,
      { migrationId: record.id, generation: record.generation },
      { ...PHASE_JOB_OPTIONS, jobId: phaseJobId(record, record.phase) },
    );
  }

  /** Whether a phase's queue for a target holds any job still to run (waiting, running, delayed), fleet-wide. */
  async hasJobs(phase: PhaseName, target: KmsTarget | string): Promise<boolean> {
    const counts = await this.queue(phase, target).getJobCounts(
      "waiting",
      "active",
      "delayed",
      "prioritized",
      "waiting-children",
    );
    return Object.values(counts).some((count) => count > 0);
  }

  /** Whether the job of the record's current phase (this generation) has already completed. */
  async completedFor(record: MigrationRecord): Promise<boolean> {
    if (record.phase === "done") return false;
    const job = await this.queue(record.phase, targetOf(record)).getJob(phaseJobId(record, record.phase));
    return job ? await job.isCompleted() : false;
  }

  /** Adds the current-phase jobs of many records, grouped per queue, with addBulk. */
  async addManyFor(records: MigrationRecord[]): Promise<void> {
    const groups = new Map<string, MigrationRecord[]>();
    for (const record of records) {
      if (record.phase === "done") continue;
      const name = queueName(record.phase, targetOf(record));
      groups.set(name, [...(groups.get(name) ?? []), record]);
    }
    for (const group of groups.values()) {
      const first = group[0]!;
      const phase = first.phase as PhaseName;
      await this.queue(phase, targetOf(first)).addBulk(
        group.map((record) => ({
          name: phase,
          data: { migrationId: record.id, generation: record.generation },
          opts: { ...PHASE_JOB_OPTIONS, jobId: phaseJobId(record, phase) },
        })),
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}
