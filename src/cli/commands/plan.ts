import type { Command } from "commander";
import { formatProblem, ManifestFileError, readManifest } from "../../manifest/read.js";
import { openManifestFile } from "../../manifest/source.js";
import type { WrapRateMeasurement } from "../../planning/measure-hsm.js";
// Not planning/index.js: it brings measure-hsm.js, and with it pkcs11js, which only --measure-hsm needs.
import { DEFAULT_HSM_WRAP_RATE, type HsmFleet, OPERATION_ORDER, planCampaign } from "../../planning/plan.js";
import { renderPlan } from "../../planning/render.js";
import { CampaignWorkload } from "../../planning/workload.js";
import { type Config, requireHsm } from "../../shared/config.js";
import { parseDurationMs } from "../../shared/durations.js";
import { ConfigError } from "../../shared/errors.js";
import { DEFAULT_KMS_QUOTAS } from "../../shared/kms-quotas.js";
import { createLogger } from "../../shared/logger.js";
import { EXIT } from "../exit-codes.js";
import { configFrom, hsmConfigProblem } from "../runtime.js";

interface PlanFlags {
  region?: string;
  deadline?: string;
  hosts?: string;
  measureHsm?: boolean;
  json?: boolean;
}

/** `--deadline 8h`: a duration with its unit, from a minute to a year. */
export function deadlineFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined || !/[a-z]\s*$/i.test(text) || ms < 1000 || ms > 365 * 86_400_000)
    throw new ConfigError(
      `--deadline "${text}" is invalid: expected a duration with its unit (e.g. 90m, 8h, 3d), from 1s to 365d`,
    );
  return ms / 1000;
}

function hostsFlag(text: string | undefined): number {
  if (text === undefined) return 1;
  const hosts = Number(text);
  if (!/^\d+$/.test(text.trim()) || hosts < 1 || hosts > 10_000)
    throw new ConfigError(
      `--hosts "${text}" is invalid: expected the number of HSM client hosts, 1 to 10000`,
    );
  return hosts;
}

/** The quotas the plan uses, and how they read: AWS's defaults, or which HSM2KMS_KMS_QUOTAS changed. */
function quotaSource(config: Config): { quotas: Record<string, number>; text: string } {
  const quotas = Object.fromEntries(OPERATION_ORDER.map((op) => [op, config.kmsQuotas[op] ?? 0]));
  const changed = OPERATION_ORDER.filter(
    (op) => config.kmsQuotas[op] !== DEFAULT_KMS_QUOTAS[op as keyof typeof DEFAULT_KMS_QUOTAS],
  ).map((op) => `${op}=${config.kmsQuotas[op]}`);
  const text =
    changed.length === 0
      ? "AWS's defaults (GetParametersForImport 1/s, CreateKey 5/s, ...)"
      : `AWS's defaults with HSM2KMS_KMS_QUOTAS ${changed.join(",")}`;
  return { quotas, text };
}

async function hsmFleet(
  config: Config,
  hosts: number,
  measure: boolean,
): Promise<{ fleet: HsmFleet; measurement?: WrapRateMeasurement }> {
  if (!measure) {
    const configured = config.hsmWrapRate;
    return {
      fleet: {
        hosts,
        wrapRatePerHost: configured ?? DEFAULT_HSM_WRAP_RATE,
        source: configured === undefined ? "default" : "HSM2KMS_HSM_WRAP_RATE",
      },
    };
  }
  const hsm = requireHsm(config);
  const { measureWrapRate } = await import("../../planning/measure-hsm.js");
  const logger = createLogger({ level: config.logLevel, base: { component: "plan" } });
  try {
    const measurement = await measureWrapRate(hsm, {
      sessions: config.hsmConcurrency,
      wrappingKeySpec: config.wrappingKeySpec,
      logger,
    });
    return { fleet: { hosts, wrapRatePerHost: measurement.wrapsPerSecond, source: "measured" }, measurement };
  } catch (error) {
    throw hsmConfigProblem(error, hsm) ?? error;
  }
}

