import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  AWS_SHARED_POOLS,
  parseEmulatorQuotas,
  quotaNames,
  sharedPoolFor,
} from "../../src/testkit/kms-emulator/aws-quotas.js";
import { OPERATIONS } from "../../src/testkit/kms-emulator/operations/index.js";
import { QuotaBuckets } from "../../src/testkit/kms-emulator/quotas.js";

const EMULATOR = join(import.meta.dirname, "../../src/testkit/kms-emulator");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

describe("the emulator's own quota table", () => {
  it("no emulator file imports the product's quota module", () => {
    const files = sources(EMULATOR);
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.filter((file) =>
      /["'][^"']*shared\/kms-quotas(\.js)?["']/.test(readFileSync(file, "utf8")),
    );
    expect(offenders).toEqual([]);
  });

  it("a request draws from its key type's pool; management operations from none", () => {
    expect(sharedPoolFor("Sign", "RSA_2048")).toBe("RsaCryptography");
    expect(sharedPoolFor("Verify", "RSA_4096")).toBe("RsaCryptography");
    expect(sharedPoolFor("Sign", "ECC_NIST_P256")).toBe("EccCryptography");
    expect(sharedPoolFor("Encrypt", "SYMMETRIC_DEFAULT")).toBe("SymmetricCryptography");
    expect(sharedPoolFor("GenerateMac", "HMAC_256")).toBe("HmacCryptography");
    expect(sharedPoolFor("GetPublicKey", "RSA_3072")).toBe("RsaCryptography");
    expect(sharedPoolFor("CreateKey", "RSA_2048")).toBeUndefined();
    expect(sharedPoolFor("Sign", undefined)).toBeUndefined();
  });

  it("Sign and Verify together cannot exceed the pool; a throttled request spends nothing", () => {
    let now = 0;
    const buckets = new QuotaBuckets({ RsaCryptography: 3, Sign: 1 }, () => now);
    expect(buckets.take("r", "Verify", "RsaCryptography")).toBe(true);
    expect(buckets.take("r", "Sign", "RsaCryptography")).toBe(true);
    // Sign's own bucket (1) is empty: throttled, and the pool keeps its last token for Verify.
    expect(buckets.take("r", "Sign", "RsaCryptography")).toBe(false);
    expect(buckets.take("r", "Verify", "RsaCryptography")).toBe(true);
    expect(buckets.take("r", "Verify", "RsaCryptography")).toBe(false);
    // Another pool and another Region are untouched; the pool refills at its rate.
    expect(buckets.take("r", "Sign", "EccCryptography")).toBe(false);
    expect(buckets.take("other", "Verify", "RsaCryptography")).toBe(true);
    now = 1000;
    expect(buckets.take("r", "Verify", "RsaCryptography")).toBe(true);
  });

  it("--quota takes operations and pools, refusing unknown names with the closest one", () => {
    const known = quotaNames(Object.keys(OPERATIONS));
    expect(parseEmulatorQuotas("Sign=9, RsaCryptography=2.5", known)).toEqual({
      Sign: 9,
      RsaCryptography: 2.5,
    });
    expect(parseEmulatorQuotas("RsaCrypto=2", known)).toMatch(
      /no RsaCrypto \(did you mean RsaCryptography\?\)/,
    );
    expect(parseEmulatorQuotas("Sing=3", known)).toMatch(/did you mean Sign\?/);
    expect(parseEmulatorQuotas("getparametersforimport=3", known)).toMatch(
      /did you mean GetParametersForImport\?/,
    );
    expect(parseEmulatorQuotas("Sign=0", known)).toMatch(/"Sign=0" is not Name=requestsPerSecond/);
    expect(parseEmulatorQuotas("Sign=1=2", known)).toMatch(/is not Name=requestsPerSecond/);
    expect(Object.keys(AWS_SHARED_POOLS).every((pool) => known.includes(pool))).toBe(true);
  });
});
