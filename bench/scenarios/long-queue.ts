import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { BENCH_REGIONS } from "../lib/bench-env.js";
import { operationTotals, runFleetMigration, scaledQuotas } from "../lib/fleet-run.js";
import { atMost, info } from "../lib/report.js";
import { slowWrapHsm } from "../lib/slow-hsm.js";
import type { Scenario } from "./types.js";

/**
 * Many keys queued behind a slow HSM (one wrap at a time, each delayed): import tokens must be fetched just
 * in time, so none expires unused and GetParametersForImport is called once per key. KMS quotas are lifted
 * and the emulator's tokens live only a fraction of the run, so that a token fetched too early does expire.
 */
export const longQueueScenario: Scenario = {
  name: "long-queue",
  description: "keys queued behind a slow HSM (wrap concurrency 1): GetParametersForImport calls per key",
  keysNeeded: (quick) => (quick ? 200 : 2000),
  async run(context) {
    const keys = await context.env.keys(this.keysNeeded(context.quick));
    const wrapDelayMs = 40;
    const tokenTtlMs = context.quick ? 5_000 : 20_000;
    const result = await runFleetMigration(context.env, {
      label: "longq",
      keys,
      regions: [BENCH_REGIONS[0]!],
      configEnv: {
        HSM2KMS_HSM_CONCURRENCY: "1",
        HSM2KMS_KMS_QUOTAS: scaledQuotas(DEFAULT_KMS_QUOTAS, 100_000).list,
      },
      emulator: { quotas: false, tokenTtlMs },
      hsm: (hsm) => slowWrapHsm(hsm, wrapDelayMs),
    });
    context.record("long-queue", { wrapDelayMs, tokenTtlMs, result });
    if (result.failures.length) process.stderr.write(`long-queue: ${result.failures.join("\n")}\n`);
    const scenario = "6 long queue";
    const params = operationTotals(result.kms, "GetParametersForImport").calls;
    return [
      info(scenario, "keys migrated / failed", `${result.migrated} / ${result.failed}`),
      info(
        scenario,
        "keys/s (HSM-bound)",
        result.keysPerSecond,
        `wrap +${wrapDelayMs} ms, TTL ${tokenTtlMs / 1000} s`,
      ),
      atMost(scenario, "GetParametersForImport per key", params / result.keys, 1),
      atMost(scenario, "token refreshes", result.tokenRefreshes, 0),
      atMost(scenario, "failed keys", result.failed, 0),
    ];
  },
};
