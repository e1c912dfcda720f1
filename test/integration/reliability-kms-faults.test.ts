import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { KmsEmulator, KmsEmulatorOptions } from "../../src/testkit/kms-emulator/index.js";
import { Figures } from "../helpers/chaos/figures.js";
import { runInProcessFleet } from "../helpers/chaos/in-process-fleet.js";
import { addToFigures, checkInvariants, readLedger } from "../helpers/chaos/invariants.js";
import { emulatorKms } from "../helpers/pipeline.js";
import { reliabilityBench } from "../helpers/reliability-bench.js";

const figures = new Figures("KMS faults (in-process fleet, KMS emulator through the SDK)");
const bench = reliabilityBench({
  keys: { mixed: { label: "kmsfault", count: 6 } },
  figures,
  tempDir: "kms-state",
});

const emulatorWith = (options: KmsEmulatorOptions) =>
  bench.emulator({ acceptKwpZeroPadding: true, quotas: false, ...options });

function countFaults(emulator: KmsEmulator): void {
  for (const operations of Object.values(emulator.stats().regions))
    for (const [operation, stats] of Object.entries(operations)) {
      figures.fault(`kms:5xx`, stats.faults);
      figures.fault(`kms:throttled`, stats.throttled);
      figures.fault(`kms:reset`, stats.resets ?? 0);
      figures.fault(`kms:lost-response(${operation})`, stats.lostResponses ?? 0);
    }
}

/** Runs the fleet against `emulator` (or whatever `url` points at) and checks every invariant. */
async function migrateThrough(url: string, env: Record<string, string> = {}) {
  const prefix = bench.prefix("kmsfault");
  const result = await runInProcessFleet({
    token: bench.token,
    emulatorUrl: url,
    prefix,
    keys: bench.keys,
    env,
    timeoutMs: 90_000,
  });
  const report = await checkInvariants({
    prefix,
    emulatorUrl: url,
    tokenEnv: bench.token.env,
    hsmObjectsBefore: bench.objectsBefore,
    expectedKeys: bench.keys.length,
  });
  figures.trials++;
  addToFigures(figures, report);
  return { result, report, prefix };
}

describe("KMS faults", () => {
  it("5xx answers, connection resets and added latency: every key migrates, none fails", async () => {
    const emulator = await emulatorWith({ faultRate: 0.2, resetRate: 0.05, latencyMs: [5, 60] });
    const { result, report } = await migrateThrough(emulator.url);
    countFaults(emulator);
    expect(result.timedOut).toBe(false);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(bench.keys.length);
    const total = emulator.stats().total;
    expect(total.faults).toBeGreaterThan(0);
  });

  it("throttling bursts (KMS quotas far below what the workers send): no attempt spent, no key fails", async () => {
    const emulator = await emulatorWith({
      quotas: { CreateKey: 2, GetParametersForImport: 2, ImportKeyMaterial: 2, Sign: 3, GetPublicKey: 3 },
    });
    const { result, report } = await migrateThrough(emulator.url);
    countFaults(emulator);
    expect(result.timedOut).toBe(false);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(bench.keys.length);
    expect(emulator.stats().total.throttled).toBeGreaterThan(0);
    // A throttle spends no attempt: every key ran its six phases once, give or take a repeat.
    expect(report.records.every((record) => record.phaseAttempts === 0)).toBe(true);
  });

  it("responses lost after KMS acted (the change is made, the answer never arrives): no duplicate, no orphan", async () => {
    const emulator = await emulatorWith({
      lostResponseRate: {
        CreateKey: 0.5,
        CreateAlias: 0.5,
        GetParametersForImport: 0.3,
        ImportKeyMaterial: 0.5,
      },
    });
    const { result, report } = await migrateThrough(emulator.url);
    countFaults(emulator);
    expect(result.timedOut).toBe(false);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(bench.keys.length);
  });

  it("the emulator stopped mid-run (in-flight connections dropped) and restarted on its state file: the run completes without failed keys", async () => {
    const stateFile = join(bench.dir, "kms-state.json");
    const first = await emulatorWith({ stateFile, latencyMs: [5, 30] });
    const port = first.port;
    const prefix = bench.prefix("kmsrestart");
    const run = runInProcessFleet({
      token: bench.token,
      emulatorUrl: first.url,
      prefix,
      keys: bench.keys,
      timeoutMs: 90_000,
    });
    // Restart once some keys are past create but before the run is over.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const { records } = await readLedger(prefix);
      if (records.filter((record) => record.kmsKeyId).length >= 2) break;
      await sleep(20);
    }
    await first.close();
    figures.fault("kms:emulator-restart");
    await sleep(1500);
    const second = await emulatorWith({ stateFile, port, latencyMs: [5, 30] });
    const result = await run;
    const report = await checkInvariants({
      prefix,
      emulatorUrl: second.url,
      tokenEnv: bench.token.env,
      hsmObjectsBefore: bench.objectsBefore,
      expectedKeys: bench.keys.length,
    });
    figures.trials++;
    addToFigures(figures, report);
    expect(result.timedOut).toBe(false);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(bench.keys.length);
  });
});

describe("the emulator's test-support options", () => {
  it("resetRate resets connections before acting, lostResponseRate after; the hooks see operations and tokens", async () => {
    const operations: string[] = [];
    const tokens: Buffer[] = [];
    const resetting = await emulatorWith({ resetRate: 1 });
    const kms = emulatorKms(resetting.url);
    await expect(
      kms.createKey({ keySpec: "HMAC_256", keyUsage: "GENERATE_VERIFY_MAC", tags: {}, multiRegion: false }),
    ).rejects.toMatchObject({ code: "KMS_UNAVAILABLE" });
    kms.close();
    expect(resetting.stats().total.calls).toBeGreaterThan(0);

    const hooked = await emulatorWith({
      beforeOperation: ({ operation }) => {
        operations.push(operation);
      },
      onImportTokenIssued: (importToken) => tokens.push(importToken),
    });
    const client = emulatorKms(hooked.url);
    const key = await client.createKey({
      keySpec: "HMAC_256",
      keyUsage: "GENERATE_VERIFY_MAC",
      tags: {},
      multiRegion: false,
    });
    const params = await client.getParametersForImport(key.keyId, "RSAES_OAEP_SHA_256", "RSA_2048");
    client.close();
    expect(operations).toEqual(["CreateKey", "GetParametersForImport"]);
    expect(tokens).toEqual([params.importToken]);

    const losing = await emulatorWith({ lostResponseRate: 1 });
    const lossy = emulatorKms(losing.url);
    await expect(
      lossy.createKey({ keySpec: "HMAC_256", keyUsage: "GENERATE_VERIFY_MAC", tags: {}, multiRegion: false }),
    ).rejects.toMatchObject({ code: "KMS_UNAVAILABLE" });
    lossy.close();
    const regionStats = losing.stats().regions["us-east-1"]?.["CreateKey"];
    expect(regionStats?.lostResponses).toBe(1);
  });
});
