import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DescribeKeyCommand, GenerateMacCommand, KMSClient, SignCommand } from "@aws-sdk/client-kms";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pkcs11js from "pkcs11js";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerExpiryGauges } from "../../src/lifecycle/expiry-metrics.js";
import { collectExpiringMaterial } from "../../src/lifecycle/expiry-status.js";
import { formatManifestCsv } from "../../src/manifest/read.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { renewBullPrefix, renewQueueName } from "../../src/shared/queues.js";
import { runCli } from "../helpers/cli.js";
import { withWorkerProcesses } from "../helpers/fixtures.js";
import { addMixedKeys, cliEnvironment, recordsByLabel, testLedger, waitFor } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { TEST_CREDENTIALS } from "../helpers/pipeline.js";
import { randomPrefix, TEST_REDIS_URL, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, listTokenObjects, type TestToken, withTokenSession } from "../helpers/softhsm.js";

/**
 * Keeping expiring material alive, through the real CLI and worker processes: four keys imported with material
 * that expires; one HSM key is then deleted. The scheduled renewal (`worker --phases renew`) renews the others
 * with a worker SIGKILLed mid-renewal and two workers finishing the job, each key imported exactly once; they
 * still sign once the emulator's clock passes the first ValidTo; the key whose HSM key is gone is an urgent,
 * named failure (status, report, metric, `renew`'s exit code). Last, `hsm2kms renew` renews again while an
 * import token expires under it (refreshed, renewed).
 */
/** Another account, reached through its role: the ledger's copy of a key there that KMS does not hold. */
const OTHER_ACCOUNT = "222222222222";
const OTHER_ROLE = `arn:aws:iam::${OTHER_ACCOUNT}:role/hsm2kms-import`;
let token: TestToken;
let emulator: KmsEmulator;
let client: KMSClient;
let env: Record<string, string>;
const prefix = randomPrefix("renew");

/** KMS requests per operation the emulator has answered or is answering. */
const requests = new Map<string, number>();
/** The KeyId of every GetParametersForImport asked for (a renewal of a key gone from the HSM must ask none). */
const paramsAskedFor: string[] = [];
/** While set, every ImportKeyMaterial waits here before KMS acts (the test SIGKILLs the worker meanwhile). */
let importGate: { reached: () => void; released: Promise<void> } | undefined;
/** The next ImportKeyMaterial finds the emulator's clock 25 h on: its import token (24 h) has expired. */
let expireNextImportToken = false;

beforeAll(async () => {
  token = await createTestToken();
  emulator = await startKmsEmulator({
    quotas: false,
    roles: [{ roleArn: OTHER_ROLE }],
    acceptKwpZeroPadding: true,
    beforeOperation: async ({ operation, keyId }) => {
      requests.set(operation, (requests.get(operation) ?? 0) + 1);
      if (operation === "GetParametersForImport") paramsAskedFor.push(keyId ?? "");
      if (operation !== "ImportKeyMaterial") return;
      if (expireNextImportToken) {
        expireNextImportToken = false;
        emulator.advanceClock(25 * 3_600_000);
      }
      if (importGate) {
        importGate.reached();
        await importGate.released;
      }
    },
  });
  client = new KMSClient({
    region: "us-east-1",
    endpoint: emulator.url,
    credentials: TEST_CREDENTIALS,
    maxAttempts: 1,
  });
  const accountsFile = join(token.dir, "accounts.csv");
  await writeFile(accountsFile, `account,role_arn\n${OTHER_ACCOUNT},${OTHER_ROLE}\n`);
  env = cliEnvironment(token.env, emulator.url, prefix, { HSM2KMS_ACCOUNTS_FILE: accountsFile });
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
  await wipeCampaign(prefix);
  await token?.cleanup();
});

const records = () => recordsByLabel(prefix);

/** ECDSA keys: the hash that fits the curve. */
const SIGNING: Record<string, "ECDSA_SHA_256" | "ECDSA_SHA_384"> = {
  "renew-0": "ECDSA_SHA_256",
  "renew-1": "ECDSA_SHA_384",
  "renew-2": "ECDSA_SHA_256",
};
const sign = (label: string, keyId: string) =>
  client.send(new SignCommand({ KeyId: keyId, Message: randomBytes(32), SigningAlgorithm: SIGNING[label] }));

