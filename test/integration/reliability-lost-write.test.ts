import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { addMixedKeys, cliEnvironment, manifestFor, testLedger } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * Redis replicates asynchronously: a failover to a replica that had not yet received the last writes (Redis
 * Cluster, or a managed Redis's primary/replica pair) loses them. The ledger and each phase queue live in
 * different hash slots, so a key's phase save can be lost while the job its handover added survives: the
 * ledger then has the key in a phase whose job already ran. That must end as a crash before the save would
 * (the phase runs again), never as a key left in progress with no job, which `worker --until-idle` would take
 * for done.
 */
let token: TestToken;
let emulator: KmsEmulator;
const prefix = randomPrefix("lost-write");

beforeAll(async () => {
  [token, emulator] = await Promise.all([
    createTestToken(),
    startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true }),
  ]);
});

afterAll(async () => {
  await wipeCampaign(prefix);
  await emulator?.close();
  await token?.cleanup();
});

describe("a ledger write lost in a Redis failover", () => {
  it("a save lost after its job completed: the phase runs again (create adopts its key, import finds it Enabled), every key verified, none stuck", async () => {
    // Key A loses import's save; key B loses create's save and its checkpoint of the new key's id; key C loses
    // verify's (its last), which leaves no job at all.
    const keys = await addMixedKeys(token.env, "lost", 3);
    const manifest = join(token.dir, "lost.csv");
    await writeFile(manifest, manifestFor(keys));
    const env = cliEnvironment(token.env, emulator.url, prefix);
    expect((await runCli(["enqueue", manifest], env)).code).toBe(0);
    const { redis, ledger } = testLedger(prefix);
    const outputs: string[] = [];
    const work = async (phases?: string) => {
      const run = await runCli(["worker", "--until-idle", ...(phases ? ["--phases", phases] : [])], env);
      outputs.push(run.output);
      const errors: unknown[] = [];
      for await (const record of ledger.records()) errors.push(record.error);
      expect(run.code, `${JSON.stringify(errors)}\n${run.output}`).toBe(0);
    };
    const calls = (operation: string) => emulator.stats().regions["us-east-1"]?.[operation]?.calls ?? 0;
    try {
      const ids = new Map<string, string>();
      for await (const record of ledger.records()) ids.set(record.source.label ?? "", record.id);
      const stored = async (label: string) => (await ledger.get(ids.get(label) ?? "")) ?? expect.fail(label);
      const [a, b, c] = ["lost-0", "lost-1", "lost-2"];

      // Both keys wait for create: what B's ledger held before create's outcome was saved.
      await work("preflight");
      const bBeforeCreate = (await stored(b)).record;
      expect(bBeforeCreate.phase).toBe("create");
      // Both created, parameters fetched, wrapped: what A's ledger held before import's outcome was saved.
      await work("create,params,wrap");
      const aBeforeImport = (await stored(a)).record;
      expect(aBeforeImport.phase).toBe("import");
      const bCreated = await stored(b);
      // The failover loses B's create: back to its checkpoint before CreateKey (the key's id lost too).
      await ledger.save(
        { ...bBeforeCreate, status: "in_progress", createStartedAt: bCreated.record.kmsChangedAt },
        bCreated.rev,
      );
      // A imports (B's import job finds B at create, whose job completed: B starts a new generation).
      await work("import");
      const aImported = await stored(a);
      expect(aImported.record.phase).toBe("verify");
      const cBeforeVerify = (await stored(c)).record;
      expect(cBeforeVerify.phase).toBe("verify");
      // The failover loses A's import: back to import's checkpoint (the import had started).
      await ledger.save(
        {
          ...aBeforeImport,
          status: "in_progress",
          importStartedAt: aImported.record.importedAt,
          kmsChangedAt: aImported.record.importedAt,
        },
        aImported.rev,
      );

      await work();
      // Once for each key.
      const again =
        "a phase whose job already completed (a save lost in a Redis failover): running the phase again";
      expect(outputs.join("").split(again)).toHaveLength(3);
      for (const [label, kmsKeyId] of [
        [a, aImported.record.kmsKeyId],
        [b, bCreated.record.kmsKeyId],
      ]) {
        const after = (await stored(label ?? "")).record;
        expect(after.status, `${label}: ${JSON.stringify(after.error ?? {})}`).toBe("migrated");
        expect(after.verified, label).toBe("true");
        // The same KMS key: B's create adopted the key its lost save had made.
        expect(after.kmsKeyId, label).toBe(kmsKeyId);
      }
      // One key each; A's repeat imported nothing (KMS showed it Enabled), B imported once, in its new generation.
      expect(calls("CreateKey")).toBe(3);
      expect(calls("ImportKeyMaterial")).toBe(3);

      // C's last save lost: migrated in KMS, in progress at verify in the ledger, and no job anywhere. The
      // worker, idle, finds it and runs verify again instead of exiting with the key stuck.
      const cMigrated = await stored(c);
      expect(cMigrated.record.status).toBe("migrated");
      await ledger.save({ ...cBeforeVerify, status: "in_progress" }, cMigrated.rev);
      await work();
      expect(outputs.at(-1)).toContain(
        "no job runs this key: its phase's queue is empty (a save or a job lost, as in a Redis failover): running the phase again",
      );
      const cAfter = (await stored(c)).record;
      expect(cAfter.status, JSON.stringify(cAfter.error ?? {})).toBe("migrated");
      expect(cAfter.verified).toBe("true");
      expect(cAfter.kmsKeyId).toBe(cMigrated.record.kmsKeyId);
      expect(calls("CreateKey")).toBe(3);
      expect(calls("ImportKeyMaterial")).toBe(3);
    } finally {
      redis.disconnect();
    }
  });
});
