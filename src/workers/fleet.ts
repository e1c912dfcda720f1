import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "bullmq";
import type { Logger } from "pino";
import { type RenewalSchedule, startRenewalSchedule } from "../lifecycle/renew-schedule.js";
import { type Config, redactUrl } from "../shared/config.js";
import { fatal } from "../shared/errors.js";
import { HsmSlots, hsmLane } from "../shared/hsm/hsm-share.js";
import type { HsmPort } from "../shared/hsm/types.js";
import type { KmsPort } from "../shared/kms/types.js";
import { CampaignWatch, Ledger } from "../shared/ledger/index.js";
import { HSM_PHASES, type PhaseName } from "../shared/migration.js";
import { bullPrefix, type PhaseJobData, PhaseQueues, phaseLimiter, queueName } from "../shared/queues.js";
import { type RedisConnection, RedisTimeoutError, withRedisTimeout } from "../shared/redis.js";
import { isConnectionError, RedisOutageLog } from "../shared/redis-outage.js";
import { type KmsTarget, targetName } from "../shared/targets.js";
import { failAbandonedJob } from "./abandoned-jobs.js";
import { WorkerEvents } from "./events.js";
import { fleetKmsPorts } from "./fleet-kms.js";
import { HandoverCache } from "./handover-cache.js";
import { VISIBILITY_WAIT_BUDGET } from "./outcomes.js";
import { phaseConcurrency } from "./pacing.js";
import { createPhaseProcessor } from "./processor.js";
import { phaseSettingsOf, retryLimitsOf } from "./settings.js";
import { StrandedKeys } from "./stranded.js";

/** How long forcing the workers closed, then closing the queues, may take after the deadline. */
const FORCED_CLOSE_MS = 1000;

/** How often a long-running worker whose queues are all empty looks for keys no job runs (StrandedKeys). */
const STRANDED_CHECK_MS = 60_000;

export interface FleetOptions {
  config: Config;
  /** Phases this process runs. */
  phases: PhaseName[];
  /**
   * Also run the campaign's scheduled renewal of expiring material (`renew` in `--phases`): upsert its job
   * scheduler and serve its jobs. Needs the HSM. @defaultValue false
   */
  renew?: boolean;
  /**
   * Regions to serve (every account's keys there); default: every Region in the ledger (re-read while
   * running), else AWS_REGION.
   */
  regions?: string[] | undefined;
  /** Exit once this process's queues are empty. */
  untilIdle?: boolean;
  /** The HSM, required when `phases` includes an HSM phase. */
  hsm?: HsmPort | undefined;
  /** Redis connection for queues and ledger (BullMQ needs maxRetriesPerRequest: null). */
  connection: RedisConnection;
  logger: Logger;
  events?: WorkerEvents;
  /** Version written into provenance tags. */
  toolVersion: string;
  /** KMS credentials override (tests and the sandbox); default: the SDK's chain. */
  kmsCredentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** How often to look for new Regions and for idleness. @defaultValue 500 */
  pollMs?: number;
  /** How often to look at the campaign marker (and at once when Redis is back). @defaultValue 2000 */
  campaignCheckMs?: number;
  /** Where Redis errors go, one line per outage; default: a log of the fleet's own. */
  outage?: RedisOutageLog;
}

export interface Fleet {
  events: WorkerEvents;
  /** Resolves when the fleet has stopped (idle with untilIdle, or after close()). */
  stopped: Promise<void>;
  /** Stops taking work, lets running phases finish within `deadlineMs`, then forces. */
  close(deadlineMs?: number): Promise<void>;
  /** Regions served so far. */
  regions(): string[];
  /** Targets (account, Region) served so far. */
  targets(): KmsTarget[];
  /**
   * Why the fleet stopped on its own, if not idle or asked: the campaign's ledger was lost
   * (CampaignLostError), or Redis did not answer within HSM2KMS_REDIS_TIMEOUT under --until-idle.
   */
  failure(): Error | undefined;
  /** Whether this fleet has seen its campaign's marker (enqueue writes it). */
  sawCampaign(): boolean;
}

