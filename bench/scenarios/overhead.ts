import type { Scenario } from "./types.js";
export const overheadScenario: Scenario = {
  name: "overhead",
  description: "todo",
  keysNeeded: () => 0,
  run: async () => [],
};
