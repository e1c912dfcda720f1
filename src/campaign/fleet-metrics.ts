import type { Logger } from "pino";
import { Gauge } from "prom-client";
import { registerExpiryGauges } from "../lifecycle/expiry-metrics.js";
import { ConfigError } from "../shared/errors.js";
import type { Ledger } from "../shared/ledger/index.js";
import { createMetrics, type Metrics } from "../shared/metrics.js";
import { type MetricsServer, startMetricsServer } from "../shared/metrics-server.js";
import type { PhaseQueues } from "../shared/queues.js";
import { type KmsTarget, parseTargetName, targetName } from "../shared/targets.js";
import { collectAtScrape } from "../workers/observe.js";

/** Ledger statuses always exported (0 when none), so "remaining" and "progress" never lack a series. */
export const FLEET_STATUSES = ["queued", "in_progress", "migrated", "failed"] as const;

/** The registry `hsm2kms status --metrics-port` serves, and what it reads. */
export interface FleetMetrics {
  metrics: Metrics;
  fleetKeys: Gauge<"status" | "region" | "account">;
  fleetFailures: Gauge<"code" | "region" | "account">;
}

/**
 * The fleet's progress for a non-worker host: `hsm2kms_fleet_keys{status,region,account}` and
 * `hsm2kms_fleet_failures{code,region,account}` from the ledger's counters (`account` only on another
 * account's series), and `hsm2kms_queue_jobs{phase,state,region}`
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

  // Another account's keys are its own series (label `account`); the caller's own keep the series without it,
  // as the workers' metrics do: the Region's counters less the other accounts' there.
  const others = async () =>
    (await sources.ledger.targets()).filter((target) => target.account !== undefined);
  const ownShare =
    (total: Record<string, number>, ofTargets: Record<string, number>, found: KmsTarget[]) =>
    (region: string, key: string) =>
      (total[`${region}|${key}`] ?? 0) -
      found
        .filter((target) => target.region === region)
        .reduce((sum, target) => sum + (ofTargets[`${targetName(target)}|${key}`] ?? 0), 0);

  const fleetKeys: Gauge<"status" | "region" | "account"> = new Gauge({
    name: "hsm2kms_fleet_keys",
    help: "Keys in the ledger by status (queued, in_progress, migrated, failed), target Region and account (another account's only), read at scrape time",
    labelNames: ["status", "region", "account"],
    registers: [metrics.registry],
    async collect() {
      await sources.ledger.countTargets();
      const [counts, known, found] = await Promise.all([sources.ledger.counts(), regions(), others()]);
      const own = ownShare(counts.byRegion, counts.byTarget, found);
      fleetKeys.reset();
      for (const region of known)
        for (const status of FLEET_STATUSES)
          fleetKeys.set({ status, region }, Math.max(0, own(region, status)));
      for (const target of found)
        for (const status of FLEET_STATUSES)
          fleetKeys.set(
            { status, region: target.region, account: target.account! },
            counts.byTarget[`${targetName(target)}|${status}`] ?? 0,
          );
    },
  });

  const fleetFailures: Gauge<"code" | "region" | "account"> = new Gauge({
    name: "hsm2kms_fleet_failures",
    help: "Failed keys in the ledger by error code, target Region and account (another account's only), read at scrape time",
    labelNames: ["code", "region", "account"],
    registers: [metrics.registry],
    async collect() {
      await sources.ledger.countTargets();
      const [counts, found] = await Promise.all([sources.ledger.counts(), others()]);
      const own = ownShare(counts.byRegionError, counts.byTargetError, found);
      fleetFailures.reset();
      // A key failed before a counter existed and retried since counts below 0: never export that.
      for (const field of Object.keys(counts.byRegionError)) {
        const [region = "", code = ""] = field.split("|");
        const count = own(region, code);
        if (count > 0) fleetFailures.set({ code, region }, count);
      }
      for (const [field, count] of Object.entries(counts.byTargetError)) {
        const [name = "", code = ""] = field.split("|");
        const { account, region } = parseTargetName(name);
        if (count > 0 && account !== undefined) fleetFailures.set({ code, region, account }, count);
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
