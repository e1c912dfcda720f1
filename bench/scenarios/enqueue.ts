import type { Scenario } from "./types.js";
export const enqueueScenario: Scenario = {
  name: "enqueue",
  description: "todo",
  keysNeeded: () => 0,
  run: async () => [],
};
