import type { BenchEnv } from "../lib/bench-env.js";
import type { Figure } from "../lib/report.js";

export interface ScenarioContext {
  env: BenchEnv;
  quick: boolean;
  /** Raw measurements, written to the JSON results as they are. */
  record(name: string, data: unknown): void;
}

export interface Scenario {
  name: string;
  description: string;
  /** HSM keys the scenario needs (0: none). */
  keysNeeded(quick: boolean): number;
  run(context: ScenarioContext): Promise<Figure[]>;
}
