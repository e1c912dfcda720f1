import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { HSM_PHASES, PHASES } from "../../src/shared/migration.js";
import { BENCH_REGIONS } from "../lib/bench-env.js";
import { scaledQuotas } from "../lib/fleet-run.js";
import { copyTokenForHosts } from "../lib/host-fleet.js";
import { type ProcessFleetResult, runProcessFleet } from "../lib/process-fleet-run.js";
import { atLeast, atMost, type Figure, info } from "../lib/report.js";
import type { Scenario, ScenarioContext } from "./types.js";

const REGION = BENCH_REGIONS[0]!;
const HOST_COUNTS = [1, 2, 3];
const KMS_PHASES = PHASES.filter((phase) => !HSM_PHASES.includes(phase)).join(",");

interface HostsRunSettings {
  label: string;
  hosts: number;
  /** Environments of the hosts' token copies (at least `hosts` of them). */
  tokenEnvs: Array<Record<string, string>>;
  wrapDelayMs: number;
  /** Quotas of the emulator and the fleet's limiter; undefined: lifted. */
  quotas: { list: string; table: Record<string, number> } | undefined;
}

/**
 * One migration by `hosts` HSM worker processes (preflight and wrap, HSM concurrency 1, each with its own
 * token copy, wrap slowed down) and one KMS-only worker process (create, params, import, verify).
 */
async function hostsRun(context: ScenarioContext, settings: HostsRunSettings): Promise<ProcessFleetResult> {
  const keys = await context.env.keys(hostsScenario.keysNeeded(context.quick));
  return runProcessFleet(context.env, {
    label: `${settings.label}${settings.hosts}`,
    keys,
    regions: [REGION],
    quotas: settings.quotas,
    configEnv: { HSM2KMS_HSM_CONCURRENCY: "1" },
    workers: [
      { name: "kms", args: ["--phases", KMS_PHASES, "--regions", REGION] },
      ...settings.tokenEnvs.slice(0, settings.hosts).map((env, n) => ({
        name: `hsm${n + 1}`,
        args: [
          "--phases",
          HSM_PHASES.join(","),
          "--regions",
          REGION,
          "--wrap-delay-ms",
          String(settings.wrapDelayMs),
        ],
        env,
      })),
    ],
  });
}

/** Wraps done by each HSM host (workers after the first, the KMS one). */
const wrapsPerHost = (run: ProcessFleetResult) =>
  run.phases
    .slice(1)
    .map((phases) => phases["wrap:success"] ?? 0)
    .join("/");

/** The keys/s figures of one run, its load and where the wraps ran. */
function runFigures(scenario: string, run: ProcessFleetResult, quota?: number): Figure[] {
  if (run.failures.length) process.stderr.write(`hosts: ${run.failures.join("\n")}\n`);
  return [
    info(
      scenario,
      "keys/s (whole run)",
      run.keysPerSecond,
      `${quota ? `/ quota ${quota}/s, ` : ""}${run.migrated} keys, load ${run.loadAtStart.toFixed(1)}`,
    ),
    info(scenario, "keys/s steady (first to last key)", run.steadyKeysPerSecond),
    info(scenario, "wraps per host", wrapsPerHost(run)),
    atMost(scenario, "failed keys", run.failed, 0),
  ];
}

/**
 * HSM client hosts as separate processes, each with its own copy of the token. Quotas lifted and a slow HSM
 * (one wrap at a time per host, +1 s each): keys/s must grow with the hosts. Then AWS's default quotas
 * (× 2 in a quick run) with an HSM four times faster than the quota on one host: the quota sets the pace,
 * whatever the number of hosts.
 */
export const hostsScenario: Scenario = {
  name: "hosts",
  description:
    "1, 2, 3 worker processes with their own token copy: scaling when HSM-bound, pace when quota-bound",
  keysNeeded: (quick) => (quick ? 12 : 60),
  async run(context) {
    // The keys exist before the token is copied: the copies do not follow the original.
    await context.env.keys(this.keysNeeded(context.quick));
    const tokens = await copyTokenForHosts(context.env.token, Math.max(...HOST_COUNTS));
    const figures: Figure[] = [];
    try {
      const hsmBound = { wrapDelayMs: 1000, quotas: undefined };
      let single = 0;
      for (const hosts of HOST_COUNTS) {
        const run = await hostsRun(context, {
          label: "hostsh",
          hosts,
          tokenEnvs: tokens.envs,
          ...hsmBound,
        });
        context.record(`hosts-hsm-bound-${hosts}`, { ...hsmBound, run });
        const scenario = `7 hosts x${hosts} HSM-bound`;
        figures.push(...runFigures(scenario, run));
        if (hosts === 1) single = run.keysPerSecond;
        else
          figures.push(
            atLeast(
              scenario,
              "scaling vs 1 host",
              run.keysPerSecond / single,
              Number((0.8 * hosts).toFixed(1)),
            ),
          );
      }

      const factor = context.quick ? 2 : 1;
      const quota = DEFAULT_KMS_QUOTAS.GetParametersForImport * factor;
      const quotaBound = { wrapDelayMs: 250, quotas: scaledQuotas(DEFAULT_KMS_QUOTAS, factor) };
      for (const hosts of HOST_COUNTS) {
        const run = await hostsRun(context, {
          label: "hostsq",
          hosts,
          tokenEnvs: tokens.envs,
          ...quotaBound,
        });
        context.record(`hosts-quota-bound-${hosts}`, { wrapDelayMs: quotaBound.wrapDelayMs, factor, run });
        const scenario = `7 hosts x${hosts} quota ${quota}/s`;
        const efficiency = run.keysPerSecond / quota;
        figures.push(
          ...runFigures(scenario, run, quota),
          {
            scenario,
            figure: "keys/s / quota",
            value: efficiency,
            goal: "0.9 to 1.0",
            met: efficiency >= 0.9 && efficiency <= 1.0,
          },
          atMost(scenario, "ThrottlingExceptions", run.throttled, 9),
          info(scenario, "GetParametersForImport throttled", run.paramsThrottled),
        );
      }
    } finally {
      await tokens.cleanup();
    }
    return figures;
  },
};
