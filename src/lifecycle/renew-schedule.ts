import { DelayedError, Queue, Worker } from "bullmq";
import type { Logger } from "pino";
import type { Config } from "../shared/config.js";
import { formatDuration } from "../shared/durations.js";
import type { Ledger } from "../shared/ledger/index.js";
import type { MigrationRecord } from "../shared/migration.js";
import { type PhaseQueues, phaseLimiter, renewBullPrefix, renewQueueName } from "../shared/queues.js";
import type { RedisConnection } from "../shared/redis.js";
import { describeTarget, type KmsTarget, targetName, targetOf } from "../shared/targets.js";
import { paramsPhase } from "../workers/phases/params.js";
import { hasExpiringMaterial, type RenewalDeps, type RenewLine, renewKey } from "./renew-key.js";

/** What a key's renewal job carries: only the migration id (state and claim live in the ledger). */
interface RenewJobData {
  migrationId: string;
}

/** The campaign's one job scheduler id: every worker host upserts the same one, so there is only ever one. */
export function renewSchedulerId(prefix: string): string {
  return `renew-${prefix}`;
}

/** Due for the scheduled renewal: ValidTo (the ledger's) within `beforeMs`, or a renewal left unfinished. */
export function dueForRenewal(record: MigrationRecord, nowMs: number, beforeMs: number): boolean {
  if (!hasExpiringMaterial(record)) return false;
  return !!record.renewalClaim || Date.parse(record.request.expiresAt ?? "") - nowMs <= beforeMs;
}

/** When the campaign's scheduled renewal runs next (undefined: no worker serving `renew` has registered it). */
export async function nextScheduledRenewal(
  connection: RedisConnection,
  prefix: string,
): Promise<Date | undefined> {
  const queue = new Queue(renewQueueName(), { connection, prefix: renewBullPrefix(prefix) });
  try {
    const scheduler = await queue.getJobScheduler(renewSchedulerId(prefix));
    return scheduler?.next ? new Date(scheduler.next) : undefined;
  } finally {
    await queue.close();
  }
}

/**
 * Whether a key's renewal waits for the migration: a renewal spends one GetParametersForImport, as each key of
 * the migration does, and both are paced at that quota by limiters of their own (a BullMQ limiter guards one
 * queue), so running together in one account and Region they would ask KMS for twice it. While the migration has
 * that work queued there, a renewal waits unless its material expires within half of HSM2KMS_RENEW_BEFORE (7 of
 * the default 14 days): a renewal already under way (its claim in the ledger) and an urgent one run at once.
 */
export function renewalYields(
  record: MigrationRecord | undefined,
  migrationBusy: boolean,
  nowMs: number,
  beforeMs: number,
): boolean {
  if (!migrationBusy || !record || record.renewalClaim) return false;
  const validTo = Date.parse(record.request.expiresAt ?? "");
  return Number.isFinite(validTo) && validTo - nowMs > beforeMs / 2;
}

/** How long a renewal that yields to the migration waits before it looks again. */
const RENEWAL_YIELD_MS = 60_000;

/** How long one reading of a migration's queued GetParametersForImport work stands for the renewals of its target. */
const MIGRATION_BUSY_TTL_MS = 5_000;

export interface RenewalScheduleOptions {
  config: Config;
  connection: RedisConnection;
  ledger: Ledger;
  /** The migration's phase queues (whose GetParametersForImport work renewals make way for). */
  queues: PhaseQueues;
  /** The phases' context on this HSM host (its HSM share for wrap), their retry caps. */
  deps: Omit<RenewalDeps, "ledger">;
  logger: Logger;
  onError: (source: string) => (error: Error) => void;
  /** How long a renewal that yields to the migration waits. @defaultValue 60 s */
  yieldMs?: number;
}

export interface RenewalSchedule {
  /** Starts this host's renewal worker for a target, an account's Region (idempotent). */
  serve(target: KmsTarget): void;
  close(force?: boolean): Promise<void>;
}

function logLine(logger: Logger, line: RenewLine): void {
  const fields = {
    source: line.source,
    region: line.region,
    ...(line.account === undefined ? {} : { account: line.account }),
    keyId: line.keyId,
    validTo: line.validTo,
  };
  const text = `renewal ${line.result}: ${line.source} (${describeTarget(line)}, KMS key ${line.keyId}): ${line.detail}`;
  if (line.result === "failed")
    logger.error({ ...fields, urgent: line.urgent }, line.urgent ? `URGENT ${text}` : text);
  else if (line.result !== "not-due") logger.info({ ...fields, newValidTo: line.newValidTo }, text);
}

/**
 * The scheduled renewal on an HSM host (`hsm2kms worker` serving `renew`): upserts the campaign's one BullMQ
 * job scheduler (every HSM2KMS_RENEW_INTERVAL), whose sweep adds one job per key due to `renew-<region>` (`renew-<account>-<region>` for another account's keys)
 * (deterministic job ids: two sweeps add it once), and serves those jobs, paced fleet-wide at the Region's
 * GetParametersForImport quota as the migration's params queue is. Each job does what `hsm2kms renew
 * --before HSM2KMS_RENEW_BEFORE` does for its key, claimed in the ledger; a job whose worker died is taken up
 * again after HSM2KMS_JOB_LOCK and finishes the same renewal.
 */
