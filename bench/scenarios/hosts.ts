import { loadavg } from "node:os";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { enqueueManifest } from "../../src/producer/enqueue.js";
import { startKmsEmulator } from "../../src/sandbox/kms-emulator/index.js";
import type { SampleKey } from "../../src/sandbox/sample-keys.js";
import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { Ledger } from "../../src/shared/ledger/index.js";
import { HSM_PHASES, PHASES } from "../../src/shared/migration.js";
import { PhaseQueues } from "../../src/shared/queues.js";
import { BENCH_CREDENTIALS, BENCH_REGIONS, type BenchEnv, REDIS_URL } from "../lib/bench-env.js";
import { benchManifest, operationTotals, scaledQuotas } from "../lib/fleet-run.js";
import { copyTokenForHosts, startWorkerHost, stopWorkerHosts, type WorkerHost } from "../lib/host-fleet.js";
import { atLeast, atMost, type Figure, info } from "../lib/report.js";
import type { Scenario } from "./types.js";

const REGION = BENCH_REGIONS[0]!;
const HOST_COUNTS = [1, 2, 3];
const KMS_PHASES = PHASES.filter((phase) => !HSM_PHASES.includes(phase)).join(",");
const HSM_PHASE_LIST = HSM_PHASES.join(",");
/** A run that has not finished by then is stopped and reported as such. */
const RUN_TIMEOUT_MS = 600_000;

interface HostsRunSettings {
  label: string;
  keys: SampleKey[];
  hosts: number;
  /** Environments of the hosts' token copies (at least `hosts` of them). */
  tokenEnvs: Array<Record<string, string>>;
  wrapDelayMs: number;
  /** Quotas of the emulator and the fleet's limiter; undefined: lifted. */
  quotas: { list: string; table: Record<string, number> } | undefined;
}

interface HostsRunResult {
  hosts: number;
  keys: number;
  migrated: number;
  failed: number;
  /** Enqueue (every worker process already started) to the last key's completedAt. */
  elapsedMs: number;
  keysPerSecond: number;
  /** Between the first and the last key's completion: the pace without the pipeline's fill and drain. */
  steadyKeysPerSecond: number;
  throttled: number;
  paramsThrottled: number;
  /** Phases each HSM host ran (`wrap:success` ...), in host order; then the KMS worker's. */
  hostPhases: Array<Record<string, number>>;
  kmsWorkerPhases: Record<string, number>;
  loadAtStart: number;
  failures: string[];
}

/**
 * One migration by a fleet of processes on one Redis prefix and one KMS emulator (in this process): `hosts`
 * HSM worker processes (preflight and wrap, HSM concurrency 1, their own token copy, wrap slowed down) and
 * one KMS-only worker process (create, params, import, verify).
 */
async function hostsRun(env: BenchEnv, settings: HostsRunSettings): Promise<HostsRunResult> {
  const prefix = env.prefix(`${settings.label}${settings.hosts}`);
  const emulator = await startKmsEmulator({
    acceptKwpZeroPadding: true,
    wrappingKeyPoolSize: 0,
    quotas: settings.quotas?.table ?? false,
  });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const common = {
    REDIS_URL,
    HSM2KMS_QUEUE_PREFIX: prefix,
    AWS_REGION: REGION,
    HSM2KMS_KMS_ENDPOINT: emulator.url,
    AWS_ACCESS_KEY_ID: BENCH_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: BENCH_CREDENTIALS.secretAccessKey,
    HSM2KMS_WRAPPING_KEY_SPEC: "RSA_2048",
    HSM2KMS_LOG_LEVEL: "warn",
    HSM2KMS_HSM_CONCURRENCY: "1",
    HSM2KMS_KMS_QUOTAS: (settings.quotas ?? scaledQuotas(DEFAULT_KMS_QUOTAS, 100_000)).list,
  };
  const workers: WorkerHost[] = [];
  try {
    const starting = await Promise.allSettled([
      startWorkerHost("kms", ["--phases", KMS_PHASES, "--regions", REGION], common),
      ...settings.tokenEnvs
        .slice(0, settings.hosts)
        .map((tokenEnv, n) =>
          startWorkerHost(
            `hsm${n + 1}`,
            [
              "--phases",
              HSM_PHASE_LIST,
              "--regions",
              REGION,
              "--wrap-delay-ms",
              String(settings.wrapDelayMs),
            ],
            { ...common, ...tokenEnv },
          ),
        ),
    ]);
    for (const outcome of starting) if (outcome.status === "fulfilled") workers.push(outcome.value);
    for (const outcome of starting) if (outcome.status === "rejected") throw outcome.reason;

    const loadAtStart = loadavg()[0]!;
    const ledger = new Ledger(redis, prefix);
    const queues = new PhaseQueues(redis, prefix);
    const started = Date.now();
    await enqueueManifest(Readable.from([benchManifest(settings.keys, [REGION])]), {
      defaultRegion: REGION,
      ledger,
      queues,
    });
    await queues.close();
    const n = settings.keys.length;
    for (;;) {
      const { byStatus } = await ledger.counts();
      if ((byStatus["migrated"] ?? 0) + (byStatus["failed"] ?? 0) >= n) break;
      if (Date.now() - started > RUN_TIMEOUT_MS) break;
      const dead = workers.find((worker) => worker.child.exitCode !== null);
      if (dead) throw new Error(`worker ${dead.name} exited: ${dead.output().trim().slice(-800)}`);
      await sleep(100);
    }

    const completions: number[] = [];
    const failures: string[] = [];
    let migrated = 0;
    let failed = 0;
    for await (const record of ledger.records()) {
      if (record.status === "migrated") migrated++;
      if (record.status === "failed") {
        failed++;
        if (failures.length < 5)
          failures.push(`${record.source.label}: ${record.error?.code} ${record.error?.message}`);
      }
      if (record.completedAt) completions.push(Date.parse(record.completedAt));
    }
    completions.sort((a, b) => a - b);
    if (completions.length < n) failures.push(`${completions.length} of ${n} finished`);
    const last = completions[completions.length - 1] ?? Date.now();
    const elapsedMs = last - started;
    const [kmsWorkerPhases = {}, ...hostPhases] = await stopWorkerHosts(workers.splice(0));
    const stats = emulator.stats();
    return {
      hosts: settings.hosts,
      keys: n,
      migrated,
      failed,
      elapsedMs,
      keysPerSecond: (migrated * 1000) / elapsedMs,
      steadyKeysPerSecond: ((completions.length - 1) * 1000) / Math.max(1, last - (completions[0] ?? last)),
      throttled: stats.total.throttled,
      paramsThrottled: operationTotals(stats, "GetParametersForImport").throttled,
      hostPhases,
      kmsWorkerPhases,
      loadAtStart,
      failures,
    };
  } finally {
    await stopWorkerHosts(workers, 2000);
    await emulator.close();
    redis.disconnect();
    await env.releasePrefix(prefix);
  }
}

