import type { Scenario } from "./types.js";
export const longQueueScenario: Scenario = {
  name: "long-queue",
  description: "todo",
  keysNeeded: () => 0,
  run: async () => [],
};
