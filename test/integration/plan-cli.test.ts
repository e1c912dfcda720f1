import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

/** 10 Regions, the i-th with 2i+1 aliased keys: 100 keys, each group GetParametersForImport-bound at 1/s. */
const REGIONS = [
  "us-east-1",
  "us-east-2",
  "us-west-1",
  "us-west-2",
  "eu-west-1",
  "eu-west-2",
  "eu-central-1",
  "ap-south-1",
  "ap-northeast-1",
  "sa-east-1",
];
const keysIn = (index: number) => 2 * index + 1;

let dir: string;
let manifest: string;
let token: TestToken | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsm2kms-plan-"));
  manifest = join(dir, "keys.csv");
  const rows = ["source_label,region,alias"];
  REGIONS.forEach((region, index) => {
    for (let k = 0; k < keysIn(index); k++)
      rows.push(`key-${region}-${k},${region},alias/app/${region}-${k}`);
  });
  await writeFile(manifest, `${rows.join("\n")}\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await token?.cleanup();
});

const env = { AWS_REGION: "us-east-1", HSM2KMS_HSM_WRAP_RATE: "4" };

describe("hsm2kms plan (CLI)", () => {
  it("--json: per group keys, bottleneck, quota and time; the HSM side; a deadline that needs GetParametersForImport raised", async () => {
    const { code, output } = await runCli(
      ["plan", manifest, "--json", "--hosts", "2", "--deadline", "10s"],
      env,
    );
    expect(code).toBe(1); // the deadline is missed
    const plan = JSON.parse(output);
    expect(plan.rowsRejected).toBe(0);
    expect(plan.groups).toHaveLength(10);
    for (const group of plan.groups) {
      const keys = keysIn(REGIONS.indexOf(group.region));
      expect(group).toMatchObject({ account: null, keys, replicas: 0, seconds: keys });
      expect(group.bottleneck).toEqual({
        operation: "GetParametersForImport",
        requests: keys,
        quota: 1,
        seconds: keys,
      });
      // 11, 13, ... 19 keys at 1/s miss 10 s: each needs 2/s.
      expect(group.meetsDeadline).toBe(keys <= 10);
      expect(group.increases).toEqual(
        keys <= 10
          ? []
          : [
              {
                operation: "GetParametersForImport",
                quota: 1,
                needed: 2,
                quotaName: "GetParametersForImport request rate",
              },
            ],
      );
    }
    expect(plan.keys).toBe(100);
    expect(plan.kmsSeconds).toBe(19);
    // 2 hosts x 4 wraps/s: 100 wraps in 12.5 s. At the deadline's pace the groups ask 5 x 1 + (11+13+15+17+19)/10
    // = 12.5 keys/s: 4 hosts of 4 wraps/s.
    expect(plan.hsm).toMatchObject({
      hosts: 2,
      wrapRatePerHost: 4,
      source: "HSM2KMS_HSM_WRAP_RATE",
      seconds: 12.5,
    });
    expect(plan.hsm.peakDemand).toBeCloseTo(12.5, 9);
    expect(plan.hsm.hostsNeeded).toBe(4);
    expect(plan.etaSeconds).toBe(19);
    expect(plan.deadline).toEqual({ seconds: 10, met: false, groupsMissing: 5, hsmMeets: false });
  });

  it("text: a table of the groups and the quota to request for each group that misses the deadline", async () => {
    const { code, output } = await runCli(["plan", manifest, "--deadline", "10s"], env);
    expect(code).toBe(1);
    expect(output).toContain("100 keys in 10 groups");
    expect(output).toMatch(/\(caller\)\s+sa-east-1\s+19\s+GetParametersForImport\s+1\/s\s+19\.0s\s+NO/);
    expect(output).toMatch(/\(caller\)\s+us-east-1\s+1\s+GetParametersForImport\s+1\/s\s+1\.0s\s+yes/);
    expect(output).toContain("MISSED. 5 of 10 groups miss it");
    expect(output).toContain(
      "(caller) sa-east-1: 19.0s at GetParametersForImport 1/s; request in Service Quotas (AWS Key Management Service, sa-east-1):",
    );
    expect(output.match(/"GetParametersForImport request rate": 1 -> 2 requests\/s/g)).toHaveLength(5);
  });

  it("groups a manifest over 3 accounts x 2 Regions by account and Region, with each account's role; a bad row is named and left out", async () => {
    const accounts = ["222222222222", "333333333333", "444444444444"];
    const rows = ["source_label,account,region,alias"];
    accounts.forEach((account, a) => {
      for (const region of ["us-east-1", "eu-west-1"])
        for (let k = 0; k <= a; k++) rows.push(`k${k},${account},${region},alias/app/k${k}`);
    });
    rows.push("bad,12345,us-east-1,"); // line 14: rejected, named, left out of the plan
    const multi = join(dir, "accounts-manifest.csv");
    await writeFile(multi, `${rows.join("\n")}\n`);
    const accountsFile = join(dir, "accounts.csv");
    const role = (account: string) => `arn:aws:iam::${account}:role/hsm2kms-import`;
    await writeFile(
      accountsFile,
      `account,role_arn,external_id\n${accounts[0]},${role(accounts[0]!)},ext-secret-1\n${accounts[1]},${role(accounts[1]!)},\n`,
    );
    const { code, output } = await runCli(["plan", multi, "--json"], {
      ...env,
      HSM2KMS_ACCOUNTS_FILE: accountsFile,
    });
    expect(code).toBe(1); // a row was rejected
    expect(output).toContain("line 14, column account");
    expect(output).not.toContain("ext-secret-1");
    const plan = JSON.parse(output.slice(output.indexOf("{")));
    expect(plan.rowsRejected).toBe(1);
    // Account a holds a+1 keys in each Region; each group runs at its own 1/s.
    expect(
      plan.groups.map(
        (g: { account: string; region: string; keys: number; roleArn: string | null; seconds: number }) => [
          g.account,
          g.region,
          g.keys,
          g.roleArn,
          g.seconds,
        ],
      ),
    ).toEqual([
      [accounts[0], "eu-west-1", 1, role(accounts[0]!), 1],
      [accounts[0], "us-east-1", 1, role(accounts[0]!), 1],
      [accounts[1], "eu-west-1", 2, role(accounts[1]!), 2],
      [accounts[1], "us-east-1", 2, role(accounts[1]!), 2],
      [accounts[2], "eu-west-1", 3, null, 3],
      [accounts[2], "us-east-1", 3, null, 3],
    ]);
    expect(plan.kmsSeconds).toBe(3);
  });

  it("--measure-hsm times real wraps on the token and plans with the measured rate, leaving nothing on the token", async () => {
    token = await createTestToken();
    const before = await listTokenObjects(token.env);
    const { code, output } = await runCli(["plan", manifest, "--json", "--measure-hsm", "--deadline", "5m"], {
      ...token.env,
      AWS_REGION: "us-east-1",
      HSM2KMS_HSM_CONCURRENCY: "2",
      HSM2KMS_WRAPPING_KEY_SPEC: "RSA_2048",
    });
    expect(code).toBe(0); // 19 s at the quotas, and even a loaded SoftHSM2 wraps 100 keys well within 5 minutes
    const plan = JSON.parse(output);
    expect(plan.deadline).toMatchObject({ met: true, groupsMissing: 0 });
    expect(plan.measurement).toMatchObject({ sessions: 2, wraps: 8 });
    expect(plan.measurement.wrapsPerSecond).toBeGreaterThan(0);
    expect(plan.hsm).toMatchObject({
      hosts: 1,
      source: "measured",
      wrapRatePerHost: plan.measurement.wrapsPerSecond,
    });
    expect(plan.hsm.hostsNeeded).toBe(Math.max(1, Math.ceil(10 / plan.measurement.wrapsPerSecond - 1e-9)));
    expect(await listTokenObjects(token.env)).toEqual(before);
  });
});
