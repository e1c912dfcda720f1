/**
 * `npm run bench [-- [--quick] [scenario ...]]`: measures how close a migration gets to AWS KMS's quotas
 * and what the pipeline costs, prints an aligned table (figure, value, goal, met?) and writes every raw
 * measurement to bench/results/<timestamp>.json. Tests do not assert timings; this reports them.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { BenchEnv } from "./lib/bench-env.js";
import { type Figure, formatTable } from "./lib/report.js";
import { accountScenario } from "./scenarios/account.js";
import { accountsScenario } from "./scenarios/accounts.js";
import { enqueueScenario } from "./scenarios/enqueue.js";
import { hostsScenario } from "./scenarios/hosts.js";
import { hsmSearchScenario } from "./scenarios/hsm-search.js";
import { latencyScenario } from "./scenarios/latency.js";
import { longQueueScenario } from "./scenarios/long-queue.js";
import { overheadScenario } from "./scenarios/overhead.js";
import { quotaDefaultScenario, quotaScenario } from "./scenarios/quota.js";
import { regionsScenario } from "./scenarios/regions.js";
import { startupScenario } from "./scenarios/startup.js";
import type { Scenario } from "./scenarios/types.js";
import { userRunScenario } from "./scenarios/user-run.js";

process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true";

const SCENARIOS: Scenario[] = [
  quotaScenario,
  regionsScenario,
  overheadScenario,
  latencyScenario,
  enqueueScenario,
  hostsScenario,
  longQueueScenario,
  hsmSearchScenario,
  accountScenario,
  accountsScenario,
  userRunScenario,
  quotaDefaultScenario,
  startupScenario,
];

function parseArgs(argv: string[]): { quick: boolean; scenarios: Scenario[] } {
  const quick = argv.includes("--quick");
  const names = argv.filter((arg) => !arg.startsWith("--"));
  const unknown = names.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
  if (unknown.length > 0 || argv.some((arg) => arg.startsWith("--") && arg !== "--quick")) {
    process.stderr.write(
      `usage: npm run bench -- [--quick] [${SCENARIOS.map((s) => s.name).join("|")} ...]\n` +
        SCENARIOS.map((s) => `  ${s.name.padEnd(11)} ${s.description}\n`).join(""),
    );
    process.exit(2);
  }
  return { quick, scenarios: names.length ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS };
}

function machine() {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverage: loadavg().map((load) => Number(load.toFixed(2))),
  };
}

async function main(): Promise<void> {
  const { quick, scenarios } = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const before = machine();
  process.stderr.write(
    `bench: ${quick ? "quick" : "full"} run of ${scenarios.map((s) => s.name).join(", ")}; ` +
      `${before.cpus} CPUs, load ${before.loadAverage.join(" ")}\n`,
  );
  // Keys are made as scenarios ask for them, smallest first: SoftHSM2's file store slows down every object
  // search as the token grows, so a scenario must not run on a token larger than it needs.
  const env = await BenchEnv.open();
  const figures: Figure[] = [];
  const raw: Record<string, unknown> = {};
  const durations: Record<string, number> = {};
  try {
    // Interrupted: still remove the token and the Redis prefixes.
    process.once("SIGINT", () => void env.close().finally(() => process.exit(130)));
    for (const scenario of scenarios) {
      const started = performance.now();
      process.stderr.write(`bench: ${scenario.name} (load ${machine().loadAverage.join(" ")})...\n`);
      try {
        const result = await scenario.run({ env, quick, record: (name, data) => (raw[name] = data) });
        figures.push(...result);
      } catch (error) {
        process.stderr.write(`bench: ${scenario.name} failed: ${(error as Error).stack}\n`);
        figures.push({
          scenario: scenario.name,
          figure: "error",
          value: (error as Error).message,
          met: false,
        });
      }
      durations[scenario.name] = Math.round((performance.now() - started) / 1000);
      process.stderr.write(`bench: ${scenario.name} took ${durations[scenario.name]} s\n`);
    }
  } finally {
    await env.close();
  }
  const table = formatTable(figures);
  process.stdout.write(`\n${table}\n`);
  const dir = join(import.meta.dirname, "results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, "-")}${quick ? "-quick" : ""}.json`);
  const report = {
    startedAt: startedAt.toISOString(),
    quick,
    machine: { ...before, loadAverageAfter: machine().loadAverage },
    durationsSeconds: durations,
    figures,
    raw,
  };
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nresults: ${file}\n`);
}

await main();
