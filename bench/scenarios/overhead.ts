import { randomBytes } from "node:crypto";
import { loadConfig } from "../../src/shared/config.js";
import { openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import { createKmsAdapter } from "../../src/shared/kms/index.js";
import type { KmsPort } from "../../src/shared/kms/types.js";
import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { silentLogger } from "../../src/shared/logger.js";
import { newMigrationRecord } from "../../src/shared/migration.js";
import { startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { runMigrationInProcess } from "../../src/workers/in-process-runner.js";
import { BENCH_CREDENTIALS, BENCH_WRAPPING_KEYS, type BenchEnv } from "../lib/bench-env.js";
import { runFleetMigration, scaledQuotas } from "../lib/fleet-run.js";
import { info } from "../lib/report.js";
import type { Scenario } from "./types.js";

const REGION = "us-east-1";
/** Keys in flight in the baseline: HSM2KMS_KMS_CONCURRENCY's default, the fleet's per-queue concurrency. */
const BASELINE_POOL = 8;

/**
 * The same phase functions for the same keys with no queue: each key runs all its phases in this process,
 * BASELINE_POOL keys at a time, over the same SoftHSM2 token and a fresh emulator with no quotas.
 */
async function baseline(
  env: BenchEnv,
  keys: SampleKey[],
): Promise<{ keysPerSecond: number; failed: number }> {
  const config = loadConfig({});
  const emulator = await startKmsEmulator({
    acceptKwpZeroPadding: true,
    ...BENCH_WRAPPING_KEYS,
    quotas: false,
  });
  const hsm = await openPkcs11Hsm(env.token.hsmConfig, { sessions: config.hsmConcurrency });
  const kms: KmsPort = createKmsAdapter({
    region: REGION,
    endpoint: emulator.url,
    credentials: BENCH_CREDENTIALS,
  });
  const context = {
    hsm: () => hsm,
    kms: () => kms,
    now: () => new Date(),
    randomBytes,
    // Multi-Region replicas read their primary's record; the bench migrates no replicas.
    lookup: async () => undefined,
    logger: silentLogger(),
    settings: {
      tokenSafetyMarginMs: config.tokenSafetyMarginMs,
      deletionWindowDays: config.deletionWindowDays,
      wrappingKeySpec: "RSA_2048" as const,
      toolVersion: "bench",
    },
  };
  const limits = {
    maxAttempts: config.maxAttempts,
    maxTokenRefreshes: config.maxTokenRefreshes,
    tokenSafetyMarginMs: config.tokenSafetyMarginMs,
  };
  try {
    let next = 0;
    let failed = 0;
    const started = performance.now();
    const lane = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const record = newMigrationRecord(
          `base-${key.label}`,
          REGION,
          { label: key.label, idHex: key.idHex },
          { alias: `alias/bench/${key.label}`, tags: {}, multiRegion: false },
          new Date(),
        );
        if ((await runMigrationInProcess(context, record, limits)).status !== "migrated") failed++;
      }
    };
    await Promise.all(Array.from({ length: BASELINE_POOL }, lane));
    return { keysPerSecond: (keys.length * 1000) / (performance.now() - started), failed };
  } finally {
    kms.close();
    await hsm.close();
    await emulator.close();
  }
}

export const overheadScenario: Scenario = {
  name: "overhead",
  description: "quotas lifted, no latency: the queued pipeline's keys/s against the same work with no queue",
  keysNeeded: (quick) => (quick ? 100 : 400),
  async run(context) {
    const keys = await context.env.keys(this.keysNeeded(context.quick));
    // Limiter quotas far above anything reachable: the pipeline runs as fast as it can, like the baseline.
    const lifted = scaledQuotas(DEFAULT_KMS_QUOTAS, 100_000).list;
    await baseline(context.env, keys.slice(0, 20)); // warm-up: JIT, SDK clients, HSM sessions
    const base = await baseline(context.env, keys);
    const pipeline = await runFleetMigration(context.env, {
      label: "overhead",
      keys,
      regions: [REGION],
      configEnv: { HSM2KMS_KMS_QUOTAS: lifted },
      emulator: { quotas: false },
    });
    const n = pipeline.keys;
    context.record("overhead", { baselinePool: BASELINE_POOL, base, pipeline });
    const scenario = "3 overhead";
    return [
      info(scenario, "baseline keys/s (no queue)", base.keysPerSecond, `pool ${BASELINE_POOL}`),
      info(scenario, "pipeline keys/s", pipeline.keysPerSecond),
      info(scenario, "keys failed (baseline / pipeline)", `${base.failed} / ${pipeline.failed}`),
      info(scenario, "pipeline / baseline", pipeline.keysPerSecond / base.keysPerSecond),
      info(scenario, "Redis round trips per key", pipeline.client.roundTrips / n, "this process"),
      info(scenario, "Redis commands sent per key", pipeline.client.commands / n, "this process"),
      info(scenario, "Redis commandstats per key", pipeline.serverCommands / n, "server-wide"),
    ];
  },
};
