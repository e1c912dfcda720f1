import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DescribeKeyCommand, KMSClient, SignCommand } from "@aws-sdk/client-kms";
import pkcs11js from "pkcs11js";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerExpiryGauges } from "../../src/lifecycle/expiry-metrics.js";
import { formatManifestCsv } from "../../src/manifest/read.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { runCli } from "../helpers/cli.js";
import { addMixedKeys, cliEnvironment, testLedger } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { TEST_CREDENTIALS } from "../helpers/pipeline.js";
import { deletePrefix, randomPrefix } from "../helpers/redis.js";
import { createTestToken, listTokenObjects, type TestToken, withTokenSession } from "../helpers/softhsm.js";

/**
 * `hsm2kms renew` through the real CLI: two keys imported with material that expires in a few minutes; one
 * HSM key is then deleted. renew re-imports the other with a later ValidTo (it still signs once the emulator's
 * clock passes the first ValidTo) and names the one whose HSM key is gone as an urgent failure.
 */
let token: TestToken;
let emulator: KmsEmulator;
let client: KMSClient;
let env: Record<string, string>;
const prefix = randomPrefix("renew");

beforeAll(async () => {
  token = await createTestToken();
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true });
  client = new KMSClient({
    region: "us-east-1",
    endpoint: emulator.url,
    credentials: TEST_CREDENTIALS,
    maxAttempts: 1,
  });
  env = cliEnvironment(token.env, emulator.url, prefix);
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
  await deletePrefix(prefix);
  await deletePrefix(`{${prefix}.ledger}`);
  await token?.cleanup();
});

async function records(): Promise<Map<string, MigrationRecord>> {
  const { redis, ledger } = testLedger(prefix);
  const all = new Map<string, MigrationRecord>();
  for await (const record of ledger.records()) all.set(record.source.label ?? "", record);
  redis.disconnect();
  return all;
}

const sign = (keyId: string) =>
  client.send(new SignCommand({ KeyId: keyId, Message: randomBytes(32), SigningAlgorithm: "ECDSA_SHA_256" }));

describe("hsm2kms renew", () => {
  it("re-imports the same HSM key before ValidTo, and names a key whose HSM key is gone", async () => {
    const keys = await addMixedKeys(token.env, "renew", 2);
    // A few minutes, not one: on a loaded machine the migration itself may take a minute.
    const firstValidTo = new Date(Date.now() + 5 * 60_000).toISOString();
    const manifest = join(token.dir, "renew.csv");
    await writeFile(
      manifest,
      formatManifestCsv(
        keys
          .map((key) => key.label)
          .map((label) => ({
            source_label: label,
            region: "us-east-1",
            expires_at: firstValidTo,
          })),
      ),
    );
    expect((await runCli(["enqueue", manifest], env)).code).toBe(0);
    const worked = await runCli(["worker", "--until-idle"], env);
    expect(worked.code, worked.output).toBe(0);
    const migrated = await records();
    const kept = migrated.get("renew-0")?.kmsKeyId ?? expect.fail("renew-0 not migrated");
    const gone = migrated.get("renew-1")?.kmsKeyId ?? expect.fail("renew-gone-0 not migrated");

    await withTokenSession(token.env, (pkcs11, session) => {
      pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: "renew-1" }]);
      const found = pkcs11.C_FindObjects(session, 4);
      pkcs11.C_FindObjectsFinal(session);
      for (const handle of found) pkcs11.C_DestroyObject(session, handle);
    });
    expect((await listTokenObjects(token.env)).map((object) => object.label)).not.toContain("renew-1");

    const dry = await runCli(["renew", "--dry-run", "--before", "10m"], env);
    expect(dry.code, dry.output).toBe(0);
    expect(dry.output).toContain("renew: dry run: 2 keys due (expiring within 10m), 0 not due, 0 urgent");
    expect(dry.output).toMatch(
      new RegExp(`would-renew: renew-0 \\(CKA_ID [0-9a-f]+\\) \\(us-east-1, KMS key ${kept}\\): ValidTo `),
    );

    const renewed = await runCli(["renew", "--before", "10m", "--renew-for", "1h"], env);
    expect(renewed.code, renewed.output).toBe(1);
    expect(renewed.output).toContain("renew: 1 renewed, 0 not due, 1 failed (1 urgent)");
    expect(renewed.output).toMatch(
      /URGENT failed: renew-1 .*SOURCE_KEY_NOT_FOUND: the HSM key this KMS key holds is gone/,
    );
    const after = await records();
    const newValidTo = Date.parse(after.get("renew-0")?.request.expiresAt ?? "");
    expect(newValidTo).toBeGreaterThan(Date.parse(firstValidTo) + 30 * 60_000);
    expect(after.get("renew-0")?.renewedAt).toBeDefined();
    expect(after.get("renew-1")).toMatchObject({
      status: "migrated",
      renewalError: { code: "SOURCE_KEY_NOT_FOUND" },
    });

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

    // Past the first ValidTo: the renewed key still signs; the other has lost its material.
    emulator.advanceClock(6 * 60_000);
    await sign(kept);
    expect((await client.send(new DescribeKeyCommand({ KeyId: gone }))).KeyMetadata?.KeyState).toBe(
      "PendingImport",
    );
    await expect(sign(gone)).rejects.toMatchObject({ name: "KMSInvalidStateException" });
  }, 240_000);
});