const validTo = async (keyId: string) =>
  (await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.ValidTo?.toISOString();

/** The renewal's settings for the worker processes: due within 10 minutes, renewed for an hour, a sweep a second. */
const RENEW_ENV = {
  HSM2KMS_RENEW_INTERVAL: "1s",
  HSM2KMS_RENEW_BEFORE: "10m",
  HSM2KMS_RENEW_FOR: "1h",
  // A killed worker's renewal job is taken over after about this long.
  HSM2KMS_JOB_LOCK: "1s",
  HSM2KMS_KMS_QUOTAS: "GetParametersForImport=5",
};

describe("keeping expiring material alive", () => {
  it("renews on schedule across a killed worker, names a key whose HSM key is gone, and refreshes an expired token", async () => {
    // ECDSA keys (P-256, P-384, secp256k1) renewed, a Sign after ValidTo proving each usable; an HMAC key lost.
    const keys = (await addMixedKeys(token.env, "renew", 4)).map((key) => key.label);
    const labels = keys.slice(0, 3);
    const firstValidTo = new Date(Date.now() + 5 * 60_000).toISOString();
    const manifest = join(token.dir, "renew.csv");
    await writeFile(
      manifest,
      formatManifestCsv(
        keys.map((label) => ({ source_label: label, region: "us-east-1", expires_at: firstValidTo })),
      ),
    );
    expect((await runCli(["enqueue", manifest], env)).code).toBe(0);
    const worked = await runCli(["worker", "--until-idle"], env);
    expect(worked.code, worked.output).toBe(0);
    const migrated = await records();
    const keyIds = new Map(
      keys.map((label) => [label, migrated.get(label)?.kmsKeyId ?? expect.fail(`${label}`)]),
    );
    const gone = keyIds.get("renew-3") ?? "";
    // A few minutes for the migration itself on a loaded machine; then KMS's clock leaves the material one minute.
    emulator.advanceClock(4 * 60_000);

    await withTokenSession(token.env, (pkcs11, session) => {
      pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: "renew-3" }]);
      const found = pkcs11.C_FindObjects(session, 4);
      pkcs11.C_FindObjectsFinal(session);
      for (const handle of found) pkcs11.C_DestroyObject(session, handle);
    });
    expect((await listTokenObjects(token.env)).map((object) => object.label)).not.toContain("renew-3");

    // Another host's live claim on renew-2 keeps renew off it ("busy"); then the claim is gone again.
    const setClaim = async (renewalClaim: MigrationRecord["renewalClaim"]) => {
      const { redis, ledger } = testLedger(prefix);
      try {
        const stored = await ledger.get(migrated.get("renew-2")?.id ?? "");
        if (!stored) expect.fail("no record for renew-2");
        await ledger.save({ ...stored.record, renewalClaim }, stored.rev);
      } finally {
        redis.disconnect();
      }
    };
    const until = new Date(Date.now() + 10 * 60_000).toISOString();
    await setClaim({
      holder: "another-host",
      validTo: new Date(Date.now() + 3_600_000).toISOString(),
      until,
    });
    const [dry, longer] = await Promise.all([
      runCli(["renew", "--dry-run", "--before", "10m"], env),
      runCli(["renew", "--dry-run", "--before", "10m", "--renew-for", "1h"], env),
    ]);
    await setClaim(undefined);
    // Renewed for their last period (5 minutes) inside a 10-minute window: every run would renew them again, and
    // the lines say so; renewed for an hour, they would not.
    expect(dry.output).toContain(
      "the new ValidTo is within the renewal window (10m00s), so every run renews it again: renew for longer than that (--renew-for, HSM2KMS_RENEW_FOR)",
    );
    expect(longer.code, longer.output).toBe(0);
    expect(longer.output).not.toContain("every run renews it again");
    expect(dry.code, dry.output).toBe(0);
    expect(dry.output).toContain(
      "renew: dry run: 3 keys due (expiring within 10m), 0 not due, 1 being renewed by another host, 0 urgent",
    );
    expect(dry.output).toContain(`busy: renew-2 `);
    expect(dry.output).toContain(`another renewal holds it until ${until}`);
    expect(dry.output).toMatch(
      new RegExp(
        `would-renew: renew-0 \\(CKA_ID [0-9a-f]+\\) \\(us-east-1, KMS key ${keyIds.get("renew-0")}\\): ValidTo `,
      ),
    );

    // The scheduled renewal; its worker is SIGKILLed while KMS holds its first ImportKeyMaterial.
    requests.clear();
    paramsAskedFor.length = 0;
    let release = () => {};
    const reached = new Promise<void>((resolve) => {
      importGate = { reached: resolve, released: new Promise((done) => (release = done)) };
    });
    const renewEnv = { ...env, ...RENEW_ENV };
    await withWorkerProcesses(
      renewEnv,
      async (workers) => {
        workers.start();
        await reached;
        const claimed = [...(await records()).values()].filter((record) => record.renewalClaim);
        expect(claimed.length).toBeGreaterThan(0);
        await workers.kill(0);
        importGate = undefined;
        release();
        // KMS acted on the held imports after their caller died: renewals whose answer was lost.
        let lost: MigrationRecord | undefined;
        await waitFor(
          async () => {
            for (const record of claimed)
              if ((await validTo(record.kmsKeyId ?? "")) === record.renewalClaim?.validTo) lost = record;
            return lost !== undefined;
          },
          10_000,
          "a held import to take effect",
        );
        const held = lost ?? expect.fail("no held import took effect");

        // Two workers take over (both upsert the campaign's one scheduler).
        workers.start(2);
        await waitFor(
          async () => {
            const now = await records();
            return (
              labels.every((label) => now.get(label)?.renewedAt && !now.get(label)?.renewalClaim) &&
              now.get("renew-3")?.renewalError?.code === "SOURCE_KEY_NOT_FOUND"
            );
          },
          60_000,
          "the scheduled renewal to finish",
        );
        const after = await records();
        // The renewal taken over finished with the ValidTo its dead holder chose, without importing again.
        expect(after.get(held.source.label ?? "")?.request.expiresAt).toBe(held.renewalClaim?.validTo);
        for (const label of labels) {
          const record = after.get(label);
          expect(record?.status).toBe("migrated");
          expect(Date.parse(record?.request.expiresAt ?? "")).toBeGreaterThan(
            Date.parse(firstValidTo) + 30 * 60_000,
          );
          expect(await validTo(record?.kmsKeyId ?? "")).toBe(record?.request.expiresAt);
        }
        // One import per renewed key, the one whose answer was lost included; none for the key gone from the HSM.
        expect(requests.get("ImportKeyMaterial")).toBe(3);
        // The HSM is asked first: the key gone from it cost no GetParametersForImport, however many runs failed it.
        expect(paramsAskedFor.length).toBeGreaterThanOrEqual(3);
        expect(paramsAskedFor.filter((keyId) => keyId.includes(gone))).toEqual([]);
        expect(workers.output()).toMatch(/URGENT renewal failed: renew-3 .*SOURCE_KEY_NOT_FOUND/);
        const redis = new Redis(TEST_REDIS_URL);
        const queue = new Queue(renewQueueName(), { connection: redis, prefix: renewBullPrefix(prefix) });
        try {
          expect(await queue.getJobSchedulersCount()).toBe(1);
        } finally {
          await queue.close();
          redis.disconnect();
        }
        // The schedule keeps retrying the key gone from the HSM: a graceful stop lets a renewal in flight finish
        // and leaves no claim behind (a SIGKILL would, and `renew` below would find that key busy).
        await workers.stop();
        expect([...(await records()).values()].filter((record) => record.renewalClaim)).toEqual([]);
      },
      ["worker", "--phases", "renew"],
    );

    // status and report show the expiring material, with the urgent failure named.
    const [statusJson, statusText, report] = await Promise.all([
      runCli(["status", "--json"], renewEnv),
      runCli(["status"], renewEnv),
      runCli(["report"], renewEnv),
    ]);
    expect(statusJson.code, statusJson.output).toBe(0);
    const expiring = JSON.parse(statusJson.output).expiringMaterial;
    expect(expiring).toMatchObject({ keys: 4, due: 1, expired: 0, renewalFailures: 1, urgentFailures: 1 });
    expect(Date.parse(expiring.soonestValidTo)).toBe(Date.parse(firstValidTo));
    expect(Date.parse(expiring.nextRenewal)).toBe(Date.parse(firstValidTo) - 10 * 60_000);
    expect(Date.parse(expiring.nextScheduledRun)).toBeGreaterThan(0);
    expect(expiring.failures).toEqual([
      expect.objectContaining({
        source: expect.stringContaining('"renew-3"'),
        code: "SOURCE_KEY_NOT_FOUND",
        urgent: true,
      }),
    ]);
    expect(statusText.output).toMatch(
      /expiring material: 4 keys, 1 due for renewal, 0 expired; soonest ValidTo .*, next renewal due now \(was /,
    );
    expect(statusText.output).toContain("failed renewals: 1 (1 URGENT)");
    expect(statusText.output).toMatch(/ {2}URGENT source key label "renew-3".*: SOURCE_KEY_NOT_FOUND: /);
    expect(report.code, report.output).toBe(0);
    const rows = report.output.trim().split("\n");
    expect(rows[0]).toMatch(/,error,account,material_expires_at,next_renewal,renewal_error$/);
    const renewed = (await records()).get("renew-0")?.request.expiresAt ?? "";
    const nextRenewal = new Date(Date.parse(renewed) - 10 * 60_000).toISOString();
    expect(rows.find((row) => row.startsWith("renew-0,"))).toMatch(
      new RegExp(`,${renewed},${nextRenewal},$`),
    );
    expect(rows.find((row) => row.startsWith("renew-3,"))).toMatch(/,"?SOURCE_KEY_NOT_FOUND: /);

    // The gauges the alert reads: the earliest ValidTo is the key that was not renewed, one failure.
    const { redis, ledger } = testLedger(prefix);
    try {
      const registry = new Registry();
      registerExpiryGauges(registry, ledger);
      const text = await registry.metrics();
      expect(text).toContain(
        `hsm2kms_key_material_expires_seconds{region="us-east-1"} ${Math.floor(Date.parse(firstValidTo) / 1000)}`,
      );
      expect(text).toContain('hsm2kms_key_material_renewal_failures{region="us-east-1"} 1');
    } finally {
      redis.disconnect();
    }

    // Past the first ValidTo: the renewed keys still sign; the other has lost its material.
    emulator.advanceClock(2 * 60_000);
    for (const label of labels) await sign(label, keyIds.get(label) ?? "");
    expect((await client.send(new DescribeKeyCommand({ KeyId: gone }))).KeyMetadata?.KeyState).toBe(
      "PendingImport",
    );
    await expect(
      client.send(
        new GenerateMacCommand({ KeyId: gone, Message: randomBytes(32), MacAlgorithm: "HMAC_SHA_256" }),
      ),
    ).rejects.toMatchObject({ name: "KMSInvalidStateException" });

    // A key of another account whose KMS key DescribeKey cannot find at all (deleted outside hsm2kms): the ledger
    // names it by the copy of renew-0's record below, with a KMS key id no account holds.
    const vanished = `${migrated.get("renew-0")?.id}-vanished`;
    const missingKeyId = "0b0b0b0b-1111-4222-8333-444444444444";
    {
      const { redis, ledger } = testLedger(prefix);
      try {
        const copy = (await ledger.get(migrated.get("renew-0")?.id ?? ""))?.record ?? expect.fail("renew-0");
        await ledger.create({ ...copy, id: vanished, account: OTHER_ACCOUNT, kmsKeyId: missingKeyId });
      } finally {
        redis.disconnect();
      }
    }

    // On demand, with the first import token expiring before its import: new parameters, wrapped again, renewed.
    requests.clear();
    expireNextImportToken = true;
    const again = await runCli(["renew", "--before", "2h", "--renew-for", "7d"], env);
    expect(again.code, again.output).toBe(1);
    expect(again.output).toContain("renew: 3 renewed, 0 not due, 2 failed (2 urgent)");
    // Another account's key is named with its account; the missing KMS key is kept as its renewal error, urgent.
    expect(again.output).toMatch(
      new RegExp(
        `URGENT failed: renew-0 \\(CKA_ID [0-9a-f]+\\) \\(account ${OTHER_ACCOUNT}, us-east-1, KMS key ${missingKeyId}\\): .*RENEWAL_KMS_KEY_GONE: `,
      ),
    );
    expect(again.output).toMatch(/renewed: renew-0 \(CKA_ID [0-9a-f]+\) \(us-east-1, KMS key /);
    {
      const { redis, ledger } = testLedger(prefix);
      try {
        expect((await ledger.get(vanished))?.record.renewalError).toMatchObject({
          code: "RENEWAL_KMS_KEY_GONE",
          message: expect.stringContaining(`no key ${missingKeyId} in account ${OTHER_ACCOUNT}, us-east-1`),
        });
        const expiry = await collectExpiringMaterial(ledger, { beforeMs: 10 * 60_000 });
        expect(expiry).toMatchObject({ renewalFailures: 2, urgentFailures: 2 });
        // The gauges keep the other account's failure in a series of its own, the caller's own without the label.
        const registry = new Registry();
        registerExpiryGauges(registry, ledger);
        const text = await registry.metrics();
        expect(text).toContain(
          `hsm2kms_key_material_renewal_failures{region="us-east-1",account="${OTHER_ACCOUNT}"} 1`,
        );
        expect(text).toContain('hsm2kms_key_material_renewal_failures{region="us-east-1"} 1');
      } finally {
        redis.disconnect();
      }
    }
    expect(again.output).toMatch(
      /URGENT failed: renew-3 .*SOURCE_KEY_NOT_FOUND: the HSM key this KMS key holds is gone/,
    );
    expect(requests.get("ImportKeyMaterial")).toBe(4);
    expect(paramsAskedFor.filter((keyId) => keyId.includes(gone))).toEqual([]);
    // 25 h on, every renewed key signs: its new ValidTo is 7 days from now.
    for (const label of labels) await sign(label, keyIds.get(label) ?? "");
  }, 240_000);
});
