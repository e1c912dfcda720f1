import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Redis } from "ioredis";
import { enqueueManifest } from "../../src/campaign/enqueue.js";
import { formatManifestCsv } from "../../src/manifest/read.js";
import { loadConfig } from "../../src/shared/config.js";
import { formatCsvLine } from "../../src/shared/csv.js";
import { openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import { Ledger } from "../../src/shared/ledger/index.js";
import { createLogger } from "../../src/shared/logger.js";
import { PHASES } from "../../src/shared/migration.js";
import { PhaseQueues } from "../../src/shared/queues.js";
import {
  type KmsEmulatorOptions,
  type KmsEmulatorStats,
  startKmsEmulator,
} from "../../src/testkit/kms-emulator/index.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { WorkerEvents } from "../../src/workers/events.js";
import { startFleet } from "../../src/workers/fleet.js";
import { BENCH_CREDENTIALS, BENCH_WRAPPING_KEYS, type BenchEnv, REDIS_URL } from "./bench-env.js";
import { ClientCommandCounter, serverCommandCalls } from "./redis-stats.js";

export interface FleetRunOptions {
  label: string;
  keys: SampleKey[];
  /** Keys are spread round-robin over these Regions (the manifest's region column). */
  regions: string[];
  /**
   * Target accounts (manifest column `account`): keys are spread round-robin over every account and Region,
   * each account reached through a role the emulator lets the bench assume (HSM2KMS_ACCOUNTS_FILE).
   */
  accounts?: string[];
  /** Extra environment for loadConfig (HSM2KMS_KMS_QUOTAS, HSM2KMS_HSM_CONCURRENCY, ...). */
  configEnv?: Record<string, string>;
  emulator?: KmsEmulatorOptions;
  /** Wraps the real SoftHSM2 port (e.g. a slow HSM). */
  hsm?: (hsm: HsmPort) => HsmPort;
  /** Gives up (and reports what finished) after this long. @defaultValue 900_000 */
  timeoutMs?: number;
}

export interface FleetRunResult {
  keys: number;
  migrated: number;
  failed: number;
  /** Fleet start to the last key's final status. */
  elapsedMs: number;
  keysPerSecond: number;
  /** Between the first and the last key's final status: the pace without the pipeline's fill and drain. */
  steadyKeysPerSecond: number;
  /** GetParametersForImport requests the pipeline sent, and the first and last time (ms after start). */
  params: { calls: number; firstMs: number; lastMs: number };
  tokenRefreshes: number;
  /** When each phase first finished a job (ms after start): where the pipeline's fill goes. */
  firstEndedMs: Record<string, number>;
  kms: KmsEmulatorStats;
  /** What this process sent to Redis during the run (enqueue excluded). */
  client: { commands: number; roundTrips: number; roundTripsBy: Record<string, number> };
  /** INFO commandstats delta over the run: every client of the shared Redis, in-script calls included. */
  serverCommands: number;
  /** First few failure reasons. */
  failures: string[];
}

/** The manifest of `keys`, Region by Region round-robin, each with an alias. */
export function benchManifest(keys: SampleKey[], regions: string[]): string {
  return formatManifestCsv(
    keys.map((key, index) => ({
      source_label: key.label,
      source_id: key.idHex,
      region: regions[index % regions.length]!,
      alias: `alias/bench/${key.label}`,
    })),
  );
}

/** The role the bench assumes in a target account. */
export const benchRole = (account: string) => `arn:aws:iam::${account}:role/hsm2kms-bench`;

/** The manifest of `keys` over every (account, Region) pair, round-robin, each with an alias. */
export function accountsManifest(keys: SampleKey[], regions: string[], accounts: string[]): string {
  const groups = accounts.flatMap((account) => regions.map((region) => ({ account, region })));
  let text = formatCsvLine(["source_label", "source_id", "region", "alias", "account"]);
  for (const [index, key] of keys.entries()) {
    const { account, region } = groups[index % groups.length]!;
    text += formatCsvLine([key.label, key.idHex, region, `alias/bench/${key.label}`, account]);
  }
  return text;
}

/**
 * Runs one migration through the real fleet (in-process BullMQ workers for every phase, the real SDK
 * against a fresh KMS emulator, the shared SoftHSM2 token) under a fresh Redis prefix, and measures it.
 */
export async function runFleetMigration(env: BenchEnv, options: FleetRunOptions): Promise<FleetRunResult> {
  const prefix = env.prefix(options.label);
  const accounts = options.accounts ?? [];
  const emulator = await startKmsEmulator({
    acceptKwpZeroPadding: true,
    ...BENCH_WRAPPING_KEYS,
    ...(accounts.length ? { roles: accounts.map((account) => ({ roleArn: benchRole(account) })) } : {}),
    ...options.emulator,
  });
  const accountsDir = accounts.length ? await mkdtemp(join(tmpdir(), "hsm2kms-bench-accounts-")) : undefined;
  const accountsFile = accountsDir ? join(accountsDir, "accounts.csv") : undefined;
  if (accountsFile)
    await writeFile(
      accountsFile,
      `account,role_arn\n${accounts.map((account) => `${account},${benchRole(account)}`).join("\n")}\n`,
    );
  const config = loadConfig({
    REDIS_URL,
    HSM2KMS_QUEUE_PREFIX: prefix,
    AWS_REGION: options.regions[0],
    HSM2KMS_KMS_ENDPOINT: emulator.url,
    HSM2KMS_WRAPPING_KEY_SPEC: "RSA_2048",
    HSM2KMS_LOG_LEVEL: "error",
    ...(accountsFile ? { HSM2KMS_ACCOUNTS_FILE: accountsFile } : {}),
    ...options.configEnv,
  });
  const logger = createLogger({ level: config.logLevel, base: { component: `bench-${options.label}` } });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const raw = await openPkcs11Hsm(env.token.hsmConfig, { sessions: config.hsmConcurrency, logger });
  const hsm = options.hsm ? options.hsm(raw) : raw;
  try {
    const queues = new PhaseQueues(redis, prefix);
    const manifest = accounts.length
      ? accountsManifest(options.keys, options.regions, accounts)
      : benchManifest(options.keys, options.regions);
    await enqueueManifest(Readable.from([manifest]), {
      defaultRegion: config.region,
      accounts: config.accounts,
      ledger: new Ledger(redis, prefix),
      queues,
    });
    await queues.close();

    const events = new WorkerEvents(logger);
    let started = 0;
    let firstFinished = 0;
    let lastFinished = 0;
    let finished = 0;
    let tokenRefreshes = 0;
    const params = { calls: 0, firstMs: 0, lastMs: 0 };
    events.on("key:finished", () => {
      lastFinished = performance.now();
      if (finished++ === 0) firstFinished = lastFinished;
    });
    events.on("token:refreshed", () => tokenRefreshes++);
    const firstEndedMs: Record<string, number> = {};
    events.on("phase:ended", ({ phase }) => {
      firstEndedMs[phase] ??= Math.round(performance.now() - started);
    });
    events.on("kms:request", (event) => {
      if (event.operation !== "GetParametersForImport") return;
      const at = performance.now() - started;
      if (params.calls++ === 0) params.firstMs = at;
      params.lastMs = at;
    });

    const serverBefore = await serverCommandCalls(redis);
    const counter = new ClientCommandCounter().start();
    started = performance.now();
    const fleet = await startFleet({
      config,
      phases: [...PHASES],
      regions: options.regions,
      untilIdle: true,
      hsm,
      connection: redis,
      logger,
      events,
      toolVersion: "bench",
      kmsCredentials: BENCH_CREDENTIALS,
      pollMs: 250,
    });
    const timeout = setTimeout(() => void fleet.close(5000), options.timeoutMs ?? 900_000);
    await fleet.stopped;
    await fleet.close();
    clearTimeout(timeout);
    const client = counter.stop();
    const serverCommands = (await serverCommandCalls(redis)) - serverBefore - 1;

    const ledger = new Ledger(redis, prefix);
    const counts = await ledger.counts();
    const failures: string[] = [];
    for await (const record of ledger.records())
      if (record.status === "failed" && failures.length < 5)
        failures.push(`${record.source.label}: ${record.error?.code} ${record.error?.message}`);
    const elapsedMs = (lastFinished || performance.now()) - started;
    const migrated = counts.byStatus["migrated"] ?? 0;
    return {
      keys: options.keys.length,
      migrated,
      failed: counts.byStatus["failed"] ?? 0,
      elapsedMs,
      keysPerSecond: (migrated * 1000) / elapsedMs,
      steadyKeysPerSecond: ((finished - 1) * 1000) / Math.max(1, lastFinished - firstFinished),
      params,
      tokenRefreshes,
      firstEndedMs,
      kms: emulator.stats(),
      client,
      serverCommands,
      failures:
        finished === options.keys.length
          ? failures
          : [...failures, `${finished} of ${options.keys.length} finished`],
    };
  } finally {
    await hsm.close();
    await emulator.close();
    redis.disconnect();
    await env.releasePrefix(prefix);
    if (accountsDir) await rm(accountsDir, { recursive: true, force: true });
  }
}

/** Requests and throttles of one operation over every Region of an emulator's stats. */
export function operationTotals(
  stats: KmsEmulatorStats,
  operation: string,
): { calls: number; throttled: number } {
  let calls = 0;
  let throttled = 0;
  for (const operations of Object.values(stats.regions)) {
    calls += operations[operation]?.calls ?? 0;
    throttled += operations[operation]?.throttled ?? 0;
  }
  return { calls, throttled };
}

/** AWS's default quotas scaled by `factor`, as an `Op=rps,...` list (for HSM2KMS_KMS_QUOTAS) and a table. */
export function scaledQuotas(
  defaults: Record<string, number>,
  factor: number,
): { list: string; table: Record<string, number> } {
  const table = Object.fromEntries(Object.entries(defaults).map(([op, rps]) => [op, rps * factor]));
  return {
    list: Object.entries(table)
      .map(([op, rps]) => `${op}=${rps}`)
      .join(","),
    table,
  };
}
