import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { atMost, type Figure, info } from "../lib/report.js";
import type { Scenario } from "./types.js";

const ROOT = join(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/hsm2kms.js");
const RUNS = 5;
/** Issue #15's goal for `--version` and `config`: operators run them by hand and in scripts. */
const GOAL_SECONDS = 0.4;

function newestSourceMtimeMs(): number {
  return Math.max(
    ...readdirSync(join(ROOT, "src"), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => statSync(join(entry.parentPath, entry.name)).mtimeMs),
  );
}

/**
 * bin/hsm2kms.js runs dist/ only when it is at least as new as src/: build it so that what an installed
 * package runs is what is measured (`startup`, `enqueue`).
 */
export function ensureFreshBuild(): void {
  const compiled = join(ROOT, "dist/cli/main.js");
  if (existsSync(compiled) && statSync(compiled).mtimeMs >= newestSourceMtimeMs()) return;
  process.stderr.write("bench: building dist/ (npm run build)...\n");
  const build = spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  if (build.status !== 0) throw new Error("npm run build failed");
}

/** Median wall time, in seconds, of RUNS starts of `node <entry> <args>`. */
function medianWallSeconds(entry: string, args: string[], env: NodeJS.ProcessEnv): number {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    const child = spawnSync(process.execPath, [entry, ...args], { cwd: ROOT, env, encoding: "utf8" });
    times.push((performance.now() - started) / 1000);
    if (child.status !== 0)
      throw new Error(`hsm2kms ${args.join(" ")} exited ${child.status}: ${child.stderr}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(RUNS / 2)]!;
}

export const startupScenario: Scenario = {
  name: "startup",
  description: `wall time of \`hsm2kms --version\` and \`hsm2kms config\` (median of ${RUNS}), compiled and through tsx`,
  keysNeeded: () => 0,
  async run(context) {
    ensureFreshBuild();
    // Only what `config` reads: no HSM library, so the figure is the CLI's own start-up.
    const env: NodeJS.ProcessEnv = { PATH: process.env["PATH"], HOME: process.env["HOME"] };
    const load = loadavg()[0]!;
    const version = medianWallSeconds(BIN, ["--version"], env);
    const config = medianWallSeconds(BIN, ["config"], env);
    // The same start through tsx (a clone without a fresh dist/), for comparison.
    const tsxEntry = join(ROOT, "node_modules/tsx/dist/cli.mjs");
    const viaTsx = medianWallSeconds(tsxEntry, [join(ROOT, "src/cli/main.ts"), "--version"], env);
    context.record("startup", { runs: RUNS, loadAverage1m: load, version, config, viaTsx });
    const figures: Figure[] = [
      atMost("startup", "--version wall (compiled)", version, GOAL_SECONDS, "s"),
      atMost("startup", "config wall (compiled)", config, GOAL_SECONDS, "s"),
      info("startup", "--version wall through tsx", viaTsx, "s"),
      info("startup", "load average (1 min) before", Number(load.toFixed(2))),
    ];
    return figures;
  },
};
