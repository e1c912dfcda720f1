import type { Command } from "commander";
import { type Config, redactUrl, requireHsm } from "../../shared/config.js";
import { ConfigError } from "../../shared/errors.js";
import type { HsmPort } from "../../shared/hsm/types.js";
import type { MetricsServer } from "../../shared/metrics-server.js";
import { HSM_PHASES, isPhaseName, PHASES, type PhaseName } from "../../shared/migration.js";
import type { WorkerEvents } from "../../workers/events.js";
import { EXIT } from "../exit-codes.js";
import { regionsFlag, secondsFlag } from "../flag-values.js";
import {
  type CommonFlags,
  configFrom,
  openHsm,
  openRuntime,
  type Runtime,
  TOOL_VERSION,
  withCommonFlags,
} from "../runtime.js";

/** After the shutdown deadline, how long forcing may take before the process exits regardless. */
const SHUTDOWN_BACKSTOP_MS = 2000;

export interface WorkerFlags extends CommonFlags {
  phases?: string;
  regions?: string;
  untilIdle?: boolean;
  shutdownDeadline?: string;
}

/** In `--phases`: the campaign's scheduled renewal of expiring material, beside the migration's phases. */
const RENEW = "renew";

/**
 * The phases to run: the list given, else all when an HSM is configured, else the KMS phases; and whether to
 * run the scheduled renewal (`renew`: listed, or by default on an HSM host unless --until-idle, since a
 * schedule never idles).
 */
export function selectPhases(
  list: string | undefined,
  config: Config,
  untilIdle = false,
): { phases: PhaseName[]; renew: boolean } {
  if (list === undefined)
    return config.hsm
      ? { phases: [...PHASES], renew: !untilIdle }
      : { phases: PHASES.filter((phase) => !HSM_PHASES.includes(phase)), renew: false };
  const names = list
    .split(",")
    .map((phase) => phase.trim())
    .filter(Boolean);
  const renew = names.includes(RENEW);
  const phases = names.filter((phase) => phase !== RENEW);
  const unknown = phases.filter((phase) => !isPhaseName(phase));
  if (unknown.length > 0 || names.length === 0)
    throw new ConfigError(
      `--phases ${JSON.stringify(list)} is invalid: expected a comma-separated list from ${[...PHASES, RENEW].join(",")}`,
    );
  if (renew && untilIdle)
    throw new ConfigError(
      `--phases ${JSON.stringify(list)} with --until-idle: renew is a schedule and never idles; leave it out, and run hsm2kms renew for a one-off renewal`,
    );
  if (renew || phases.some((phase) => HSM_PHASES.includes(phase as PhaseName))) requireHsm(config);
  return { phases: phases as PhaseName[], renew };
}

/** Serves /metrics, /healthz and /readyz when HSM2KMS_METRICS_PORT is set. */
async function serveMetrics(
  config: Config,
  runtime: Runtime,
  events: WorkerEvents,
  hsm: HsmPort | undefined,
): Promise<MetricsServer | undefined> {
  if (config.metricsPort === undefined) return undefined;
  const [
    { createMetrics },
    { startMetricsServer },
    { collectAtScrape, observeWorkers },
    { withRedisTimeout },
  ] = await Promise.all([
    import("../../shared/metrics.js"),
    import("../../shared/metrics-server.js"),
    import("../../workers/observe.js"),
    import("../../shared/redis.js"),
  ]);
  const metrics = createMetrics({ campaign: config.queuePrefix });
  observeWorkers(events, metrics, config.kmsQuotas);
  collectAtScrape(metrics, { queues: runtime.queues, regions: () => runtime.ledger.targets(), hsm });
  const server = await startMetricsServer({
    port: config.metricsPort,
    host: config.metricsHost,
    registry: metrics.registry,
    logger: runtime.logger,
    readiness: {
      // The worker's connection has no per-command timeout (BullMQ blocks on it): a paused Redis must
      // still make /readyz answer "not ready" rather than hang.
      redis: async () => {
        await withRedisTimeout(runtime.redis.ping(), {
          url: redactUrl(config.redisUrl),
          timeoutMs: config.redisTimeoutMs,
        });
      },
      ...(hsm
        ? {
            hsm: async () => {
              await hsm.capabilities();
              if (hsm.sessionStats().open === 0) throw new Error("no PKCS#11 session open");
            },
          }
        : {}),
    },
  });
  runtime.logger.info({ port: server.port }, "serving /metrics, /healthz, /readyz");
  return server;
}

