import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "bullmq";
import type { Logger } from "pino";
import type { Config } from "../shared/config.js";
import { fatal } from "../shared/errors.js";
import { HsmSlots, hsmLane } from "../shared/hsm/hsm-share.js";
import type { HsmPort } from "../shared/hsm/types.js";
import { createKmsAdapter } from "../shared/kms/index.js";
import type { KmsPort } from "../shared/kms/types.js";
import { Ledger } from "../shared/ledger/index.js";
import { HSM_PHASES, type PhaseName } from "../shared/migration.js";
import { bullPrefix, type PhaseJobData, PhaseQueues, phaseLimiter, queueName } from "../shared/queues.js";
import type { RedisConnection } from "../shared/redis.js";
import { failAbandonedJob } from "./abandoned-jobs.js";
import { WorkerEvents } from "./events.js";
import { createPhaseProcessor } from "./processor.js";

export interface FleetOptions {
  config: Config;
  /** Phases this process runs. */
  phases: PhaseName[];
  /** Regions to serve; default: every Region in the ledger (re-read while running), else AWS_REGION. */
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
}

export interface Fleet {
  events: WorkerEvents;
  /** Resolves when the fleet has stopped (idle with untilIdle, or after close()). */
  stopped: Promise<void>;
  /** Stops taking work, lets running phases finish within `deadlineMs`, then forces. */
  close(deadlineMs?: number): Promise<void>;
  /** Regions served so far. */
  regions(): string[];
}

/** Starts one BullMQ worker per (phase, Region) with the phase's concurrency and fleet-wide rate limit. */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { config, connection, logger } = options;
  const events = options.events ?? new WorkerEvents(logger);
  const ledger = new Ledger(connection, config.queuePrefix);
  const queues = new PhaseQueues(connection, config.queuePrefix);
  const kmsPorts = new Map<string, KmsPort>();
  const workers = new Map<string, Worker<PhaseJobData>>();
  const pollMs = options.pollMs ?? 500;
  if (options.phases.some((phase) => HSM_PHASES.includes(phase)) && !options.hsm)
    throw fatal(
      "HSM_NOT_CONFIGURED",
      "HSM phases (preflight, wrap) need HSM2KMS_PKCS11_LIB, HSM2KMS_TOKEN_LABEL and a PIN on this host",
    );

  const kms = (region: string): KmsPort => {
    let port = kmsPorts.get(region);
    if (!port) {
      port = createKmsAdapter({
        region,
        endpoint: config.kmsEndpoint,
        credentials: options.kmsCredentials,
        onRequest: (event) => events.emit("kms:request", event),
      });
      kmsPorts.set(region, port);
    }
    return port;
  };
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
    settings: {
      tokenSafetyMarginMs: config.tokenSafetyMarginMs,
      deletionWindowDays: config.deletionWindowDays,
      wrappingKeySpec: config.wrappingKeySpec,
      toolVersion: options.toolVersion,
      paramsOnHsmHost: config.paramsOnHsmHost,
    },
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
  const limits = {
    maxAttempts: config.maxAttempts,
    maxTokenRefreshes: config.maxTokenRefreshes,
    tokenSafetyMarginMs: config.tokenSafetyMarginMs,
    paramsOnHsmHost: config.paramsOnHsmHost,
  };

  const serve = (region: string) => {
    const started: PhaseName[] = [];
    for (const phase of options.phases) {
      const name = queueName(phase, region);
      if (workers.has(name)) continue;
      started.push(phase);
      const hsmPhase = HSM_PHASES.includes(phase);
      const limiter = phaseLimiter(phase, config.kmsQuotas, config.paramsOnHsmHost);
      const worker = new Worker<PhaseJobData>(
        name,
        createPhaseProcessor(phase, region, { ledger, queues, context: contextFor(phase), limits, events }),
        {
          connection,
          prefix: bullPrefix(config.queuePrefix, phase, region),
          concurrency: hsmPhase ? config.hsmConcurrency : config.kmsConcurrency,
          ...(limiter ? { limiter } : {}),
          lockDuration: config.jobLockMs,
          stalledInterval: Math.max(1000, Math.round(config.jobLockMs / 4)),
          maxStalledCount: 2,
          maxStartedAttempts: config.maxAttempts * 4,
        },
      );
      worker.on("error", (error) => logger.error({ queue: name, err: error.message }, "worker error"));
      worker.on("failed", (job, error) => {
        if (job) void failAbandonedJob({ ledger, events, logger }, phase, region, job, error);
      });
      workers.set(name, worker);
    }
    if (started.length > 0) events.emit("region:served", { region, phases: started });
  };

  const discoverRegions = async (): Promise<string[]> => {
    if (options.regions?.length) return options.regions;
    const known = await ledger.regions();
    return known.length > 0 ? known : config.region ? [config.region] : [];
  };

  const isIdle = async (): Promise<boolean> => {
    for (const name of workers.keys()) {
      const [phase, ...regionParts] = name.split("-");
      const counts = await queues
        .queue(phase as PhaseName, regionParts.join("-"))
        .getJobCounts("waiting", "active", "delayed", "prioritized", "waiting-children");
      if (Object.values(counts).some((count) => count > 0)) return false;
    }
    return true;
  };

  let stopping = false;
  const close = async (deadlineMs = 30_000) => {
    if (stopping) return;
    stopping = true;
    const graceful = Promise.all([...workers.values()].map((worker) => worker.close()));
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
      await Promise.all([...workers.values()].map((worker) => worker.close(true)));
    }
    await queues.close();
    for (const port of kmsPorts.values()) port.close();
  };

  for (const region of await discoverRegions()) serve(region);
  const stopped = (async () => {
    let idleChecks = 0;
    while (!stopping) {
      await sleep(pollMs);
      if (stopping) break;
      try {
        if (!options.regions?.length) for (const region of await discoverRegions()) serve(region);
        if (!options.untilIdle) continue;
        idleChecks = (await isIdle()) ? idleChecks + 1 : 0;
        if (idleChecks >= 2) await close();
      } catch (error) {
        // Redis away (a failover, a restart): the workers reconnect on their own; so does this loop.
        idleChecks = 0;
        logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          "cannot read the queues right now; trying again",
        );
      }
    }
  })();

  return {
    events,
    stopped,
    close,
    regions: () => [...new Set([...workers.keys()].map((name) => name.slice(name.indexOf("-") + 1)))],
  };
}
