import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPORT_COLUMNS } from "../../src/assurance/report-csv.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { type CliProcess, runCli, spawnCli } from "../helpers/cli.js";
import {
  addMixedKeys,
  cliEnvironment,
  kmsKeysByMigration,
  ledgerRecords,
  manifestFor,
  testLedger,
  waitFor,
} from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

let token: TestToken;
const emulators: KmsEmulator[] = [];
const workers: CliProcess[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  token = await createTestToken();
});

afterAll(async () => {
  for (const worker of workers) worker.child.kill("SIGKILL");
  await Promise.all(workers.map((worker) => worker.exited));
  await Promise.all(emulators.map((emulator) => emulator.close()));
  for (const prefix of prefixes) await wipeCampaign(prefix);
  await token?.cleanup();
});

function environment(emulator: KmsEmulator, prefix: string): Record<string, string> {
  return cliEnvironment(token.env, emulator.url, prefix, { HSM2KMS_JOB_LOCK: "4s" });
}

async function countFinished(prefix: string): Promise<{ migrated: number; failed: number }> {
  const { redis, ledger } = testLedger(prefix);
  try {
    const counts = await ledger.counts();
    return { migrated: counts.byStatus["migrated"] ?? 0, failed: counts.byStatus["failed"] ?? 0 };
  } finally {
    redis.disconnect();
  }
}

/** Each source key has exactly one KMS key, and every KMS key belongs to a key the ledger knows. */
async function expectOneKmsKeyPerSourceKey(
  emulator: KmsEmulator,
  ledgerRecords: MigrationRecord[],
): Promise<void> {
  const { live: byMigration } = await kmsKeysByMigration(emulator.url);
  for (const record of ledgerRecords)
    expect(byMigration.get(record.id), `KMS keys of ${record.source.label}`).toEqual([record.kmsKeyId]);
  const known = new Set(ledgerRecords.map((record) => record.id));
  expect([...byMigration.keys()].filter((id) => !known.has(id))).toEqual([]);
}

describe("the fleet", () => {
  let keys: SampleKey[];

  it("two worker processes migrate 16 mixed keys at AWS's default quotas; one is SIGKILLed mid-run; nothing is lost or duplicated", async () => {
    keys = await addMixedKeys(token.env, "fleet", 16, 2);
    const objectsBefore = (await listTokenObjects(token.env)).length;
    const emulator = await startKmsEmulator({ acceptKwpZeroPadding: true });
    emulators.push(emulator);
    const prefix = randomPrefix("fleet");
    prefixes.push(prefix);
    const env = environment(emulator, prefix);
    const manifest = join(token.dir, "fleet.csv");
    await writeFile(manifest, manifestFor(keys));

    const enqueued = await runCli(["enqueue", manifest], env);
    expect(enqueued.output).toContain("16 rows accepted (16 queued, 0 already known), 0 rejected");
    expect(enqueued.code).toBe(0);

    const doomed = spawnCli(["worker"], env);
    const survivor = spawnCli(["worker"], env);
    workers.push(doomed, survivor);
    await waitFor(async () => (await countFinished(prefix)).migrated >= 6, 90_000, "6 keys migrated");
    doomed.child.kill("SIGKILL");
    expect(await doomed.exited).toBe("SIGKILL");

    await waitFor(
      async () => {
        const { migrated, failed } = await countFinished(prefix);
        return migrated + failed === 16;
      },
      150_000,
      "all 16 keys finished",
    );
    survivor.child.kill("SIGTERM");
    expect(await survivor.exited).toBe(0);

    const all = await ledgerRecords(prefix);
    expect(
      all
        .filter((record) => record.status !== "migrated")
        .map((record) => `${record.source.label}: ${record.error?.message}`),
    ).toEqual([]);
    expect(all.every((record) => record.verified === "true" || record.verified === "roundtrip")).toBe(true);
    await expectOneKmsKeyPerSourceKey(emulator, all);
    expect(all.some((record) => record.error?.code === "KMS_THROTTLED")).toBe(false);
    const stats = emulator.stats();
    console.info(
      `fleet run: ${stats.total.calls} KMS calls, ${stats.total.throttled} throttled by the emulator's default quotas`,
    );
    // Session objects die with their process: whatever the killed worker had open is gone with it.
    expect((await listTokenObjects(token.env)).length).toBe(objectsBefore);

    // Re-enqueueing the same manifest, or an overlapping one, adds nothing already known.
    const again = await runCli(["enqueue", manifest], env);
    expect(again.output).toContain("16 rows accepted (0 queued, 16 already known), 0 rejected");
    const extra = await addMixedKeys(token.env, "fleet-extra", 2);
    const overlapping = join(token.dir, "overlapping.csv");
    await writeFile(overlapping, manifestFor([...keys.slice(0, 5), ...extra]));
    const overlap = await runCli(["enqueue", overlapping], env);
    expect(overlap.output).toContain("7 rows accepted (2 queued, 5 already known), 0 rejected");
  }, 300_000);

  it("tokens that expire while the wrap workers are down are refreshed and every key still migrates", async () => {
    const emulator = await startKmsEmulator({ acceptKwpZeroPadding: true, quotas: false, tokenTtlMs: 3000 });
    emulators.push(emulator);
    const prefix = randomPrefix("expiry");
    prefixes.push(prefix);
    const env = environment(emulator, prefix);
    // Four keys cover both wrap paths (EC P-256/P-384/secp256k1 two-step, HMAC direct); refresh is per key.
    const batch = await addMixedKeys(token.env, "expiry", 4);
    const manifest = join(token.dir, "expiry.csv");
    await writeFile(manifest, manifestFor(batch));
    expect((await runCli(["enqueue", manifest], env)).code).toBe(0);

    const early = await runCli(["worker", "--phases", "preflight,create,params", "--until-idle"], env);
    expect(early.code, early.output).toBe(0);
    const waiting = await ledgerRecords(prefix);
    expect(waiting.map((record) => record.phase)).toEqual(Array(batch.length).fill("wrap"));
    await sleep(3500);

    const rest = await runCli(["worker", "--until-idle"], env);
    expect(rest.code, rest.output).toBe(0);
    const done = await ledgerRecords(prefix);
    expect(done.map((record) => record.status)).toEqual(Array(batch.length).fill("migrated"));
    expect(done.every((record) => record.tokenRefreshes >= 1)).toBe(true);
    expect(emulator.stats().regions["us-east-1"]?.["GetParametersForImport"]?.calls).toBe(2 * batch.length);

    const status = await runCli(["status", "--json"], env);
    expect(JSON.parse(status.output.slice(status.output.indexOf("{"))).byStatus).toEqual({
      migrated: batch.length,
    });
    const report = await runCli(["report"], env);
    const lines = report.output.trim().split("\n");
    expect(lines[0]).toBe(REPORT_COLUMNS.join(","));
    expect(lines.slice(1).filter((line) => line.includes(",migrated,"))).toHaveLength(batch.length);
    expect(report.code).toBe(0);
  }, 180_000);
});
