import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import { type MigrationRecord, newMigrationRecord } from "../../src/shared/migration.js";
import { faultyHsm, type HsmFault } from "../../src/testkit/faulty-hsm.js";
import type { KmsEmulator, KmsEmulatorOptions } from "../../src/testkit/kms-emulator/index.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { type InProcessHooks, runMigrationInProcess } from "../../src/workers/in-process-runner.js";
import { Figures } from "../helpers/chaos/figures.js";
import { metricValue, runInProcessFleet } from "../helpers/chaos/in-process-fleet.js";
import { addToFigures, checkInvariants } from "../helpers/chaos/invariants.js";
import { chaosSeed, seededRandom } from "../helpers/chaos/random.js";
import { addMixedKeys, kmsKeysByMigration } from "../helpers/fleet.js";
import { realContext } from "../helpers/pipeline.js";
import { reliabilityBench } from "../helpers/reliability-bench.js";
import { listTokenObjects } from "../helpers/softhsm.js";

const TTL_MS = 1500;
const LIMITS = {
  maxAttempts: 3,
  maxTokenRefreshes: 3,
  tokenSafetyMarginMs: 0,
  baseBackoffMs: 10,
  maxBackoffMs: 50,
};
const seed = chaosSeed("token expiry");
const figures = new Figures(`import tokens expiring at every point (seed ${seed})`);
// EC P-256 (two-step RSA_AES_KEY_WRAP) and HMAC-256 (direct OAEP): both wrap paths.
const bench = reliabilityBench({ keys: { mixed: { label: "expiry", count: 4, pick: [0, 3] } }, figures });
let hsm: HsmPort;
/** Token objects before any migration; the fleet test adds keys and counts again. */
let objectsBefore: number;

beforeAll(async () => {
  objectsBefore = bench.objectsBefore;
  hsm = await openPkcs11Hsm(bench.token.hsmConfig, { sessions: 2 });
});

afterAll(async () => {
  await hsm?.close();
});

const emulatorWith = (options: KmsEmulatorOptions = {}) =>
  bench.emulator({ quotas: false, acceptKwpZeroPadding: true, tokenTtlMs: TTL_MS, ...options });

function recordFor(key: SampleKey, scenario: string): MigrationRecord {
  return newMigrationRecord(
    `${scenario}-${key.label}`,
    "us-east-1",
    { label: key.label, idHex: key.idHex },
    { tags: {}, multiRegion: false },
    new Date(),
  );
}

/** Migrates every key in this process (no safety margin: tokens really die) and checks the outcome. */
async function migrateAll(
  scenario: string,
  emulator: KmsEmulator,
  options: { hooks?: (key: SampleKey) => InProcessHooks; port?: HsmPort } = {},
): Promise<MigrationRecord[]> {
  const { context, close } = realContext(options.port ?? hsm, emulator.url, { tokenSafetyMarginMs: 0 });
  try {
    const results: MigrationRecord[] = [];
    for (const key of bench.keys)
      results.push(
        await runMigrationInProcess(context, recordFor(key, scenario), LIMITS, options.hooks?.(key)),
      );
    const { live } = await kmsKeysByMigration(emulator.url);
    for (const result of results) {
      expect(result.error, `${scenario}: ${key(result)}`).toBeUndefined();
      expect(result.status).toBe("migrated");
      expect(result.importParams).toBeUndefined();
      expect(result.wrappedMaterialB64).toBeUndefined();
      expect(live.get(result.id)).toEqual([result.kmsKeyId]);
      figures.keysMigrated++;
      figures.tokenRefreshes += result.tokenRefreshes;
    }
    figures.trials++;
    return results;
  } finally {
    close();
  }
}

const key = (record: MigrationRecord) => record.source.label ?? "";

/** A hook that sleeps past the token's life once per key, after `phase` succeeded. */
function sleepAfter(phase: string): (key: SampleKey) => InProcessHooks {
  return () => {
    let slept = false;
    return {
      onPhase: async (_record, ran, outcome) => {
        if (ran === phase && outcome === "success" && !slept) {
          slept = true;
          figures.fault(`token-expired:after-${phase}`);
          await sleep(TTL_MS + 200);
        }
      },
    };
  };
}

