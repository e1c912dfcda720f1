import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ListAliasesCommand,
} from "@aws-sdk/client-kms";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";
import { PROVENANCE_TAGS } from "../../src/workers/phases/index.js";
import { runCli } from "../helpers/cli.js";
import { addMixedKeys, cliEnvironment, recordsByLabel } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { TEST_CREDENTIALS } from "../helpers/pipeline.js";
import { deletePrefix, randomPrefix, TEST_REDIS_URL } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * `hsm2kms abandon` through the real CLI after an interrupted campaign: two keys migrated, one stopped after
 * create (a KMS key pending import, with its alias), one late duplicate (an orphan), beside keys that are not
 * this campaign's. In the end no live key, alias or Redis key of the campaign is left, and the others are untouched.
 * About ten CLI runs in one story: seconds each on an idle machine, but far more on a loaded one, hence the timeout.
 */
let token: TestToken;
let emulator: KmsEmulator;
let client: KMSClient;
let env: Record<string, string>;
const prefix = randomPrefix("abandon");

beforeAll(async () => {
  token = await createTestToken();
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true, tagIndexDelayMs: 0 });
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

const records = () => recordsByLabel(prefix);

const keyState = async (keyId: string) =>
  (await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;

async function aliasTargets(): Promise<Map<string, string | undefined>> {
  const out = await client.send(new ListAliasesCommand({}));
  return new Map((out.Aliases ?? []).map((alias) => [alias.AliasName ?? "", alias.TargetKeyId]));
}

async function campaignRedisKeys(): Promise<string[]> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    return [...(await redis.keys(`${prefix}:*`)), ...(await redis.keys(`{${prefix}.ledger}*`))];
  } finally {
    redis.disconnect();
  }
}

