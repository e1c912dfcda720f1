import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { BENCH_REGIONS } from "../lib/bench-env.js";
import { type FleetRunResult, operationTotals, runFleetMigration, scaledQuotas } from "../lib/fleet-run.js";
import { atMost, type Figure, info } from "../lib/report.js";
import type { Scenario, ScenarioContext } from "./types.js";

/** The emulator's tag index catches up within 0.5 s (its default): 3 s is plenty to wait after a lost answer. */
const TAG_INDEX_WAIT = "3s";
const SEEDED_KEYS = 10_000;

function callsPerKey(result: FleetRunResult): number {
  return result.kms.total.calls / Math.max(1, result.migrated);
}

async function accountRun(context: ScenarioContext, name: string, keys: number, lostCreateRate: number) {
  const factor = 10;
  const quotas = scaledQuotas(DEFAULT_KMS_QUOTAS, factor);
  const result = await runFleetMigration(context.env, {
    label: name,
    keys: await context.env.keys(keys),
    regions: BENCH_REGIONS.slice(0, 1),
    configEnv: { HSM2KMS_KMS_QUOTAS: quotas.list, HSM2KMS_TAG_INDEX_WAIT: TAG_INDEX_WAIT },
    emulator: {
      // The tag lookup's own quota (GetResources), scaled like the others.
      quotas: { ...quotas.table, GetResources: 5 * factor },
      seedKeys: SEEDED_KEYS,
      lostResponseRate: { CreateKey: lostCreateRate },
    },
  });
  context.record(name, { keys, lostCreateRate, seededKeys: SEEDED_KEYS, result });
  return result;
}

/**
 * A campaign into an account that already holds 10,000 unrelated keys, with 20 % of CreateKey answers lost
 * after KMS made the key (the create phase must find it by its tag) and without: KMS calls per migrated
 * key must stay within 2 of each other, and never grow with the account (no ListKeys scan).
 */
export const accountScenario: Scenario = {
  name: "account",
  description: `a ${SEEDED_KEYS.toLocaleString("en-US")}-key account, with 20% of CreateKey answers lost vs none: KMS calls per migrated key (tag lookups, no scan)`,
  keysNeeded: (quick) => (quick ? 30 : 100),
  async run(context) {
    const keys = this.keysNeeded(context.quick);
    const clean = await accountRun(context, "account-clean", keys, 0);
    const lossy = await accountRun(context, "account-lost-creates", keys, 0.2);
    for (const result of [clean, lossy])
      if (result.failures.length) process.stderr.write(`account: ${result.failures.join("\n")}\n`);
    const figures: Figure[] = [];
    for (const [label, result] of [
      ["no faults", clean],
      ["20% CreateKey answers lost", lossy],
    ] as const) {
      const scenario = `account (${SEEDED_KEYS} keys), ${label}`;
      figures.push(
        info(scenario, "keys migrated / failed", `${result.migrated} / ${result.failed}`),
        info(scenario, "KMS calls per migrated key", callsPerKey(result)),
        info(scenario, "CreateKey answers lost", lostCount(result)),
        info(scenario, "GetResources per key", operationTotals(result.kms, "GetResources").calls / keys),
        atMost(scenario, "ListKeys calls", operationTotals(result.kms, "ListKeys").calls, 0),
        atMost(scenario, "failed keys", result.failed, 0),
      );
    }
    figures.push(
      atMost(
        "account (10000 keys)",
        "calls per key: lost answers minus none",
        callsPerKey(lossy) - callsPerKey(clean),
        2,
      ),
    );
    return figures;
  },
};

function lostCount(result: FleetRunResult): number {
  let lost = 0;
  for (const operations of Object.values(result.kms.regions))
    for (const stats of Object.values(operations)) lost += stats.lostResponses ?? 0;
  return lost;
}
