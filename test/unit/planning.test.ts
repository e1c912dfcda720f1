import { describe, expect, it } from "vitest";
import { deadlineFlag } from "../../src/cli/commands/plan.js";
import { CampaignWorkload, planCampaign, renderPlan } from "../../src/planning/index.js";
import { loadConfig } from "../../src/shared/config.js";

/** Quotas chosen so that every operation the plan counts is some group's bottleneck. */
const QUOTAS = {
  GetParametersForImport: 2,
  CreateKey: 2,
  CreateAlias: 1,
  ReplicateKey: 1,
  ImportKeyMaterial: 15,
  Sign: 1000,
};
const A = "111111111111";
const B = "222222222222";

/** 10 groups over 2 accounts; the comments are the figures worked out by hand. */
function tenGroups(): CampaignWorkload {
  const workload = new CampaignWorkload();
  const add = (
    account: string,
    region: string,
    count: number,
    alias: boolean,
    replicaRegions: string[] = [],
  ) => {
    for (let i = 0; i < count; i++)
      workload.add({ account, region, alias: alias ? `alias/k${i}` : undefined, replicaRegions });
  };
  add(A, "us-east-1", 40, false); // GPFI 40/2 = 20 s, CreateKey 40/2 = 20 s: a tie, GPFI first
  add(A, "us-west-2", 10, true, ["eu-west-1", "ap-south-1"]); // ReplicateKey 20/1 = 20 s
  // eu-west-1: 10 replicas, CreateKey 2 each = 20/2 = 10 s, CreateAlias 10/1 = 10 s: a tie, CreateKey first
  add(A, "ap-south-1", 4, false); // + 10 replicas: CreateKey (20 + 4)/2 = 12 s, 14 keys
  add(A, "ca-central-1", 3, true); // CreateAlias 3/1 = 3 s
  add(B, "us-east-1", 100, false); // GPFI 100/2 = 50 s: the slowest group
  add(B, "eu-west-1", 1, false); // GPFI 0.5 s
  add(B, "eu-central-1", 7, true); // CreateAlias 7 s
  add(B, "sa-east-1", 30, false); // GPFI 15 s
  add(B, "ap-northeast-1", 2, true); // CreateAlias 2 s
  return workload;
}

const hsm = { hosts: 2, wrapRatePerHost: 3, source: "HSM2KMS_HSM_WRAP_RATE" as const };

