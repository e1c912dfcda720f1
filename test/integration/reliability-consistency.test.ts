import { describe, expect, it } from "vitest";
import { formatManifestCsv } from "../../src/manifest/read.js";
import { Figures } from "../helpers/chaos/figures.js";
import { metricValue, runInProcessFleet } from "../helpers/chaos/in-process-fleet.js";
import { addToFigures, checkInvariants } from "../helpers/chaos/invariants.js";
import { reliabilityBench } from "../helpers/reliability-bench.js";

// AWS KMS Developer Guide, "AWS KMS eventual consistency": usually seconds, sometimes minutes. 30 s per change
// is far past what the phases' own SDK retries absorb; the 5-minute window must carry every key through.
const DELAY_MS = 30_000;

const figures = new Figures("eventual consistency (in-process fleet, KMS emulator with 30 s delays)");
// EC, HMAC and AES: a sign, a MAC and a round-trip check meet a fresh import's PendingImport in verify.
const bench = reliabilityBench({ keys: { mixed: { label: "consist", count: 5, pick: [0, 3, 4] } }, figures });
const prefix = bench.prefix("consist");

describe("eventual consistency: every change unseen by other calls for up to 30 s", () => {
  it("every key migrates exactly once: 0 failed, 0 duplicate or orphan KMS keys, no material deleted", async () => {
    const emulator = await bench.emulator({
      acceptKwpZeroPadding: true,
      quotas: false,
      consistencyDelayMs: DELAY_MS,
    });
    const manifest = formatManifestCsv(
      bench.keys.map((key) => ({
        source_label: key.label,
        source_id: key.idHex,
        region: "us-east-1",
        alias: `alias/consist/${key.label}`,
      })),
    );
    const result = await runInProcessFleet({
      token: bench.token,
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
      tokenEnv: bench.token.env,
      hsmObjectsBefore: bench.objectsBefore,
      expectedKeys: bench.keys.length,
    });
    figures.trials++;
    addToFigures(figures, report);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(bench.keys.length);
    // Counted in the emulator itself, keys callers cannot see yet included: one KMS key per source key.
    expect(emulator.allKeyIds("us-east-1")).toHaveLength(bench.keys.length);
    const stats = emulator.stats().regions["us-east-1"] ?? {};
    expect(stats["CreateKey"]?.calls).toBe(bench.keys.length);
    expect(stats["DeleteImportedKeyMaterial"]?.calls ?? 0).toBe(0);
    const waits = metricValue(result.metricsText, "hsm2kms_kms_not_yet_visible_total");
    figures.fault("kms:not-yet-visible", waits);
    expect(waits).toBeGreaterThan(0);
  });
});