describe("import tokens expiring", () => {
  it("before wrap (the token died while the key waited for an HSM host): wrap refuses it, new parameters, migrated", async () => {
    const emulator = await emulatorWith();
    const results = await migrateAll("before-wrap", emulator, { hooks: sleepAfter("params") });
    for (const result of results) expect(result.tokenRefreshes).toBe(1);
    expect(emulator.stats().regions["us-east-1"]?.["GetParametersForImport"]?.calls).toBe(
      2 * bench.keys.length,
    );
    // The dead token never reached KMS.
    expect(emulator.stats().regions["us-east-1"]?.["ImportKeyMaterial"]?.calls).toBe(bench.keys.length);
  });

  it("between wrap and import (caught by hsm2kms before sending): wrapped again under new parameters, migrated", async () => {
    const emulator = await emulatorWith();
    const results = await migrateAll("after-wrap", emulator, { hooks: sleepAfter("wrap") });
    for (const result of results) expect(result.tokenRefreshes).toBe(1);
    expect(emulator.stats().regions["us-east-1"]?.["ImportKeyMaterial"]?.calls).toBe(bench.keys.length);
  });

  it("during import (valid when sent, expired when KMS reads it): ExpiredImportTokenException, back to params, migrated", async () => {
    const delayed = new Set<string>();
    const emulator = await emulatorWith({
      beforeOperation: async ({ operation }) => {
        if (operation !== "ImportKeyMaterial" || delayed.size >= bench.keys.length * 2) return;
        // Every key's first import waits inside KMS until its token is dead.
        delayed.add(String(delayed.size));
        if (delayed.size % 2 === 1) {
          figures.fault("token-expired:during-import");
          await sleep(TTL_MS + 100);
        }
      },
    });
    const results = await migrateAll("during-import", emulator);
    for (const result of results) expect(result.tokenRefreshes).toBe(1);
    expect(emulator.stats().regions["us-east-1"]?.["ImportKeyMaterial"]?.calls).toBe(2 * bench.keys.length);
  });

  it("during wrap (a slow HSM answers after the token died): the late ciphertext is not imported, migrated", async () => {
    const emulator = await emulatorWith();
    const slowFirstWrap = faultyHsm(hsm, {
      faultFor: ({ operation, callNumber }): HsmFault | undefined =>
        operation === "wrapKey" && callNumber === 1
          ? { kind: "slow", ms: TTL_MS + 200, when: "after" }
          : undefined,
    });
    const results = await migrateAll("during-wrap", emulator, { port: slowFirstWrap });
    figures.fault("token-expired:during-wrap", slowFirstWrap.injected["slow"] ?? 0);
    expect(results[0]?.tokenRefreshes).toBe(1);
    expect(results.slice(1).every((result) => result.tokenRefreshes === 0)).toBe(true);
  });

  it("seeded expiries at every point in the BullMQ fleet: every key migrates; refreshes counted in the ledger and the metric", async () => {
    const rng = seededRandom(seed);
    const ttlMs = 2500;
    const importsSeen = new Set<string>();
    const emulator = await emulatorWith({
      tokenTtlMs: ttlMs,
      beforeOperation: async ({ operation }) => {
        if (operation !== "ImportKeyMaterial") return;
        const n = String(importsSeen.size);
        importsSeen.add(n);
        if (rng.chance(0.3)) {
          figures.fault("token-expired:during-import");
          await sleep(ttlMs + 100);
        }
      },
    });
    const prefix = bench.prefix("expiry");
    const allKeys = await addMixedKeys(bench.token.env, "expiry-fleet", 8);
    objectsBefore = (await listTokenObjects(bench.token.env)).length;
    const result = await runInProcessFleet({
      token: bench.token,
      emulatorUrl: emulator.url,
      prefix,
      keys: allKeys,
      env: { HSM2KMS_TOKEN_SAFETY_MARGIN: "0s", HSM2KMS_MAX_TOKEN_REFRESHES: "10" },
      wrapHsm: (port) =>
        faultyHsm(port, {
          faultFor: ({ operation }): HsmFault | undefined => {
            if (operation !== "wrapKey" || !rng.chance(0.3)) return undefined;
            figures.fault("token-expired:during-wrap");
            return { kind: "slow", ms: ttlMs + 100, when: "after" };
          },
        }),
      timeoutMs: 120_000,
    });
    const report = await checkInvariants({
      prefix,
      emulatorUrl: emulator.url,
      tokenEnv: bench.token.env,
      hsmObjectsBefore: objectsBefore,
      expectedKeys: allKeys.length,
    });
    figures.trials++;
    addToFigures(figures, report);
    expect(result.timedOut).toBe(false);
    expect(report.problems, `seed ${seed}`).toEqual([]);
    const ledgerRefreshes = report.records.reduce((sum, record) => sum + record.tokenRefreshes, 0);
    expect(ledgerRefreshes).toBeGreaterThan(0);
    expect(metricValue(result.metricsText, "hsm2kms_import_token_refreshes_total"), "metric = ledger").toBe(
      ledgerRefreshes,
    );
    expect(result.tokenRefreshEvents, "events = ledger").toBe(ledgerRefreshes);
    // One set per key plus one per refresh; a job repeated after its lock was lost under load may fetch one more.
    expect(emulator.stats().regions["us-east-1"]?.["GetParametersForImport"]?.calls).toBeGreaterThanOrEqual(
      allKeys.length + ledgerRefreshes,
    );
    figures.notes.push(`fleet run: ${ledgerRefreshes} refreshes in the ledger = the metric's total`);
  }, 150_000);

  it("leaves no temporary object in the token", async () => {
    expect((await listTokenObjects(bench.token.env)).length).toBe(objectsBefore);
  });
});