describe("hsm2kms abandon", () => {
  it("lists, then abandons the unmigrated keys, the orphans, then every key and the campaign's Redis state", async () => {
    const keys = await addMixedKeys(token.env, "abandon", 3);
    const rows = keys.map((key) => ({ ...key, alias: `alias/abandon/${key.label}` }));
    const migrated = join(token.dir, "migrated.csv");
    await writeFile(
      migrated,
      `source_label,source_id,alias,region\n${rows
        .slice(0, 2)
        .map((row) => `${row.label},${row.idHex},${row.alias},us-east-1`)
        .join("\n")}\n`,
    );
    expect((await runCli(["enqueue", migrated], env)).code).toBe(0);
    expect((await runCli(["worker", "--until-idle"], env)).code).toBe(0);
    // The third key stops after create: its KMS key waits for material, its alias exists.
    const interrupted = join(token.dir, "interrupted.csv");
    await writeFile(
      interrupted,
      `source_label,source_id,alias,region\n${rows[2]?.label},${rows[2]?.idHex},${rows[2]?.alias},us-east-1\n`,
    );
    expect((await runCli(["enqueue", interrupted], env)).code).toBe(0);
    const partial = await runCli(["worker", "--until-idle", "--phases", "preflight,create"], env);
    expect(partial.code, partial.output).toBe(0);
    const before = await records();
    const [first, second, third] = ["abandon-0", "abandon-1", "abandon-2"].map(
      (label) => before.get(label) ?? expect.fail(`no record for ${label}`),
    ) as [MigrationRecord, MigrationRecord, MigrationRecord];
    expect([first.status, second.status, third.status]).toEqual(["migrated", "migrated", "in_progress"]);
    expect(third.phase).toBe("params");
    expect(await keyState(third.kmsKeyId ?? "")).toBe("PendingImport");

    // A late duplicate of the first key (the orphan), a key of another campaign and an unrelated key.
    const tagged = async (tags: Record<string, string>, alias?: string) => {
      const made = await client.send(
        new CreateKeyCommand({
          KeySpec: "ECC_NIST_P256",
          KeyUsage: "SIGN_VERIFY",
          Origin: "EXTERNAL",
          Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
        }),
      );
      const keyId = made.KeyMetadata?.KeyId ?? "";
      if (alias) await client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
      return keyId;
    };
    const orphan = await tagged({
      [PROVENANCE_TAGS.campaign]: prefix,
      [PROVENANCE_TAGS.migrationId]: first.id,
    });
    // An orphan that holds material: migrated into, then its ledger entry lost. It may be in use: never removed.
    const adrift = await tagged({
      [PROVENANCE_TAGS.campaign]: prefix,
      [PROVENANCE_TAGS.migrationId]: "k0000000000000000000000000000000000000000",
    });
    const params = await client.send(
      new GetParametersForImportCommand({
        KeyId: adrift,
        WrappingAlgorithm: "RSAES_OAEP_SHA_256",
        WrappingKeySpec: "RSA_2048",
      }),
    );
    const material = newKeyPairSync({ type: "ec", namedCurve: "P-256" }).privateKey.export({
      format: "der",
      type: "pkcs8",
    });
    await client.send(
      new ImportKeyMaterialCommand({
        KeyId: adrift,
        ImportToken: params.ImportToken,
        EncryptedKeyMaterial: wrapKeyMaterial(
          "RSAES_OAEP_SHA_256",
          Buffer.from(params.PublicKey ?? new Uint8Array()),
          material,
        ),
        ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
      }),
    );
    expect(await keyState(adrift)).toBe("Enabled");
    const otherCampaign = await tagged(
      { [PROVENANCE_TAGS.campaign]: `${prefix}-other`, [PROVENANCE_TAGS.migrationId]: "elsewhere" },
      "alias/abandon/other-campaign",
    );
    const unrelated = await tagged({ team: "payments" }, "alias/abandon/unrelated");

    // audit lists the orphan (abandon's own finding), not the other campaign's key; exit 1 (a problem).
    const audited = await runCli(["audit", "--json"], env);
    expect(audited.code, audited.output).toBe(1);
    const report = JSON.parse(
      audited.output.slice(audited.output.indexOf("{"), audited.output.lastIndexOf("}") + 1),
    );
    expect(report.byResult).toMatchObject({ identical: 2, orphan: 2 });
    expect(report.keys.filter((key: { result: string }) => key.result === "orphan")).toHaveLength(2);
    expect(report.keys.filter((key: { result: string }) => key.result === "orphan")).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kms_key_id: adrift,
          detail: expect.stringContaining("it holds imported key material"),
        }),
        expect.objectContaining({
          source_label: "abandon-0",
          kms_key_id: orphan,
          detail: expect.stringContaining(
            `migration ${first.id} holds KMS key ${first.kmsKeyId}, not this one`,
          ),
        }),
      ]),
    );
    expect(audited.output).toMatch(
      /orphan: abandon-0 \(us-east-1, KMS key [-0-9a-f]+\): PendingImport KMS key .*abandon --orphans --yes/,
    );

    // Dry run: lists the unmigrated key and the orphan, changes nothing.
    const dry = await runCli(["abandon", "--orphans"], env);
    expect(dry.code, dry.output).toBe(0);
    expect(dry.output).toContain(
      `would-abandon: abandon-2 (CKA_ID ${third.source.idHex}) (us-east-1, KMS key ${third.kmsKeyId})`,
    );
    expect(dry.output).toContain(`KMS key ${orphan}) [orphan: not in the ledger]`);
    expect(dry.output).toContain("dry run: 2 keys would be abandoned");
    expect(dry.output).toMatch(new RegExp(`left-alone: .*KMS key ${adrift}.*it holds imported key material`));
    expect(await keyState(third.kmsKeyId ?? "")).toBe("PendingImport");
    expect((await aliasTargets()).get("alias/abandon/abandon-2")).toBe(third.kmsKeyId);

    // The unmigrated key: alias gone, deletion scheduled, the record abandoned; migrated keys untouched.
    const unmigrated = await runCli(["abandon", "--yes"], env);
    expect(unmigrated.code, unmigrated.output).toBe(0);
    expect(unmigrated.output).toContain("abandon: 1 abandoned, 0 already abandoned");
    expect(await keyState(third.kmsKeyId ?? "")).toBe("PendingDeletion");
    expect((await aliasTargets()).has("alias/abandon/abandon-2")).toBe(false);
    expect(await keyState(first.kmsKeyId ?? "")).toBe("Enabled");
    const marked = (await records()).get("abandon-2");
    expect(marked).toMatchObject({ status: "failed", error: { code: "ABANDONED" } });
    // retry --failed leaves an abandoned key alone.
    const retried = await runCli(["retry", "--failed"], env);
    expect(retried.output).toContain("0 failed keys re-queued, 1 left alone");
    expect((await records()).get("abandon-2")?.status).toBe("failed");

    // Every key, the orphan too; then nothing of the campaign is left in Redis.
    const everything = await runCli(["abandon", "--all", "--orphans", "--yes"], env);
    expect(everything.code, everything.output).toBe(0);
    expect(everything.output).toContain("abandon: 3 abandoned, 1 already abandoned, 1 left alone");
    expect(await keyState(adrift)).toBe("Enabled");
    expect(everything.output).toContain("campaign's Redis state (queues, ledger, marker");
    for (const keyId of [first.kmsKeyId, second.kmsKeyId, third.kmsKeyId, orphan])
      expect(await keyState(keyId ?? "")).toBe("PendingDeletion");
    const aliases = await aliasTargets();
    expect([...aliases.keys()].filter((name) => name.startsWith("alias/abandon/abandon-"))).toEqual([]);
    expect(await campaignRedisKeys()).toEqual([]);

    // Other keys untouched; a repeat finds nothing left to do.
    expect(await keyState(otherCampaign)).toBe("PendingImport");
    expect(await keyState(unrelated)).toBe("PendingImport");
    expect(aliases.get("alias/abandon/other-campaign")).toBe(otherCampaign);
    expect(aliases.get("alias/abandon/unrelated")).toBe(unrelated);
    const again = await runCli(["abandon", "--all", "--orphans", "--yes"], env);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain("abandon: 0 abandoned");
    const noCampaign = await runCli(["abandon"], env);
    expect(noCampaign.code).toBe(1);
    expect(noCampaign.output).toContain("no campaign exists under the prefix");
  }, 480_000);
});
