import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { BENCH_REGIONS } from "../lib/bench-env.js";
import { operationTotals, runFleetMigration } from "../lib/fleet-run.js";
import { atLeast, atMost, info } from "../lib/report.js";
import type { Scenario } from "./types.js";

const ACCOUNTS = ["222222222222", "333333333333", "444444444444"];
const REGIONS = 2;
const GROUPS = ACCOUNTS.length * REGIONS;

/**
 * One campaign over 3 accounts x 2 Regions at AWS's default quotas (GetParametersForImport 1/s in each account
 * and Region: AWS KMS Developer Guide, "Quotas"): each pair has its own queues and limiter, so the six run in
 * parallel and the campaign should approach the sum of their quotas, 6 keys/s, where one account and Region
 * would do 1.
 */
export const accountsScenario: Scenario = {
  name: "accounts",
  description: `${ACCOUNTS.length} accounts x ${REGIONS} Regions at AWS's default quotas (1 GetParametersForImport/s each): keys/s against the sum of the groups' quotas`,
  keysNeeded: (quick) => GROUPS * (quick ? 3 : 20),
  async run(context) {
    const keys = this.keysNeeded(context.quick);
    const result = await runFleetMigration(context.env, {
      label: "accounts",
      keys: await context.env.keys(keys),
      regions: BENCH_REGIONS.slice(0, REGIONS),
      accounts: ACCOUNTS,
    });
    const quota = DEFAULT_KMS_QUOTAS.GetParametersForImport * GROUPS;
    const params = operationTotals(result.kms, "GetParametersForImport");
    context.record("accounts", { accounts: ACCOUNTS.length, regions: REGIONS, quota, result });
    if (result.failures.length) process.stderr.write(`accounts: ${result.failures.join("\n")}\n`);
    const scenario = `${ACCOUNTS.length} accounts x ${REGIONS} Regions`;
    return [
      info(scenario, "keys/s", result.keysPerSecond, `/ sum of quotas ${quota}/s`),
      info(scenario, "efficiency vs quota", result.keysPerSecond / quota),
      info(scenario, "steady keys/s", result.steadyKeysPerSecond, "/s"),
      // Six groups in parallel: well above what one group's 1/s allows (a fleet paced per Region only
      // would be held at 2/s).
      atLeast(
        scenario,
        "steady keys/s (6 groups at 1/s)",
        result.steadyKeysPerSecond,
        (GROUPS * 3) / 5,
        "/s",
      ),
      atMost(scenario, "failed keys", result.failed, 0),
      info(scenario, "GetParametersForImport throttled", params.throttled, `of ${params.calls}`),
    ];
  },
};