/** Plans a manifest's campaign; returns the exit code. */
export async function runPlan(path: string, flags: PlanFlags): Promise<number> {
  const config = configFrom({ ...(flags.region !== undefined ? { region: flags.region } : {}) });
  const deadlineSeconds = deadlineFlag(flags.deadline);
  const hosts = hostsFlag(flags.hosts);
  const workload = new CampaignWorkload();
  let rejected = 0;
  try {
    const input = await openManifestFile(path, "a CSV file with a header row");
    for await (const entry of readManifest(input, { defaultRegion: config.region })) {
      if (entry.kind === "row") workload.add(entry.row);
      else {
        rejected += 1;
        for (const problem of entry.problems) process.stderr.write(`${path}: ${formatProblem(problem)}\n`);
      }
    }
  } catch (error) {
    if (error instanceof ManifestFileError) throw new ConfigError(`${path}: ${error.message}`);
    throw error;
  }
  const { fleet, measurement } = await hsmFleet(config, hosts, Boolean(flags.measureHsm));
  const quotas = quotaSource(config);
  const plan = planCampaign({
    groups: workload.groups(),
    quotas: config.kmsQuotas,
    roles: config.accounts,
    hsm: fleet,
    deadlineSeconds,
  });
  if (flags.json)
    process.stdout.write(
      `${JSON.stringify({ manifest: path, rowsRejected: rejected, quotas: quotas.quotas, ...plan, ...(measurement ? { measurement } : {}) }, null, 2)}\n`,
    );
  else {
    if (measurement)
      process.stdout.write(
        `Measured on this host: ${measurement.wraps} wraps (${measurement.wrappingAlgorithm}) in ${measurement.seconds.toFixed(2)}s over ${measurement.sessions} session(s) (HSM2KMS_HSM_CONCURRENCY): ${measurement.wrapsPerSecond.toFixed(1)} wraps/s; the temporary key was destroyed\n`,
      );
    process.stdout.write(renderPlan(plan, { manifest: path, quotas: quotas.text }));
    if (rejected > 0)
      process.stdout.write(`${rejected} rows rejected (on stderr) and left out of the plan\n`);
  }
  return rejected > 0 || plan.deadline?.met === false ? EXIT.failed : EXIT.ok;
}

export function registerPlanCommand(program: Command): void {
  program
    .command("plan")
    .argument("<manifest>", "manifest CSV (as for enqueue)")
    .description(
      [
        "Plan a campaign before running it: reads the manifest (no KMS, HSM or Redis writes), groups its keys by target account and Region (replicas in their own Region) and prints per group the keys, the bottleneck KMS operation, its quota (HSM2KMS_KMS_QUOTAS over AWS's defaults) and the time at that quota; then the HSM side (--hosts x the wrap rate per host: HSM2KMS_HSM_WRAP_RATE, its default, or --measure-hsm), the hosts that keep the HSM off the critical path, and the ETA.",
        "With --deadline: the groups that miss it and, for each, the quota to request (operation, value, and its Service Quotas name under AWS Key Management Service, per account and Region).",
        "Exit 0 when the plan fits, 1 when a row was rejected or the deadline is missed, 2 on a usage error or an unusable manifest.",
      ].join("\n\n"),
    )
    .option("--deadline <duration>", "the campaign must finish within this (e.g. 8h, 90m, 2d)")
    .option("--hosts <n>", "HSM client hosts that will run the wrap phase (default 1)")
    .option(
      "--measure-hsm",
      "time a few real wraps on the configured token (a temporary session key, destroyed) and plan with that rate instead of HSM2KMS_HSM_WRAP_RATE",
    )
    .option("--json", "print the plan as JSON (for scripts)")
    .option("--region <region>", "Region of rows without one (default: AWS_REGION)")
    .action(async (path: string, flags: PlanFlags) => {
      process.exitCode = await runPlan(path, flags);
    });
}
