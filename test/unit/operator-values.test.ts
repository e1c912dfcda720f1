import { describe, expect, it } from "vitest";
import { regionsFlag, secondsFlag } from "../../src/cli/flag-values.js";
import { loadConfig } from "../../src/shared/config.js";
import { ConfigError } from "../../src/shared/errors.js";
import { closestName, parseQuotaList } from "../../src/shared/kms-quotas.js";
import { kmsEmulatorOptionsFromFlags } from "../../src/testkit/kms-emulator/flags.js";
import { emulatorFlagDefaults } from "../helpers/kms-emulator-flags.js";

/** Values an operator can get wrong: each is refused naming the value and what was expected, never accepted. */
describe("operator values", () => {
  it("a quota for an operation that does not exist names the closest one, whatever its case", () => {
    expect(closestName("GetParametersforImport", ["CreateKey", "GetParametersForImport"])).toBe(
      "GetParametersForImport",
    );
    expect(parseQuotaList("GetParametersforImport=10")).toMatch(
      /GetParametersforImport is not an operation .*did you mean GetParametersForImport\?/,
    );
    expect(parseQuotaList("CreateKey=0")).toMatch(/a positive number/);
    expect(parseQuotaList("CreateKey=abc")).toMatch(/a positive number/);
    expect(parseQuotaList("GetParametersForImport=10, CreateKey=7")).toEqual({
      GetParametersForImport: 10,
      CreateKey: 7,
    });
    expect(() => loadConfig({ HSM2KMS_KMS_QUOTAS: "GetParametersforImport=10" })).toThrow(
      /HSM2KMS_KMS_QUOTAS.*did you mean GetParametersForImport/,
    );
  });

  it("the emulator's --quota knows the emulator's operations, the Tagging API's included", () => {
    const flags = emulatorFlagDefaults();
    expect(kmsEmulatorOptionsFromFlags({ ...flags, quota: "GetResources=3,Sign=9" }).quotas).toEqual({
      GetResources: 3,
      Sign: 9,
    });
    expect(() => kmsEmulatorOptionsFromFlags({ ...flags, quota: "Sing=9" })).toThrow(/did you mean Sign\?/);
  });

  it("a duration variable needs its unit (only 0 goes without)", () => {
    expect(() => loadConfig({ HSM2KMS_JOB_LOCK: "10" })).toThrow(/HSM2KMS_JOB_LOCK.*with its unit/);
    expect(() => loadConfig({ HSM2KMS_TOKEN_SAFETY_MARGIN: "10" })).toThrow(/HSM2KMS_TOKEN_SAFETY_MARGIN/);
    expect(loadConfig({ HSM2KMS_JOB_LOCK: "10s" }).jobLockMs).toBe(10_000);
    expect(loadConfig({ HSM2KMS_KMS_CONSISTENCY_WINDOW: "0" }).kmsConsistencyWindowMs).toBe(0);
  });

  it("intervals and deadlines parse, with a floor; regions must look like Regions", () => {
    expect(secondsFlag("--interval", "2", 200, 3_600_000)).toBe(2000);
    expect(secondsFlag("--interval", "0.3", 200, 3_600_000)).toBe(300);
    expect(secondsFlag("--interval", "500ms", 200, 3_600_000)).toBe(500);
    for (const bad of ["abc", "0", "-5", "0.01", ""])
      expect(() => secondsFlag("--interval", bad, 200, 3_600_000)).toThrow(ConfigError);
    expect(() => secondsFlag("--shutdown-deadline", "abc", 0, 3_600_000)).toThrow(
      /--shutdown-deadline "abc"/,
    );
    expect(regionsFlag("us-east-1, eu-west-1")).toEqual(["us-east-1", "eu-west-1"]);
    expect(() => regionsFlag("us-east-1,not-a-region")).toThrow(/not-a-region is not an AWS Region/);
    expect(() => regionsFlag(",")).toThrow(ConfigError);
  });
});
