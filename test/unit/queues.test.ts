import { describe, expect, it } from "vitest";
import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { bullPrefix, parseQueueName, phaseLimiter, queueName } from "../../src/shared/queues.js";
import { parseTargetName, targetName, targetOf } from "../../src/shared/targets.js";

/** Jobs per second a limiter lets start. */
const rate = (limiter: { max: number; duration: number } | undefined) =>
  limiter ? (1000 * limiter.max) / limiter.duration : Number.POSITIVE_INFINITY;

describe("phaseLimiter", () => {
  it("paces the bottleneck (GetParametersForImport at 1/s) one job per 1.02 s", () => {
    expect(phaseLimiter("params", DEFAULT_KMS_QUOTAS)).toEqual({ max: 1, duration: 1020 });
  });

  it("paces a raised bottleneck in half-second windows a hair under the quota", () => {
    const limiter = phaseLimiter("params", {
      ...DEFAULT_KMS_QUOTAS,
      GetParametersForImport: 5,
      CreateKey: 5,
    });
    expect(limiter?.max).toBe(2);
    expect(rate(limiter)).toBeGreaterThan(4.97);
    expect(rate(limiter)).toBeLessThan(5);
  });

  it("runs phases that are not the bottleneck 10% under their quota", () => {
    expect(rate(phaseLimiter("create", DEFAULT_KMS_QUOTAS))).toBeCloseTo(5 / 1.1, 1);
    expect(rate(phaseLimiter("import", DEFAULT_KMS_QUOTAS))).toBeCloseTo(15 / 1.1, 1);
    // Once GetParametersForImport is raised above CreateKey, create is the bottleneck and gets the thin slack.
    const raised = { ...DEFAULT_KMS_QUOTAS, GetParametersForImport: 10 };
    expect(rate(phaseLimiter("create", raised))).toBeGreaterThan(4.97);
    expect(rate(phaseLimiter("params", raised))).toBeCloseTo(10 / 1.1, 1);
  });

  it("leaves phases without a KMS quota unpaced", () => {
    expect(phaseLimiter("preflight", DEFAULT_KMS_QUOTAS)).toBeUndefined();
    expect(phaseLimiter("wrap", DEFAULT_KMS_QUOTAS)).toBeUndefined();
  });

  it("with HSM2KMS_PARAMS_ON_HSM_HOST paces wrap, not params, at GetParametersForImport's quota", () => {
    expect(phaseLimiter("wrap", DEFAULT_KMS_QUOTAS, true)).toEqual({ max: 1, duration: 1020 });
    expect(phaseLimiter("params", DEFAULT_KMS_QUOTAS, true)).toBeUndefined();
  });
});

describe("queue names per target (account, Region)", () => {
  it("keeps the names of earlier versions for the caller's own account, and gives each other account its own", () => {
    expect(queueName("params", "us-east-1")).toBe("params-us-east-1");
    expect(queueName("params", { region: "us-east-1" })).toBe("params-us-east-1");
    expect(bullPrefix("hsm2kms", "params", "us-east-1")).toBe("hsm2kms:{params-us-east-1}");
    expect(queueName("params", { account: "222222222222", region: "us-east-1" })).toBe(
      "params-222222222222-us-east-1",
    );
    expect(bullPrefix("hsm2kms", "wrap", { account: "222222222222", region: "ap-south-2" })).toBe(
      "hsm2kms:{wrap-222222222222-ap-south-2}",
    );
  });

  it("parses back to the phase and target, Regions with '-' included", () => {
    for (const target of [
      { region: "us-gov-west-1" },
      { account: "222222222222", region: "us-gov-west-1" },
      { account: "012345678901", region: "eu-central-2" },
    ])
      for (const phase of ["preflight", "create", "params", "wrap", "import", "verify"] as const) {
        const name = queueName(phase, target);
        expect(parseQueueName(name)).toEqual({ phase, target });
        expect(parseTargetName(targetName(target))).toEqual(target);
      }
  });

  it("a record's queue is its account's: the same key in two accounts goes to two queues", () => {
    const record = { region: "eu-west-1", account: "333333333333" };
    expect(queueName("create", targetOf(record))).toBe("create-333333333333-eu-west-1");
    expect(queueName("create", targetOf({ region: "eu-west-1" }))).toBe("create-eu-west-1");
  });
});
