import type { Logger } from "pino";
import { Gauge } from "prom-client";
import { registerExpiryGauges } from "../lifecycle/expiry-metrics.js";
import { ConfigError } from "../shared/errors.js";
import type { Ledger } from "../shared/ledger/index.js";
import { createMetrics, type Metrics } from "../shared/metrics.js";
import { type MetricsServer, startMetricsServer } from "../shared/metrics-server.js";
import type { PhaseQueues } from "../shared/queues.js";
import { collectAtScrape } from "../workers/observe.js";

/** Ledger statuses always exported (0 when none), so "remaining" and "progress" never lack a series. */
export const FLEET_STATUSES = ["queued", "in_progress", "migrated", "failed"] as const;

/** The registry `hsm2kms status --metrics-port` serves, and what it reads. */
export interface FleetMetrics {
  metrics: Metrics;
  fleetKeys: Gauge<"status" | "region">;
  fleetFailures: Gauge<"code" | "region">;
}

/**
 * The fleet's progress for a non-worker host: `hsm2kms_fleet_keys{status,region}` and
 * `hsm2kms_fleet_failures{code,region}` from the ledger's counters, and `hsm2kms_queue_jobs{phase,state,region}`
 * from the queues, all read when Prometheus scrapes (the ledger is the truth; a worker restart loses nothing).
 * The worker metrics of the same registry stay empty here: nothing emits worker events in this process.
 */
export function createFleetMetrics(sources: {
  ledger: Ledger;
  queues: PhaseQueues;
  /** The default Region (AWS_REGION): its series exist at 0 before anything is enqueued. */
  defaultRegion?: string | undefined;
  /** The queue prefix, the `campaign` label of every series. */
  campaign?: string;
}): FleetMetrics {
  const metrics = createMetrics(sources.campaign === undefined ? {} : { campaign: sources.campaign });
  // Every series at 0 from the exporter's start, before the first key is enqueued or fails: a gauge whose
  // first sample is already 3 failures gives delta() nothing, and Hsm2kmsFailureRatioHigh missed 3 of 55.
  const regions = async () =>
    [
      ...new Set([
        ...(sources.defaultRegion ? [sources.defaultRegion] : []),
        ...(await sources.ledger.regions()),
      ]),
    ].sort();
  // The queues of every target: the caller's own account in each Region, then the other accounts'.
  const targets = async () => [
    ...(await regions()),
    ...(await sources.ledger.targets()).filter((target) => target.account !== undefined),
  ];
  collectAtScrape(metrics, { queues: sources.queues, regions: targets });

  const fleetKeys: Gauge<"status" | "region"> = new Gauge({
    name: "hsm2kms_fleet_keys",
    help: "Keys in the ledger by status (queued, in_progress, migrated, failed) and target Region, read at scrape time",
    labelNames: ["status", "region"],
    registers: [metrics.registry],
    async collect() {
      const [counts, known] = await Promise.all([sources.ledger.counts(), regions()]);
      fleetKeys.reset();
      for (const region of known)
        for (const status of FLEET_STATUSES)
          fleetKeys.set({ status, region }, counts.byRegion[`${region}|${status}`] ?? 0);
    },
  });

  const fleetFailures: Gauge<"code" | "region"> = new Gauge({
    name: "hsm2kms_fleet_failures",
    help: "Failed keys in the ledger by error code and target Region, read at scrape time",
    labelNames: ["code", "region"],
    registers: [metrics.registry],
    async collect() {
      const counts = await sources.ledger.counts();
      fleetFailures.reset();
      for (const [field, count] of Object.entries(counts.byRegionError)) {
        const [region = "", code = ""] = field.split("|");
        // A key failed before this counter existed and retried since counts below 0: never export that.
        if (count > 0) fleetFailures.set({ code, region }, count);
      }
    },
  });

  registerExpiryGauges(metrics.registry, sources.ledger);

  return { metrics, fleetKeys, fleetFailures };
}

/** What serving the fleet's metrics needs (a command's runtime has all of it). */
export interface FleetMetricsSources {
  config: { region: string | undefined; queuePrefix: string };
  ledger: Ledger;
  queues: PhaseQueues;
  redis: { ping(): Promise<unknown> };
  logger: Logger;
}

/** Serves the fleet metrics on /metrics, with /healthz and /readyz (ready while Redis answers). */
export async function serveFleetMetrics(
  sources: FleetMetricsSources,
  address: { port: number; host: string },
): Promise<MetricsServer> {
  const { metrics } = createFleetMetrics({
    ...sources,
    defaultRegion: sources.config.region,
    campaign: sources.config.queuePrefix,
  });
  const server = await startMetricsServer({
    ...address,
    registry: metrics.registry,
    logger: sources.logger,
    readiness: {
      redis: async () => {
        await sources.redis.ping();
      },
    },
  });
  sources.logger.info({ port: server.port }, "serving the fleet's /metrics, /healthz, /readyz");
  return server;
}

/** Parses `--metrics-port`: a whole number from 0 to 65535 (0: any free port). */
export function parseMetricsPort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535)
    throw new ConfigError(
      `--metrics-port ${JSON.stringify(text)} is invalid: expected a whole number from 0 to 65535`,
    );
  return port;
}
