import { atLeast, atMost, type Figure, info } from "../lib/report.js";
import { quotaRun } from "./quota.js";
import type { Scenario } from "./types.js";

/**
 * The same keys over 1, 2 and 4 Regions, each Region with its own quotas (and its own queues and limiter):
 * throughput should scale with the Regions. The quota factor is lower than in `quota` so that four Regions
 * stay within what two shared cores can drive.
 */
export const regionsScenario: Scenario = {
  name: "regions",
  description: "the same keys split over 1, 2 and 4 Regions: scaling of keys/s against one Region",
  keysNeeded: (quick) => (quick ? 60 : 160),
  async run(context) {
    const keys = this.keysNeeded(context.quick);
    const factor = context.quick ? 5 : 2;
    const figures: Figure[] = [];
    let single = 0;
    for (const regions of [1, 2, 4]) {
      const run = await quotaRun(context, { name: "regions", keys, factor, regions });
      const scenario = `2 regions x${regions}`;
      if (run.result.failures.length) process.stderr.write(`regions: ${run.result.failures.join("\n")}\n`);
      figures.push(
        info(scenario, "keys/s", run.result.keysPerSecond, `/ quota ${run.bottleneck}/s`),
        info(scenario, "efficiency vs quota", run.efficiency),
        atMost(scenario, "failed keys", run.result.failed, 0),
        atMost(scenario, "ThrottlingExceptions", run.result.kms.total.throttled, 9),
      );
      if (regions === 1) single = run.result.keysPerSecond;
      else
        figures.push(
          atLeast(scenario, "scaling vs 1 Region", run.result.keysPerSecond / single, 0.9 * regions),
        );
    }
    return figures;
  },
};
