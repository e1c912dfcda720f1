import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type FaultyHsm, faultyHsm } from "../../src/testkit/faulty-hsm.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { Figures } from "../helpers/chaos/figures.js";
import { runInProcessFleet } from "../helpers/chaos/in-process-fleet.js";
import { addToFigures, checkInvariants } from "../helpers/chaos/invariants.js";
import { reliabilityBench } from "../helpers/reliability-bench.js";

const figures = new Figures("verification mismatch (a wrong key of the same spec imported)");
// addMixedKeys cycles through key types: 0 and 6 are EC P-256, 3 and 9 are HMAC-256.
const bench = reliabilityBench({
  keys: { mixed: { label: "verify", count: 10, pick: [0, 6, 3, 9] } },
  figures,
  tempDir: "verify",
});

interface StoredKey {
  keyId: string;
  keyState: string;
  material?: string;
  deletionDate?: number;
}

describe("a wrong key imported", () => {
  it("is caught by verify: material deleted, key scheduled for deletion, evidence kept, VERIFICATION_FAILED", async () => {
    const keys = bench.keys;
    const [ecVictim, ecOther, macVictim, macOther] = keys as [SampleKey, SampleKey, SampleKey, SampleKey];
    const objectsBefore = bench.objectsBefore;
    const stateFile = join(bench.dir, "kms.json");
    const emulator = await bench.emulator({ quotas: false, acceptKwpZeroPadding: true, stateFile });
    const prefix = bench.prefix("verify");
    let wrapped: FaultyHsm | undefined;
    const substitutes = new Map([
      [ecVictim.label, ecOther],
      [macVictim.label, macOther],
    ]);
    const result = await runInProcessFleet({
      token: bench.token,
      emulatorUrl: emulator.url,
      prefix,
      keys,
      wrapHsm: (hsm) => {
        wrapped = faultyHsm(hsm, {
          // The HSM wraps another key of the same spec: KMS accepts it, only verification can tell.
          faultFor: ({ operation, ref }) => {
            const other = ref?.label ? substitutes.get(ref.label) : undefined;
            return operation === "wrapKey" && other
              ? { kind: "substitute-key", ref: { label: other.label, idHex: other.idHex } }
              : undefined;
          },
        });
        return wrapped;
      },
    });
    expect(result.timedOut).toBe(false);
    figures.fault("hsm:substitute-key", wrapped?.injected["substitute-key"] ?? 0);

    const report = await checkInvariants({
      prefix,
      emulatorUrl: emulator.url,
      tokenEnv: bench.token.env,
      hsmObjectsBefore: objectsBefore,
      expectedKeys: keys.length,
      allowedFailures: ["VERIFICATION_FAILED"],
    });
    figures.trials++;
    addToFigures(figures, report);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(2);
    expect(report.failed).toBe(2);

    await emulator.close();
    const state = JSON.parse(await readFile(stateFile, "utf8")) as {
      regions: Record<string, { keys: StoredKey[] }>;
    };
    const stored = new Map(state.regions["us-east-1"]?.keys.map((key) => [key.keyId, key]));
    for (const victim of [ecVictim, macVictim]) {
      const record = report.records.find((entry) => entry.source.label === victim.label);
      expect(record?.status).toBe("failed");
      expect(record?.error).toMatchObject({ code: "VERIFICATION_FAILED", phase: "verify" });
      expect(record?.error?.message).toContain("is not the HSM key");
      expect(record?.error?.message).toContain("scheduled for deletion");
      // The evidence stays in the ledger: the checks, with the failing one.
      expect(record?.verified).toBe("false");
      expect(record?.rolledBack).toBe(true);
      expect(record?.checks?.some((check) => check.result === "fail")).toBe(true);
      // KMS: the imported material is gone and the key is pending deletion.
      const kmsKey = stored.get(record?.kmsKeyId ?? "");
      expect(kmsKey?.keyState).toBe("PendingDeletion");
      expect(kmsKey?.material).toBeUndefined();
      expect(kmsKey?.deletionDate).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    }
    for (const other of [ecOther, macOther]) {
      const record = report.records.find((entry) => entry.source.label === other.label);
      expect(record?.status).toBe("migrated");
      expect(stored.get(record?.kmsKeyId ?? "")?.keyState).toBe("Enabled");
    }
  });
});