export async function startRenewalSchedule(options: RenewalScheduleOptions): Promise<RenewalSchedule> {
  const { config, connection, ledger, logger } = options;
  const prefix = config.queuePrefix;
  const request = { beforeMs: config.renewBeforeMs, renewForMs: config.renewForMs, dryRun: false };
  const keyQueues = new Map<string, Queue<RenewJobData>>();
  const workers = new Map<string, Worker>();
  const keyQueue = (target: KmsTarget) => {
    const name = targetName(target);
    let queue = keyQueues.get(name);
    if (!queue) {
      queue = new Queue<RenewJobData>(renewQueueName(target), {
        connection,
        prefix: renewBullPrefix(prefix, target),
      });
      queue.on("error", options.onError(renewQueueName(target)));
      keyQueues.set(name, queue);
    }
    return queue;
  };

  const sweep = async () => {
    const now = Date.now();
    let due = 0;
    for await (const record of ledger.records()) {
      if (!dueForRenewal(record, now, config.renewBeforeMs)) continue;
      due++;
      // Removed once done, so that the next sweep can add the key again if it is still due (a failure).
      await keyQueue(targetOf(record)).add(
        "renew",
        { migrationId: record.id },
        {
          jobId: `${record.id}-renew`,
          removeOnComplete: true,
          removeOnFail: true,
          attempts: 3,
          backoff: { type: "exponential", delay: 2000 },
        },
      );
    }
    if (due > 0) logger.info({ due }, "scheduled renewal: keys due queued");
    return { due };
  };

  const workerOptions = {
    connection,
    lockDuration: config.jobLockMs,
    stalledInterval: Math.max(1000, Math.round(config.jobLockMs / 4)),
    maxStalledCount: 2,
  };
  const sweepQueue = new Queue(renewQueueName(), { connection, prefix: renewBullPrefix(prefix) });
  sweepQueue.on("error", options.onError(renewQueueName()));
  await sweepQueue.upsertJobScheduler(
    renewSchedulerId(prefix),
    { every: config.renewIntervalMs },
    { name: "sweep", opts: { removeOnComplete: { count: 50 }, removeOnFail: { count: 50 } } },
  );
  const sweeper = new Worker(renewQueueName(), sweep, {
    ...workerOptions,
    prefix: renewBullPrefix(prefix),
    concurrency: 1,
  });
  sweeper.on("error", options.onError(renewQueueName()));
  workers.set(renewQueueName(), sweeper);

  // One GetParametersForImport per renewal: paced as the migration paces that operation, per account and Region,
  // and out of its way while it has that work queued (renewalYields).
  const phase = paramsPhase(config);
  const limiter = phaseLimiter(phase, config.kmsQuotas, config.paramsOnHsmHost);
  const yieldMs = options.yieldMs ?? RENEWAL_YIELD_MS;
  const busyReadings = new Map<string, { at: number; busy: Promise<boolean> }>();
  const migrationBusy = (target: KmsTarget): Promise<boolean> => {
    const name = targetName(target);
    const reading = busyReadings.get(name);
    if (reading && Date.now() - reading.at < MIGRATION_BUSY_TTL_MS) return reading.busy;
    const busy = options.queues.hasJobs(phase, target);
    busy.catch(() => busyReadings.delete(name));
    busyReadings.set(name, { at: Date.now(), busy });
    return busy;
  };
  const yielding = new Set<string>();
  const serve = (target: KmsTarget) => {
    const name = targetName(target);
    if (workers.has(name)) return;
    const worker = new Worker<RenewJobData>(
      renewQueueName(target),
      async (job, token) => {
        // The record is read only while the migration is busy there (renewKey reads it anyway).
        const busy = await migrationBusy(target);
        const record = busy ? (await ledger.get(job.data.migrationId))?.record : undefined;
        const now = options.deps.context.now().getTime();
        if (renewalYields(record, busy, now, config.renewBeforeMs)) {
          if (!yielding.has(name))
            logger.info(
              { target: name },
              `scheduled renewal: waiting while the migration in ${describeTarget(target)} uses the GetParametersForImport quota (material expiring within ${formatDuration(config.renewBeforeMs / 2)} renews at once)`,
            );
          yielding.add(name);
          await job.moveToDelayed(Date.now() + yieldMs, token);
          throw new DelayedError();
        }
        yielding.delete(name);
        const line = await renewKey(
          { ...options.deps, ledger },
          job.data.migrationId,
          request,
          `job-${prefix}-${job.id}`,
        );
        if (line) logLine(logger, line);
        return line?.result;
      },
      {
        ...workerOptions,
        prefix: renewBullPrefix(prefix, target),
        concurrency: config.hsmConcurrency,
        ...(limiter ? { limiter } : {}),
      },
    );
    worker.on("error", options.onError(renewQueueName(target)));
    workers.set(name, worker);
  };

  return {
    serve,
    close: async (force = false) => {
      await Promise.all([...workers.values()].map((worker) => worker.close(force)));
      await Promise.all([sweepQueue, ...keyQueues.values()].map((queue) => queue.close()));
    },
  };
}
