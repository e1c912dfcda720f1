import { loadavg } from "node:os";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { enqueueManifest } from "../../src/campaign/enqueue.js";
import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { Ledger } from "../../src/shared/ledger/index.js";
import { PhaseQueues } from "../../src/shared/queues.js";
import { type KmsEmulatorStats, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { BENCH_CREDENTIALS, BENCH_WRAPPING_KEYS, type BenchEnv, REDIS_URL } from "./bench-env.js";
import { benchManifest, operationTotals, scaledQuotas } from "./fleet-run.js";
import { startWorkerHost, stopWorkerHosts, type WorkerHost } from "./host-fleet.js";

/** A run that has not finished by then is stopped and reported as such. */
const RUN_TIMEOUT_MS = 600_000;

/** One worker process: bench/lib/worker-host.ts with these arguments and extra environment. */
export interface WorkerSpec {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** Arguments for node itself, e.g. `["--cpu-prof", "--cpu-prof-dir=/tmp/prof"]`. */
  nodeArgs?: string[];
}

export interface ProcessFleetOptions {
  label: string;
  keys: SampleKey[];
  /** Keys are spread round-robin over these Regions; the first is AWS_REGION. */
  regions: string[];
  workers: WorkerSpec[];
  /** Quotas of the emulator and of every worker's limiter; undefined: lifted. */
  quotas: { list: string; table: Record<string, number> } | undefined;
  /** Extra environment for every worker (HSM2KMS_HSM_CONCURRENCY, ...). */
  configEnv?: Record<string, string>;
}

export interface ProcessFleetResult {
  keys: number;
  migrated: number;
  failed: number;
  /** Enqueue (every worker process already started) to the last key's completedAt. */
  elapsedMs: number;
  keysPerSecond: number;
  /** Between the first and the last key's completion: the pace without the pipeline's fill and drain. */
  steadyKeysPerSecond: number;
  /**
   * Import phases started per second between the first and the last key's (`importStartedAt`): the pace the
   * params quota sets, a phase later (the ledger keeps no import parameters once a key is imported).
   */
  importSteadyRate: number;
  throttled: number;
  paramsThrottled: number;
  /** The emulator's calls and throttles per Region and operation. */
  kms: KmsEmulatorStats;
  /** Phases each worker ran (`wrap:success` ...), in the order of `workers`. */
  phases: Array<Record<string, number>>;
  /** 1-minute load average when the keys were enqueued. */
  loadAtStart: number;
  failures: string[];
}

/**
 * One migration by a fleet of worker processes on one fresh Redis prefix and one fresh KMS emulator (in
 * this process). The workers are started first (each prints `ready`), then the manifest is enqueued and the
 * clock starts; the run ends at the last key's final status, then the workers are stopped with SIGTERM.
 */
export async function runProcessFleet(
  env: BenchEnv,
  options: ProcessFleetOptions,
): Promise<ProcessFleetResult> {
  const prefix = env.prefix(options.label);
  const emulator = await startKmsEmulator({
    acceptKwpZeroPadding: true,
    ...BENCH_WRAPPING_KEYS,
    quotas: options.quotas?.table ?? false,
  });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const common = {
    REDIS_URL,
    HSM2KMS_QUEUE_PREFIX: prefix,
    AWS_REGION: options.regions[0]!,
    HSM2KMS_KMS_ENDPOINT: emulator.url,
    AWS_ACCESS_KEY_ID: BENCH_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: BENCH_CREDENTIALS.secretAccessKey,
    HSM2KMS_WRAPPING_KEY_SPEC: "RSA_2048",
    HSM2KMS_LOG_LEVEL: "warn",
    // The bench's Redis is the machine's, kept in memory only.
    HSM2KMS_ALLOW_VOLATILE_REDIS: "true",
    HSM2KMS_KMS_QUOTAS: (options.quotas ?? scaledQuotas(DEFAULT_KMS_QUOTAS, 100_000)).list,
    ...options.configEnv,
  };
  const workers: WorkerHost[] = [];
  try {
    const starting = await Promise.allSettled(
      options.workers.map((spec) =>
        startWorkerHost(spec.name, spec.args, { ...common, ...spec.env }, spec.nodeArgs),
      ),
    );
    for (const outcome of starting) if (outcome.status === "fulfilled") workers.push(outcome.value);
    for (const outcome of starting) if (outcome.status === "rejected") throw outcome.reason;

    const loadAtStart = loadavg()[0]!;
    const ledger = new Ledger(redis, prefix);
    const queues = new PhaseQueues(redis, prefix);
    const started = Date.now();
    await enqueueManifest(Readable.from([benchManifest(options.keys, options.regions)]), {
      defaultRegion: options.regions[0]!,
      ledger,
      queues,
    });
    await queues.close();
    const n = options.keys.length;
    for (;;) {
      const { byStatus } = await ledger.counts();
      if ((byStatus["migrated"] ?? 0) + (byStatus["failed"] ?? 0) >= n) break;
      if (Date.now() - started > RUN_TIMEOUT_MS) break;
      const dead = workers.find((worker) => worker.child.exitCode !== null);
      if (dead) throw new Error(`worker ${dead.name} exited: ${dead.output().trim().slice(-800)}`);
      await sleep(100);
    }

    const completions: number[] = [];
    const imports: number[] = [];
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
      if (record.importStartedAt) imports.push(Date.parse(record.importStartedAt));
    }
    completions.sort((a, b) => a - b);
    imports.sort((a, b) => a - b);
    if (completions.length < n) failures.push(`${completions.length} of ${n} finished`);
    const last = completions[completions.length - 1] ?? Date.now();
    const elapsedMs = last - started;
    const phases = await stopWorkerHosts(workers.splice(0));
    const stats = emulator.stats();
    return {
      keys: n,
      migrated,
      failed,
      elapsedMs,
      keysPerSecond: (migrated * 1000) / elapsedMs,
      steadyKeysPerSecond: ((completions.length - 1) * 1000) / Math.max(1, last - (completions[0] ?? last)),
      importSteadyRate:
        ((imports.length - 1) * 1000) / Math.max(1, (imports[imports.length - 1] ?? 0) - (imports[0] ?? 0)),
      throttled: stats.total.throttled,
      paramsThrottled: operationTotals(stats, "GetParametersForImport").throttled,
      kms: stats,
      phases,
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
