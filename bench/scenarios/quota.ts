import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { TAGGING_QUOTAS } from "../../src/testkit/kms-emulator/operations/tagging.js";
import { BENCH_REGIONS, BENCH_WRAPPING_KEYS } from "../lib/bench-env.js";
import { type FleetRunResult, operationTotals, runFleetMigration, scaledQuotas } from "../lib/fleet-run.js";
import { atLeast, atMost, type Figure, info } from "../lib/report.js";
import type { Scenario, ScenarioContext } from "./types.js";

export interface QuotaRunSettings {
  name: string;
  keys: number;
  /** AWS's default quotas times this, for both the emulator and the fleet's limiter. */
  factor: number;
  regions: number;
  latencyMs?: [number, number];
  /** More configuration for the fleet (e.g. HSM2KMS_PARAMS_ON_HSM_HOST). */
  configEnv?: Record<string, string>;
}

/** One fleet run against scaled quotas; efficiency = keys/s over the whole run / the bottleneck quota. */
export async function quotaRun(context: ScenarioContext, settings: QuotaRunSettings) {
  const quotas = scaledQuotas(DEFAULT_KMS_QUOTAS, settings.factor);
  const regions = BENCH_REGIONS.slice(0, settings.regions);
  const result = await runFleetMigration(context.env, {
    label: settings.name,
    keys: await context.env.keys(settings.keys),
    regions,
    configEnv: { HSM2KMS_KMS_QUOTAS: quotas.list, ...settings.configEnv },
    // The tag lookup's own quota (GetResources, create's search for an earlier key), scaled like the others.
    emulator: {
      quotas: { ...quotas.table, GetResources: TAGGING_QUOTAS.GetResources! * settings.factor },
      ...(settings.latencyMs ? { latencyMs: settings.latencyMs } : {}),
    },
  });
  const bottleneck = DEFAULT_KMS_QUOTAS.GetParametersForImport * settings.factor * regions.length;
  const steadyRate =
    ((result.params.calls - 1) * 1000) / Math.max(1, result.params.lastMs - result.params.firstMs);
  const tokenSize = context.env.poolSize;
  context.record(`${settings.name}-r${settings.regions}`, {
    settings,
    bottleneck,
    steadyRate,
    tokenSize,
    wrappingKeys: BENCH_WRAPPING_KEYS,
    result,
  });
  return { result, bottleneck, efficiency: result.keysPerSecond / bottleneck, steadyRate, tokenSize };
}

/** Figures shared by the quota and latency scenarios. */
export function quotaFigures(
  scenario: string,
  run: {
    result: FleetRunResult;
    bottleneck: number;
    efficiency: number;
    steadyRate: number;
    tokenSize: number;
  },
): Figure[] {
  const { result } = run;
  const throttled = result.kms.total.throttled;
  return [
    info(
      scenario,
      "token size / keys migrated / failed",
      `${run.tokenSize} / ${result.migrated} / ${result.failed}`,
    ),
    info(scenario, "keys/s (whole run)", result.keysPerSecond, `/ quota ${run.bottleneck}/s`),
    atLeast(scenario, "efficiency vs quota", run.efficiency, 0.95),
    info(scenario, "params steady rate", run.steadyRate, "/s"),
    atMost(scenario, "failed keys", result.failed, 0),
    atMost(scenario, "ThrottlingExceptions", throttled, 9),
    info(
      scenario,
      "GetParametersForImport throttled",
      operationTotals(result.kms, "GetParametersForImport").throttled,
    ),
  ];
}

/** The token every quota figure runs on: a rehearsal of a real campaign runs on a token of thousands of keys. */
const QUOTA_TOKEN_KEYS = 2000;

export const quotaScenario: Scenario = {
  name: "quota",
  description:
    "mixed keys at AWS's default quotas x 10 on a 2,000-key token: keys/s against the GetParametersForImport quota (all 2,000 keys); again with the import parameters fetched by the wrap phase (HSM2KMS_PARAMS_ON_HSM_HOST, 300 keys)",
  keysNeeded: (quick) => (quick ? 100 : QUOTA_TOKEN_KEYS),
  async run(context) {
    await context.env.keys(this.keysNeeded(context.quick));
    const run = await quotaRun(context, {
      name: "quota",
      keys: this.keysNeeded(context.quick),
      factor: 10,
      regions: 1,
    });
    if (run.result.failures.length) process.stderr.write(`quota: ${run.result.failures.join("\n")}\n`);
    const onHsmHost = await quotaRun(context, {
      name: "quota-params-on-hsm-host",
      keys: context.quick ? 100 : 300,
      factor: 10,
      regions: 1,
      configEnv: { HSM2KMS_PARAMS_ON_HSM_HOST: "true" },
    });
    if (onHsmHost.result.failures.length)
      process.stderr.write(`quota, params on HSM host: ${onHsmHost.result.failures.join("\n")}\n`);
    return [...quotaFigures("1 quota", run), ...quotaFigures("1 quota, params on HSM host", onHsmHost)];
  },
};

/** AWS's default quotas as they are (GetParametersForImport 1/s): 300 keys, about five minutes. */
export const quotaDefaultScenario: Scenario = {
  name: "quota-aws",
  description: "300 mixed keys at AWS's default quotas (GetParametersForImport 1/s) on the 2,000-key token",
  keysNeeded: (quick) => (quick ? 100 : QUOTA_TOKEN_KEYS),
  async run(context) {
    await context.env.keys(this.keysNeeded(context.quick));
    const run = await quotaRun(context, {
      name: "quota-aws",
      keys: context.quick ? 30 : 300,
      factor: 1,
      regions: 1,
    });
    if (run.result.failures.length) process.stderr.write(`quota-aws: ${run.result.failures.join("\n")}\n`);
    return quotaFigures("1 quota at AWS's defaults", run);
  },
};
