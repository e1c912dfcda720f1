import { quotaFigures, quotaRun } from "./quota.js";
import type { Scenario } from "./types.js";

export const latencyScenario: Scenario = {
  name: "latency",
  description: "as quota, with 20-60 ms injected into every KMS call: efficiency must hold",
  keysNeeded: (quick) => (quick ? 100 : 300),
  async run(context) {
    const run = await quotaRun(context, {
      name: "latency",
      keys: this.keysNeeded(context.quick),
      factor: context.quick ? 10 : 5,
      regions: 1,
      latencyMs: [20, 60],
    });
    if (run.result.failures.length) process.stderr.write(`latency: ${run.result.failures.join("\n")}\n`);
    return quotaFigures("4 latency 20-60ms", run);
  },
};