/** Starts one BullMQ worker per (phase, Region) with the phase's concurrency and fleet-wide rate limit. */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { config, connection, logger } = options;
  const events = options.events ?? new WorkerEvents(logger);
  const ledger = new Ledger(connection, config.queuePrefix);
  const queues = new PhaseQueues(connection, config.queuePrefix, (error) => onError("queue")(error));
  const workers = new Map<string, Worker<PhaseJobData>>();
  /** The target each served queue (by name) belongs to. */
  const served = new Map<string, { phase: PhaseName; target: KmsTarget }>();
  const pollMs = options.pollMs ?? 500;
  const campaignCheckMs = options.campaignCheckMs ?? 2000;
  const redisUrl = redactUrl(config.redisUrl);
  const outage = options.outage ?? new RedisOutageLog(logger, redisUrl);
  if (!options.outage) connection.on("ready", () => outage.recovered());
  // A connection failure is an outage (one line); anything else a worker reports is logged as it comes.
  const onError = (source: string) => (error: Error) => {
    if (isConnectionError(error)) outage.error(error, source);
    else logger.error({ queue: source, err: error.message }, "worker error");
  };
  const campaign = new CampaignWatch(connection, config.queuePrefix);
  let failure: Error | undefined;
  const bounded = <T>(work: Promise<T>) =>
    withRedisTimeout(work, { url: redisUrl, timeoutMs: config.redisTimeoutMs });
  if (options.phases.some((phase) => HSM_PHASES.includes(phase)) && !options.hsm)
    throw fatal(
      "HSM_NOT_CONFIGURED",
      "HSM phases (preflight, wrap) need HSM2KMS_PKCS11_LIB, HSM2KMS_TOKEN_LABEL and a PIN on this host",
    );

  const kmsPorts = fleetKmsPorts({ config, logger, events, kmsCredentials: options.kmsCredentials });
  const kms = (region: string, account?: string): KmsPort => kmsPorts.portFor(region, account);
  const context = {
    hsm: () => {
      if (!options.hsm) throw fatal("HSM_NOT_CONFIGURED", "this worker has no HSM configured");
      return options.hsm;
    },
    kms,
    lookup: async (id: string) => (await ledger.get(id))?.record,
    now: () => new Date(),
    randomBytes,
    logger,
    settings: phaseSettingsOf(config, options.toolVersion),
  };
  // preflight's and wrap's workers may each run hsmConcurrency jobs, the sessions the HSM has in all: they
  // share the sessions fairly, so that neither phase's queue keeps the other's calls waiting.
  const hsmSlots = new HsmSlots<PhaseName>(config.hsmConcurrency);
  const hsmLanes = new Map<PhaseName, HsmPort>();
  const contextFor = (phase: PhaseName) => {
    const hsm = options.hsm;
    if (!hsm || !HSM_PHASES.includes(phase)) return context;
    let lane = hsmLanes.get(phase);
    if (!lane) {
      lane = hsmLane(hsm, hsmSlots, phase);
      hsmLanes.set(phase, lane);
    }
    const port = lane;
    return { ...context, hsm: () => port };
  };
  const limits = retryLimitsOf(config);
  if (options.renew && !options.hsm)
    throw fatal(
      "HSM_NOT_CONFIGURED",
      "the scheduled renewal (renew) wraps in the HSM: it needs the HSM settings",
    );
  // Renewals wrap through wrap's share of the HSM's sessions.
  const renewal: RenewalSchedule | undefined = options.renew
    ? await startRenewalSchedule({
        config,
        connection,
        ledger,
        queues,
        deps: { context: contextFor("wrap"), limits },
        logger,
        onError,
      })
    : undefined;
  // A phase that hands a key over to the next keeps its record, so the next phase's job here need not read it.
  const handovers = new HandoverCache();

  // One worker per phase and target: each account-Region queue has its own limiter, as KMS meters quotas.
  const serve = (target: KmsTarget) => {
    const { region, account } = target;
    renewal?.serve(target);
    const started: PhaseName[] = [];
    for (const phase of options.phases) {
      const name = queueName(phase, target);
      if (workers.has(name)) continue;
      started.push(phase);
      const limiter = phaseLimiter(phase, config.kmsQuotas, config.paramsOnHsmHost);
      const worker = new Worker<PhaseJobData>(
        name,
        createPhaseProcessor(phase, target, {
          ledger,
          queues,
          context: contextFor(phase),
          limits,
          events,
          handovers,
        }),
        {
          connection,
          prefix: bullPrefix(config.queuePrefix, phase, target),
          concurrency: phaseConcurrency(phase, config),
          ...(limiter ? { limiter } : {}),
          lockDuration: config.jobLockMs,
          stalledInterval: Math.max(1000, Math.round(config.jobLockMs / 4)),
          maxStalledCount: 2,
          // Looks for a change KMS does not show yet also restart the job (bounded per phase).
          maxStartedAttempts: config.maxAttempts * 4 + VISIBILITY_WAIT_BUDGET + 1,
        },
      );
      worker.on("error", onError(name));
      worker.on("failed", (job, error) => {
        if (job) void failAbandonedJob({ ledger, events, logger }, phase, region, job, error);
      });
      workers.set(name, worker);
      served.set(name, { phase, target });
    }
    if (started.length > 0) events.emit("region:served", { region, account, phases: started });
  };

  // The caller's own account in each Region, and every other account's Regions, as the ledger knows them.
  const discoverTargets = async (): Promise<KmsTarget[]> => {
    const known = await ledger.targets();
    if (options.regions?.length) {
      const wanted = new Set(options.regions);
      const others = known.filter((target) => target.account !== undefined && wanted.has(target.region));
      return [...options.regions.map((region) => ({ region })), ...others];
    }
    return known.length > 0 ? known : config.region ? [{ region: config.region }] : [];
  };

  const isIdle = async (): Promise<boolean> => {
    for (const { phase, target } of served.values()) if (await queues.hasJobs(phase, target)) return false;
    return true;
  };

  let stopping = false;
  const close = async (deadlineMs = 30_000) => {
    if (stopping) return;
    stopping = true;
    const graceful = Promise.all([
      ...[...workers.values()].map((worker) => worker.close()),
      renewal?.close(),
    ]);
    // An unref'd timer: a graceful close must not keep the process alive until the deadline.
    const timedOut = await Promise.race([
      graceful.then(() => false),
      sleep(deadlineMs, true, { ref: false }),
    ]);
    if (timedOut) {
      logger.warn(
        { deadlineMs },
        "running phases did not finish before the deadline: forcing; their jobs will be picked up again",
      );
      // Forcing, and closing the queues, wait for Redis; while it does not answer they would wait for ever.
      await Promise.race([
        Promise.all([...[...workers.values()].map((worker) => worker.close(true)), renewal?.close(true)]),
        sleep(FORCED_CLOSE_MS, undefined, { ref: false }),
      ]);
    }
    await Promise.race([queues.close(), sleep(FORCED_CLOSE_MS, undefined, { ref: false })]);
    kmsPorts.close();
  };

  /** Stops taking work at once: the campaign is lost, or Redis is gone under --until-idle. */
  const giveUp = async (error: Error) => {
    failure = error;
    logger.error(
      { err: error.message },
      error instanceof RedisTimeoutError
        ? "Redis does not answer: stopping"
        : "campaign lost: stopping every worker",
    );
    await close(0);
  };

  let lastCampaignCheck = 0;
  connection.on("ready", () => {
    lastCampaignCheck = 0;
  });
  const watchCampaign = async () => {
    if (Date.now() - lastCampaignCheck < campaignCheckMs) return;
    const reading = await bounded(campaign.check());
    lastCampaignCheck = Date.now();
    if (reading.kind === "lost") await giveUp(reading.error);
  };

  // Keys no job runs (a save or a job lost in a Redis failover): restarted when this worker's queues are empty.
  const stranded = new StrandedKeys(ledger, queues, logger);
  const resumeStranded = () => stranded.resume(new Set(served.keys()), () => new Date());
  let lastStrandedCheck = performance.now();

  for (const target of await bounded(discoverTargets())) serve(target);
  const stopped = (async () => {
    let idleChecks = 0;
    let lastPhaseEnded = Number.NEGATIVE_INFINITY;
    events.on("phase:ended", () => {
      lastPhaseEnded = performance.now();
    });
    while (!stopping) {
      await sleep(pollMs);
      if (stopping) break;
      try {
        await watchCampaign();
        if (stopping) break;
        for (const target of await bounded(discoverTargets())) serve(target);
        // Redis answered: an outage that ended without a reconnect (a slow or paused server) is over.
        outage.recovered();
        // A phase ended since the last look: not idle, known without asking every queue (a round trip each).
        const busy = performance.now() - lastPhaseEnded < pollMs;
        if (!options.untilIdle) {
          if (busy || performance.now() - lastStrandedCheck < STRANDED_CHECK_MS) continue;
          lastStrandedCheck = performance.now();
          if (await bounded(isIdle())) await bounded(resumeStranded());
          continue;
        }
        idleChecks = !busy && (await bounded(isIdle())) ? idleChecks + 1 : 0;
        // Idle, but the ledger may hold keys that no job runs: run them before calling the campaign done here.
        if (idleChecks >= 2 && (await bounded(resumeStranded())) > 0) idleChecks = 0;
        if (idleChecks >= 2) await close();
      } catch (error) {
        idleChecks = 0;
        // --until-idle is a command someone waits for: past HSM2KMS_REDIS_TIMEOUT it fails rather than hang.
        if (options.untilIdle && error instanceof RedisTimeoutError) {
          await giveUp(error);
          break;
        }
        // Redis away (a failover, a restart): the workers reconnect on their own; so does this loop.
        outage.error(error, "fleet");
      }
    }
  })();

  return {
    events,
    stopped,
    close,
    regions: () => [...new Set([...served.values()].map(({ target }) => target.region))],
    targets: () => [
      ...new Map([...served.values()].map(({ target }) => [targetName(target), target])).values(),
    ],
    failure: () => failure,
    sawCampaign: () => campaign.marker !== undefined,
  };
}