const wrapsPerHost = (run: HostsRunResult) =>
  run.hostPhases.map((phases) => phases["wrap:success"] ?? 0).join("/");

/** The keys/s figures of one run, its load and where the wraps ran. */
function runFigures(scenario: string, run: HostsRunResult, quota?: number): Figure[] {
  if (run.failures.length) process.stderr.write(`hosts: ${run.failures.join("\n")}\n`);
  return [
    info(
      scenario,
      "keys/s (whole run)",
      run.keysPerSecond,
      `${quota ? `/ quota ${quota}/s, ` : ""}${run.migrated} keys, load ${run.loadAtStart.toFixed(1)}`,
    ),
    info(scenario, "keys/s steady (first to last key)", run.steadyKeysPerSecond),
    info(scenario, "wraps per host", wrapsPerHost(run)),
    atMost(scenario, "failed keys", run.failed, 0),
  ];
}

/**
 * HSM client hosts as separate processes, each with its own copy of the token. Quotas lifted and a slow HSM
 * (one wrap at a time per host, +1 s each): keys/s must grow with the hosts. Then AWS's default quotas
 * (× 2 in a quick run) with an HSM four times faster than the quota on one host: the quota sets the pace,
 * whatever the number of hosts.
 */
export const hostsScenario: Scenario = {
  name: "hosts",
  description:
    "1, 2, 3 worker processes with their own token copy: scaling when HSM-bound, pace when quota-bound",
  keysNeeded: (quick) => (quick ? 12 : 60),
  async run(context) {
    const keys = await context.env.keys(this.keysNeeded(context.quick));
    const tokens = await copyTokenForHosts(context.env.token, Math.max(...HOST_COUNTS));
    const figures: Figure[] = [];
    try {
      const hsmBound = { wrapDelayMs: 1000, quotas: undefined };
      let single = 0;
      for (const hosts of HOST_COUNTS) {
        const run = await hostsRun(context.env, {
          label: "hostsh",
          keys,
          hosts,
          tokenEnvs: tokens.envs,
          ...hsmBound,
        });
        context.record(`hosts-hsm-bound-${hosts}`, { ...hsmBound, run });
        const scenario = `7 hosts x${hosts} HSM-bound`;
        figures.push(...runFigures(scenario, run));
        if (hosts === 1) single = run.keysPerSecond;
        else
          figures.push(
            atLeast(
              scenario,
              "scaling vs 1 host",
              run.keysPerSecond / single,
              Number((0.8 * hosts).toFixed(1)),
            ),
          );
      }

      const factor = context.quick ? 2 : 1;
      const quota = DEFAULT_KMS_QUOTAS.GetParametersForImport * factor;
      const quotaBound = { wrapDelayMs: 250, quotas: scaledQuotas(DEFAULT_KMS_QUOTAS, factor) };
      for (const hosts of HOST_COUNTS) {
        const run = await hostsRun(context.env, {
          label: "hostsq",
          keys,
          hosts,
          tokenEnvs: tokens.envs,
          ...quotaBound,
        });
        context.record(`hosts-quota-bound-${hosts}`, { wrapDelayMs: quotaBound.wrapDelayMs, factor, run });
        const scenario = `7 hosts x${hosts} quota ${quota}/s`;
        const efficiency = run.keysPerSecond / quota;
        figures.push(
          ...runFigures(scenario, run, quota),
          {
            scenario,
            figure: "keys/s / quota",
            value: efficiency,
            goal: "0.9 to 1.0",
            met: efficiency >= 0.9 && efficiency <= 1.0,
          },
          atMost(scenario, "ThrottlingExceptions", run.throttled, 9),
          info(scenario, "GetParametersForImport throttled", run.paramsThrottled),
        );
      }
    } finally {
      await tokens.cleanup();
    }
    return figures;
  },
};