describe("planCampaign", () => {
  it("gives each of 10 account-Region groups its bottleneck and time at quota, as worked out by hand", () => {
    const plan = planCampaign({ groups: tenGroups().groups(), quotas: QUOTAS, hsm });
    const rows = plan.groups.map((g) => [g.account, g.region, g.keys, g.bottleneck.operation, g.seconds]);
    expect(rows).toEqual([
      [A, "ap-south-1", 14, "CreateKey", 12],
      [A, "ca-central-1", 3, "CreateAlias", 3],
      [A, "eu-west-1", 10, "CreateKey", 10],
      [A, "us-east-1", 40, "GetParametersForImport", 20],
      [A, "us-west-2", 10, "ReplicateKey", 20],
      [B, "ap-northeast-1", 2, "CreateAlias", 2],
      [B, "eu-central-1", 7, "CreateAlias", 7],
      [B, "eu-west-1", 1, "GetParametersForImport", 0.5],
      [B, "sa-east-1", 30, "GetParametersForImport", 15],
      [B, "us-east-1", 100, "GetParametersForImport", 50],
    ]);
    const apSouth = plan.groups[0]!;
    expect(apSouth.replicas).toBe(10);
    expect(apSouth.operations.map((o) => [o.operation, o.requests])).toEqual([
      ["GetParametersForImport", 14],
      ["CreateKey", 24],
      ["CreateAlias", 10],
      ["ImportKeyMaterial", 14],
      ["Sign", 14],
    ]);
    expect(plan.keys).toBe(217);
    expect(plan.kmsSeconds).toBe(50);
    // HSM: 2 hosts x 3 wraps/s = 6/s, 217 wraps = 36.17 s, under the KMS side's 50 s.
    expect(plan.hsm.fleetWrapRate).toBe(6);
    expect(plan.hsm.seconds).toBeCloseTo(217 / 6, 9);
    expect(plan.etaSeconds).toBe(50);
    // All groups at once ask 14/12 + 3/3 + 10/10 + 40/20 + 10/20 + 2/2 + 7/7 + 1/0.5 + 30/15 + 100/50 keys/s.
    expect(plan.hsm.peakDemand).toBeCloseTo(13 + 2 / 3, 9);
    expect(plan.hsm.hostsNeeded).toBe(5);
    expect(plan.boundBy).toBe("hsm"); // 2 hosts where 5 are needed: the ETA is a floor
    expect(plan.deadline).toBeUndefined();
  });

  it("with a deadline, names the groups that miss it and the quotas each needs, with their Service Quotas names", () => {
    const plan = planCampaign({ groups: tenGroups().groups(), quotas: QUOTAS, hsm, deadlineSeconds: 16 });
    expect(plan.deadline).toEqual({ seconds: 16, met: false, groupsMissing: 3, hsmMeets: false });
    const missing = plan.groups.filter((g) => !g.meetsDeadline);
    expect(missing.map((g) => `${g.account}/${g.region}`)).toEqual([
      `${A}/us-east-1`,
      `${A}/us-west-2`,
      `${B}/us-east-1`,
    ]);
    expect(missing.map((g) => g.increases.map((i) => [i.operation, i.quota, i.needed, i.quotaName]))).toEqual(
      [
        [
          ["GetParametersForImport", 2, 3, "GetParametersForImport request rate"], // 40 / 16 = 2.5
          ["CreateKey", 2, 3, "CreateKey request rate"],
        ],
        [["ReplicateKey", 1, 2, "ReplicateKey request rate"]], // 20 / 16 = 1.25
        [
          ["GetParametersForImport", 2, 7, "GetParametersForImport request rate"], // 100 / 16 = 6.25
          ["CreateKey", 2, 7, "CreateKey request rate"],
        ],
      ],
    );
    expect(plan.groups.filter((g) => g.meetsDeadline).every((g) => g.increases.length === 0)).toBe(true);
    // At the deadline's pace the three late groups ask 40/16 + 10/16 + 100/16 keys/s, the rest as before.
    expect(plan.hsm.peakDemand).toBeCloseTo(150 / 16 + 14 / 12 + 1 + 1 + 1 + 1 + 2 + 2, 9);
    expect(plan.hsm.hostsNeeded).toBe(7);
  });

  it("meets a deadline the quotas and hosts allow, and says the HSM side is off the critical path", () => {
    const workload = new CampaignWorkload();
    for (let i = 0; i < 10; i++) workload.add({ region: "us-east-1", alias: undefined, replicaRegions: [] });
    const plan = planCampaign({
      groups: workload.groups(),
      quotas: QUOTAS,
      hsm: { hosts: 1, wrapRatePerHost: 4, source: "default" },
      deadlineSeconds: 60,
    });
    expect(plan.groups[0]!.account).toBeNull();
    expect(plan.etaSeconds).toBe(5); // GPFI 10 / 2
    expect(plan.hsm.hostsNeeded).toBe(1); // the group asks 2 keys/s, one host wraps 4
    expect(plan.boundBy).toBe("kms");
    expect(plan.deadline).toEqual({ seconds: 60, met: true, groupsMissing: 0, hsmMeets: true });
  });

  it("renders the quota to request for a missed deadline in text", () => {
    const plan = planCampaign({ groups: tenGroups().groups(), quotas: QUOTAS, hsm, deadlineSeconds: 16 });
    const text = renderPlan(plan, { manifest: "keys.csv", quotas: "test quotas" });
    expect(text).toContain("keys.csv: 217 keys in 10 groups");
    expect(text).toContain(`${B} us-east-1: 50.0s at GetParametersForImport 2/s`);
    expect(text).toContain('"GetParametersForImport request rate": 2 -> 7 requests/s');
    expect(text).toContain('"ReplicateKey request rate": 1 -> 2 requests/s');
    expect(text).toContain("MISSED. 3 of 10 groups miss it");
    expect(text).toContain("HSM: run 7 HSM host(s) (now 2)");
  });
});

describe("HSM2KMS_HSM_WRAP_RATE", () => {
  it("is unset by default, takes a positive rate, and refuses anything else naming the variable", () => {
    expect(loadConfig({}).hsmWrapRate).toBeUndefined();
    expect(loadConfig({ HSM2KMS_HSM_WRAP_RATE: "2.5" }).hsmWrapRate).toBe(2.5);
    for (const bad of ["0", "-1", "fast", "1e3", "5/s"])
      expect(() => loadConfig({ HSM2KMS_HSM_WRAP_RATE: bad })).toThrow(
        /HSM2KMS_HSM_WRAP_RATE=.* is invalid: expected a number/,
      );
  });
});

describe("plan --deadline", () => {
  it("takes a duration with its unit and refuses a bare number or nonsense, naming the flag", () => {
    expect(deadlineFlag("8h")).toBe(28_800);
    expect(deadlineFlag(undefined)).toBeUndefined();
    for (const bad of ["8", "soon", "0s", "400d"]) expect(() => deadlineFlag(bad)).toThrow(/--deadline/);
  });
});