/** Runs workers until stopped (or idle); returns the exit code. Shared with `migrate`. */
export async function runWorker(flags: WorkerFlags): Promise<number> {
  const config = configFrom(flags);
  const { phases, renew } = selectPhases(flags.phases, config, flags.untilIdle);
  const regions = flags.regions === undefined ? undefined : regionsFlag(flags.regions);
  const deadlineMs = secondsFlag("--shutdown-deadline", flags.shutdownDeadline ?? "30", 0, 3_600_000);
  const runtime = await openRuntime(config, "worker", { checkDurability: true, longRunning: true });
  // BullMQ and the AWS SDK are loaded by the command that runs workers, not by every start of the CLI.
  const [{ noCampaignMessage }, { WorkerEvents }, { startFleet }, { withRedisTimeout }] = await Promise.all([
    import("../../campaign/marker.js"),
    import("../../workers/events.js"),
    import("../../workers/fleet.js"),
    import("../../shared/redis.js"),
  ]);
  let hsm: HsmPort | undefined;
  try {
    if (renew || phases.some((phase) => HSM_PHASES.includes(phase)))
      hsm = await openHsm(config, runtime.logger);
    const events = new WorkerEvents(runtime.logger);
    const metricsServer = await serveMetrics(config, runtime, events, hsm);
    const fleet = await startFleet({
      config,
      phases,
      renew,
      regions,
      untilIdle: flags.untilIdle,
      hsm,
      connection: runtime.redis,
      logger: runtime.logger,
      toolVersion: TOOL_VERSION,
      events,
      outage: runtime.outage,
    });
    runtime.logger.info({ phases, renew, regions: fleet.regions() }, "worker started");
    let signalled = false;
    const stop = (signal: string) => {
      runtime.logger.info({ signal, deadlineMs }, "stopping: no new work; running phases may finish");
      signalled = true;
      void fleet.close(deadlineMs);
      // The last resort behind every bounded close: whatever still waits for a Redis that does not answer,
      // the process is gone shortly after its deadline (the jobs it held come back after their lock).
      setTimeout(() => {
        runtime.logger.error({ deadlineMs }, "still not stopped after the shutdown deadline: exiting now");
        process.exit(EXIT.failed);
      }, deadlineMs + SHUTDOWN_BACKSTOP_MS).unref();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    await fleet.stopped;
    await fleet.close(deadlineMs);
    process.off("SIGTERM", stop);
    process.off("SIGINT", stop);
    await metricsServer?.close();
    const failure = fleet.failure();
    if (failure) throw failure;
    const bounded = <T>(work: Promise<T>) =>
      withRedisTimeout(work, {
        url: redactUrl(config.redisUrl),
        timeoutMs: signalled ? Math.min(1000, config.redisTimeoutMs) : config.redisTimeoutMs,
      });
    if (flags.untilIdle && !fleet.sawCampaign() && (await bounded(runtime.ledger.size())) === 0) {
      process.stderr.write(`hsm2kms: ${noCampaignMessage(config.queuePrefix, redactUrl(config.redisUrl))}\n`);
      return EXIT.failed;
    }
    return (await bounded(runtime.ledger.failedCount())) > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await hsm?.close();
    await runtime.close();
  }
}

export function registerWorkerCommand(program: Command): void {
  withCommonFlags(
    program
      .command("worker")
      .description(
        "Run phase workers. On an HSM client host run all phases (or the HSM ones); KMS-only workers can run anywhere. On an HSM host the default also runs the campaign's scheduled renewal of expiring key material (renew: one job scheduler per campaign every HSM2KMS_RENEW_INTERVAL, renewing what expires within HSM2KMS_RENEW_BEFORE, paced at GetParametersForImport's quota and waiting while a migration in the same account and Region uses it, unless the material expires within half that window; not with --until-idle). SIGTERM/SIGINT stop taking work and let running phases finish. With --until-idle, exit when this worker's queues are empty: 0 if no key failed, 1 if any did (or no campaign exists under the prefix). Exit 1 when the campaign's ledger is lost under it (Redis restarted empty); refuses (exit 2) a Redis without persistence unless HSM2KMS_ALLOW_VOLATILE_REDIS=true.",
      )
      .option(
        "--phases <list>",
        `comma-separated phases from ${PHASES.join(",")},renew (renew: the scheduled renewal of expiring material, HSM hosts only; default: all, renew included, with an HSM configured, else the KMS phases)`,
      )
      .option(
        "--regions <list>",
        "Regions to serve, for every account's keys there (default: every Region in the ledger, else AWS_REGION)",
      )
      .option("--until-idle", "exit when no work is left for this worker's phases")
      .option(
        "--shutdown-deadline <seconds>",
        "on SIGTERM, seconds to let running phases finish before forcing",
        "30",
      ),
  ).action(async (flags: WorkerFlags) => {
    process.exitCode = await runWorker(flags);
  });
}
