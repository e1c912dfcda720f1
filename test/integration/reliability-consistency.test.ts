import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatManifestCsv } from "../../src/manifest/read.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { Figures } from "../helpers/chaos/figures.js";
import { metricValue, runInProcessFleet } from "../helpers/chaos/in-process-fleet.js";
import { addToFigures, checkInvariants } from "../helpers/chaos/invariants.js";
import { addMixedKeys } from "../helpers/fleet.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

// AWS KMS Developer Guide, "AWS KMS eventual consistency": usually seconds, sometimes minutes. 30 s per change
// is far past what the phases' own SDK retries absorb; the 5-minute window must carry every key through.
const DELAY_MS = 30_000;

let token: TestToken;
let keys: SampleKey[];
let objectsBefore: number;
let emulator: KmsEmulator | undefined;
const prefix = randomPrefix("consist");
const figures = new Figures("eventual consistency (in-process fleet, KMS emulator with 30 s delays)");

beforeAll(async () => {
  token = await createTestToken();
  // EC, HMAC and AES: a sign, a MAC and a round-trip check meet a fresh import's PendingImport in verify.
  keys = await addMixedKeys(token.env, "consist", 5);
  keys = [keys[0]!, keys[3]!, keys[4]!];
  objectsBefore = (await listTokenObjects(token.env)).length;
});

afterAll(async () => {
  figures.print();
  await emulator?.close();
  await wipeCampaign(prefix);
  await token?.cleanup();
});

describe("eventual consistency: every change unseen by other calls for up to 30 s", () => {
  it("every key migrates exactly once: 0 failed, 0 duplicate or orphan KMS keys, no material deleted", async () => {
    emulator = await startKmsEmulator({
      acceptKwpZeroPadding: true,
      quotas: false,
      consistencyDelayMs: DELAY_MS,
    });
    const manifest = formatManifestCsv(
      keys.map((key) => ({
        source_label: key.label,
        source_id: key.idHex,
        region: "us-east-1",
        alias: `alias/consist/${key.label}`,
      })),
    );
    const result = await runInProcessFleet({
      token,
      emulatorUrl: emulator.url,
      prefix,
      keys: manifest,
      // Lowest attempts allowed: a wait must spend none of them.
      env: { HSM2KMS_MAX_ATTEMPTS: "1" },
      timeoutMs: 240_000,
    });
    expect(result.timedOut).toBe(false);
    const report = await checkInvariants({
      prefix,
      emulatorUrl: emulator.url,
      tokenEnv: token.env,
      hsmObjectsBefore: objectsBefore,
      expectedKeys: keys.length,
    });
    figures.trials++;
    addToFigures(figures, report);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(keys.length);
    // Counted in the emulator itself, keys callers cannot see yet included: one KMS key per source key.
    expect(emulator.allKeyIds("us-east-1")).toHaveLength(keys.length);
    const stats = emulator.stats().regions["us-east-1"] ?? {};
    expect(stats["CreateKey"]?.calls).toBe(keys.length);
    expect(stats["DeleteImportedKeyMaterial"]?.calls ?? 0).toBe(0);
    const waits = metricValue(result.metricsText, "hsm2kms_kms_not_yet_visible_total");
    figures.fault("kms:not-yet-visible", waits);
    expect(waits).toBeGreaterThan(0);
  });
});
