import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { BENCH_REGIONS } from "../lib/bench-env.js";
import { scaledQuotas } from "../lib/fleet-run.js";
import { copyTokenForHosts } from "../lib/host-fleet.js";
import { runProcessFleet } from "../lib/process-fleet-run.js";
import { atLeast, atMost, type Figure, info } from "../lib/report.js";
import { quotaRun } from "./quota.js";
import type { Scenario, ScenarioContext } from "./types.js";

/**
 * 4 Regions served by worker processes (bench/lib/worker-host.ts, every phase, each with its own token copy):
 * one process, then two as a fleet of two hosts would run, either each serving two of the Regions or both
 * serving all four.
 */
async function processFigures(
  context: ScenarioContext,
  factor: number,
  single: { keysPerSecond: number; steadyRate: number },
): Promise<Figure[]> {
  const keys = await context.env.keys(regionsScenario.keysNeeded(context.quick));
  const regions = BENCH_REGIONS.slice(0, 4);
  const quotas = scaledQuotas(DEFAULT_KMS_QUOTAS, factor);
  const bottleneck = DEFAULT_KMS_QUOTAS.GetParametersForImport * factor * regions.length;
  const tokens = await copyTokenForHosts(context.env.token, 2);
  const figures: Figure[] = [];
  try {
    // One process first: the same measurement as the two-process runs (workers started before the clock),
    // so that what a second process changes is not confused with the in-process runs' start-up.
    const layouts = [
      { name: "1 process, 4 Regions", processes: 1, served: () => regions },
      {
        name: "2 processes, 2 Regions each",
        processes: 2,
        served: (n: number) => regions.filter((_, i) => i % 2 === n),
      },
      { name: "2 processes, 4 Regions each", processes: 2, served: () => regions },
    ];
    for (const layout of layouts) {
      const run = await runProcessFleet(context.env, {
        label: "regions4p",
        keys,
        regions,
        quotas,
        workers: Array.from({ length: layout.processes }, (_, n) => ({
          name: `worker${n + 1}`,
          args: ["--regions", layout.served(n).join(",")],
          env: tokens.envs[n]!,
        })),
      });
      context.record(`regions-r4-${layout.name}`, { factor, bottleneck, run });
      if (run.failures.length) process.stderr.write(`regions: ${run.failures.join("\n")}\n`);
      const scenario = `2 regions x4 ${layout.name}`;
      figures.push(
        info(
          scenario,
          "keys/s",
          run.keysPerSecond,
          `/ quota ${bottleneck}/s, load ${run.loadAtStart.toFixed(1)}`,
        ),
        info(scenario, "efficiency vs quota", run.keysPerSecond / bottleneck),
        atMost(scenario, "failed keys", run.failed, 0),
        atMost(scenario, "ThrottlingExceptions", run.throttled, 9),
        atLeast(
          scenario,
          "scaling vs 1 Region (1 process)",
          run.keysPerSecond / single.keysPerSecond,
          0.9 * regions.length,
        ),
        info(scenario, "import steady rate", run.importSteadyRate, "/s"),
        atLeast(
          scenario,
          "steady scaling vs 1 Region",
          run.importSteadyRate / single.steadyRate,
          0.9 * regions.length,
        ),
      );
    }
  } finally {
    await tokens.cleanup();
  }
  return figures;
}

/**
 * The same keys over 1, 2 and 4 Regions, each Region with its own quotas (and its own queues and limiter):
 * throughput should scale with the Regions. The quota factor is lower than in `quota` so that four Regions
 * stay within what two shared cores can drive. 4 Regions run twice more with two worker processes.
 */
export const regionsScenario: Scenario = {
  name: "regions",
  description: "the same keys split over 1, 2 and 4 Regions: scaling of keys/s against one Region",
  keysNeeded: (quick) => (quick ? 60 : 160),
  async run(context) {
    const keys = this.keysNeeded(context.quick);
    const factor = context.quick ? 5 : 2;
    const figures: Figure[] = [];
    const single = { keysPerSecond: 0, steadyRate: 0 };
    for (const regions of [1, 2, 4]) {
      const run = await quotaRun(context, { name: "regions", keys, factor, regions });
      const scenario = `2 regions x${regions}`;
      if (run.result.failures.length) process.stderr.write(`regions: ${run.result.failures.join("\n")}\n`);
      figures.push(
        info(scenario, "keys/s", run.result.keysPerSecond, `/ quota ${run.bottleneck}/s`),
        info(scenario, "efficiency vs quota", run.efficiency),
        info(scenario, "params steady rate", run.steadyRate, "/s"),
        atMost(scenario, "failed keys", run.result.failed, 0),
        atMost(scenario, "ThrottlingExceptions", run.result.kms.total.throttled, 9),
      );
      if (regions === 1)
        Object.assign(single, {
          keysPerSecond: run.result.keysPerSecond,
          steadyRate: run.steadyRate,
        });
      else
        figures.push(
          atLeast(
            scenario,
            "scaling vs 1 Region",
            run.result.keysPerSecond / single.keysPerSecond,
            0.9 * regions,
          ),
          // The same keys over more Regions make a shorter run, while the fill (first keys' preflight and
          // create) and drain (last keys' wrap, import, verify) do not shrink: the steady pace shows the rest.
          atLeast(scenario, "steady scaling vs 1 Region", run.steadyRate / single.steadyRate, 0.9 * regions),
        );
    }
    figures.push(...(await processFigures(context, factor, single)));
    return figures;
  },
};
