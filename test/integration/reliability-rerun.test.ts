import { beforeAll, describe, expect, it } from "vitest";
import { formatManifestCsv } from "../../src/manifest/read.js";
import type { KmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { SAMPLE_KEY_NAMES, SAMPLE_KEYS } from "../../src/testkit/sample-keys.js";
import { runInProcessFleet } from "../helpers/chaos/in-process-fleet.js";
import { checkInvariants, listKmsKeys } from "../helpers/chaos/invariants.js";
import { wipeCampaign } from "../helpers/redis.js";
import { reliabilityBench } from "../helpers/reliability-bench.js";

/**
 * Issue #20.1: a key migrated once must survive the manifest being run again, by a second campaign (another
 * queue prefix) or after its ledger was lost. create adopts the KMS key through its alias, wrap never runs,
 * and verify must still prove it (the HMAC challenge comes from preflight), never take missing evidence for a
 * mismatch and never delete material it did not import.
 */
const NAMES = SAMPLE_KEY_NAMES.filter((name) => SAMPLE_KEYS[name].extractable);
const KEYS = NAMES.map((name) => SAMPLE_KEYS[name]);

const bench = reliabilityBench({ keys: { sample: NAMES } });
let emulator: KmsEmulator;
const manifest = formatManifestCsv(
  KEYS.map((key) => ({ source_label: key.label, alias: `alias/rerun/${key.label}` })),
);

beforeAll(async () => {
  emulator = await bench.emulator({ quotas: false, acceptKwpZeroPadding: true });
});

async function campaign(prefix: string) {
  const result = await runInProcessFleet({
    token: bench.token,
    emulatorUrl: emulator.url,
    prefix,
    keys: manifest,
  });
  expect(result.timedOut).toBe(false);
  return checkInvariants({
    prefix,
    emulatorUrl: emulator.url,
    tokenEnv: bench.token.env,
    hsmObjectsBefore: bench.objectsBefore,
    expectedKeys: KEYS.length,
  });
}

const calls = (operation: string) => emulator.stats().regions["us-east-1"]?.[operation]?.calls ?? 0;

/** Every KMS key is the one campaign A made: Enabled, none pending deletion, none made twice, none re-imported. */
async function expectKmsUntouched(migrated: Map<string, string>) {
  const kmsKeys = await listKmsKeys(emulator.url);
  expect(kmsKeys).toHaveLength(KEYS.length);
  expect(kmsKeys.every((key) => key.keyState === "Enabled")).toBe(true);
  expect(new Map(kmsKeys.map((key) => [key.migrationId ?? "", key.keyId]))).toEqual(migrated);
  expect(calls("CreateKey")).toBe(KEYS.length);
  expect(calls("ImportKeyMaterial")).toBe(KEYS.length);
  expect(calls("DeleteImportedKeyMaterial")).toBe(0);
  expect(calls("ScheduleKeyDeletion")).toBe(0);
}

describe("the same manifest run again, every sandbox key type", () => {
  const migrated = new Map<string, string>();
  const first = bench.prefix("rerun-a");

  it("campaign A migrates and proves every key", async () => {
    const report = await campaign(first);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(KEYS.length);
    for (const record of report.records) migrated.set(record.id, record.kmsKeyId ?? "");
    expect(calls("ImportKeyMaterial")).toBe(KEYS.length);
  });

  it("campaign B (another queue prefix) adopts every KMS key through its alias and proves it, touching nothing", async () => {
    expect(migrated.size).toBe(KEYS.length);
    const paramsBefore = calls("GetParametersForImport");
    const report = await campaign(bench.prefix("rerun-b"));
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(KEYS.length);
    for (const record of report.records) {
      const key = KEYS.find((candidate) => candidate.label === record.source.label);
      expect(record.kmsKeyId).toBe(migrated.get(record.id));
      // Adopted: this campaign never wrapped nor imported, and still proved the key against the HSM.
      expect(record.importStartedAt).toBeUndefined();
      expect(record.verified).toBe(key?.keySpec === "SYMMETRIC_DEFAULT" ? "roundtrip" : "true");
      expect(record.rolledBack).toBeUndefined();
    }
    expect(calls("GetParametersForImport")).toBe(paramsBefore);
    await expectKmsUntouched(migrated);
  });

  it("campaign A's ledger wiped, the manifest run again under the same prefix: every key adopted and proven", async () => {
    expect(migrated.size).toBe(KEYS.length);
    await wipeCampaign(first);
    const report = await campaign(first);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(KEYS.length);
    const macKeys = report.records.filter((record) => record.sourceKey?.keyUsage === "GENERATE_VERIFY_MAC");
    expect(macKeys).toHaveLength(4);
    for (const record of report.records) {
      expect(record.kmsKeyId).toBe(migrated.get(record.id));
      expect(record.importStartedAt).toBeUndefined();
      expect(record.verified).not.toBe("unproven");
    }
    for (const record of macKeys)
      expect(record.checks).toEqual([
        expect.objectContaining({ name: "kms-mac-equals-hsm-mac", result: "pass" }),
      ]);
    await expectKmsUntouched(migrated);
  });
});
