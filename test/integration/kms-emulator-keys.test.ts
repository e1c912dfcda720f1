import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  type KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ReplicateKeyCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_SPECS, keySpecInfo } from "../../src/shared/key-specs.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { ecKey, errorName, importMaterial, kmsClient } from "./kms-emulator-fixtures.js";

let emulator: KmsEmulator;
let client: KMSClient;
let west: KMSClient;

beforeAll(async () => {
  emulator = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 0 });
  client = kmsClient(emulator, "us-east-1");
  west = kmsClient(emulator, "eu-west-1");
});

afterAll(async () => {
  client?.destroy();
  west?.destroy();
  await emulator?.close();
});

const createKey = async (input: ConstructorParameters<typeof CreateKeyCommand>[0] = {}, kms = client) =>
  (await kms.send(new CreateKeyCommand(input))).KeyMetadata!;

describe("CreateKey and DescribeKey", () => {
  const combos = KEY_SPECS.flatMap((spec) => keySpecInfo(spec).usages.map((usage) => ({ spec, usage })));
  it.each(combos)(
    "EXTERNAL $spec / $usage starts PendingImport with full metadata",
    async ({ spec, usage }) => {
      const metadata = await createKey({
        KeySpec: spec,
        KeyUsage: usage,
        Origin: "EXTERNAL",
        Description: "d",
      });
      expect(metadata).toMatchObject({
        KeySpec: spec,
        CustomerMasterKeySpec: spec,
        KeyUsage: usage,
        Origin: "EXTERNAL",
        KeyState: "PendingImport",
        Enabled: false,
        Description: "d",
        MultiRegion: false,
        AWSAccountId: "111122223333",
        Arn: `arn:aws:kms:us-east-1:111122223333:key/${metadata.KeyId}`,
      });
      expect(metadata.CreationDate).toBeInstanceOf(Date);
      const described = await client.send(new DescribeKeyCommand({ KeyId: metadata.Arn }));
      expect(described.KeyMetadata).toEqual(metadata);
      if (usage === "SIGN_VERIFY")
        expect(metadata.SigningAlgorithms).toEqual(keySpecInfo(spec).signingAlgorithms);
      if (usage === "GENERATE_VERIFY_MAC")
        expect(metadata.MacAlgorithms).toEqual([keySpecInfo(spec).macAlgorithm]);
      if (usage === "KEY_AGREEMENT") expect(metadata.KeyAgreementAlgorithms).toEqual(["ECDH"]);
      if (spec === "SYMMETRIC_DEFAULT") expect(metadata.EncryptionAlgorithms).toEqual(["SYMMETRIC_DEFAULT"]);
    },
  );

  it("AWS_KMS keys are Enabled; bad specs, usages and origins are refused", async () => {
    expect(await createKey()).toMatchObject({
      KeySpec: "SYMMETRIC_DEFAULT",
      KeyState: "Enabled",
      Origin: "AWS_KMS",
    });
    expect(await errorName(createKey({ KeySpec: "ECC_NIST_P256" }))).toBe("ValidationException");
    expect(await errorName(createKey({ KeySpec: "HMAC_256", KeyUsage: "SIGN_VERIFY" }))).toBe(
      "ValidationException",
    );
    expect(await errorName(createKey({ KeySpec: "ECC_SECG_P256K1", KeyUsage: "KEY_AGREEMENT" }))).toBe(
      "ValidationException",
    );
    expect(await errorName(createKey({ KeySpec: "NOT_A_SPEC" as "RSA_2048" }))).toBe("ValidationException");
    expect(await errorName(createKey({ Origin: "AWS_CLOUDHSM" }))).toBe("UnsupportedOperationException");
    expect(await errorName(client.send(new DescribeKeyCommand({ KeyId: "" })))).toBe("ValidationException");
  });

  it("keys live in their Region; ListKeys pages", async () => {
    const here = await createKey({}, west);
    expect(here.Arn).toContain(":eu-west-1:");
    expect(await errorName(client.send(new DescribeKeyCommand({ KeyId: here.KeyId })))).toBe(
      "NotFoundException",
    );
    expect(
      await errorName(
        west.send(new DescribeKeyCommand({ KeyId: here.Arn!.replace("eu-west-1", "us-east-1") })),
      ),
    ).toBe("NotFoundException");
    await createKey({}, west);
    await createKey({}, west);
    const first = await west.send(new ListKeysCommand({ Limit: 2 }));
    expect(first.Keys).toHaveLength(2);
    expect(first.Truncated).toBe(true);
    const rest = await west.send(new ListKeysCommand({ Limit: 2, Marker: first.NextMarker }));
    expect(rest.Truncated).toBe(false);
    expect([...first.Keys!, ...rest.Keys!].map((key) => key.KeyId)).toContain(here.KeyId);
  });
});

describe("aliases", () => {
  it("create, resolve by name and ARN, list with filter and paging, delete", async () => {
    const key = await createKey();
    const other = await createKey();
    await client.send(new CreateAliasCommand({ AliasName: "alias/app/one", TargetKeyId: key.KeyId }));
    await client.send(new CreateAliasCommand({ AliasName: "alias/app/two", TargetKeyId: key.Arn }));
    await client.send(new CreateAliasCommand({ AliasName: "alias/app/three", TargetKeyId: other.KeyId }));
    expect(
      await errorName(
        client.send(new CreateAliasCommand({ AliasName: "alias/app/one", TargetKeyId: other.KeyId })),
      ),
    ).toBe("AlreadyExistsException");
    expect(
      await errorName(
        client.send(new CreateAliasCommand({ AliasName: "alias/aws/x", TargetKeyId: key.KeyId })),
      ),
    ).toBe("InvalidAliasNameException");
    expect(
      await errorName(client.send(new CreateAliasCommand({ AliasName: "nope", TargetKeyId: key.KeyId }))),
    ).toBe("ValidationException");
    expect(
      await errorName(
        client.send(new CreateAliasCommand({ AliasName: "alias/x", TargetKeyId: "alias/app/one" })),
      ),
    ).toBe("NotFoundException");
    const byName = await client.send(new DescribeKeyCommand({ KeyId: "alias/app/one" }));
    expect(byName.KeyMetadata?.KeyId).toBe(key.KeyId);
    const byArn = await client.send(
      new DescribeKeyCommand({ KeyId: "arn:aws:kms:us-east-1:111122223333:alias/app/two" }),
    );
    expect(byArn.KeyMetadata?.KeyId).toBe(key.KeyId);
    const filtered = await client.send(new ListAliasesCommand({ KeyId: key.KeyId }));
    expect(filtered.Aliases?.map((alias) => alias.AliasName)).toEqual(["alias/app/one", "alias/app/two"]);
    expect(filtered.Aliases?.[0]).toMatchObject({
      AliasArn: "arn:aws:kms:us-east-1:111122223333:alias/app/one",
      TargetKeyId: key.KeyId,
    });
    const page = await client.send(new ListAliasesCommand({ Limit: 1 }));
    expect(page).toMatchObject({ Truncated: true });
    const next = await client.send(new ListAliasesCommand({ Limit: 1, Marker: page.NextMarker }));
    expect(next.Aliases?.[0]?.AliasName).not.toBe(page.Aliases?.[0]?.AliasName);
    await client.send(new DeleteAliasCommand({ AliasName: "alias/app/one" }));
    expect(await errorName(client.send(new DescribeKeyCommand({ KeyId: "alias/app/one" })))).toBe(
      "NotFoundException",
    );
    expect(await errorName(client.send(new DeleteAliasCommand({ AliasName: "alias/app/one" })))).toBe(
      "NotFoundException",
    );
    // Aliases are per Region too.
    const westAliases = (await west.send(new ListAliasesCommand({ Limit: 100 }))).Aliases ?? [];
    expect(westAliases.filter((alias) => !alias.AliasName?.startsWith("alias/aws/"))).toHaveLength(0);
  });
});

describe("tags", () => {
  it("TagResource upserts, UntagResource removes, ListResourceTags lists", async () => {
    const key = await createKey({ Tags: [{ TagKey: "team", TagValue: "a" }] });
    await client.send(
      new TagResourceCommand({
        KeyId: key.KeyId,
        Tags: [
          { TagKey: "team", TagValue: "b" },
          { TagKey: "env", TagValue: "dev" },
        ],
      }),
    );
    await client.send(new UntagResourceCommand({ KeyId: key.KeyId, TagKeys: ["env"] }));
    const tags = await client.send(new ListResourceTagsCommand({ KeyId: key.Arn }));
    expect(tags.Tags).toEqual([{ TagKey: "team", TagValue: "b" }]);
    expect(tags.Truncated).toBe(false);
    expect(
      await errorName(
        client.send(new TagResourceCommand({ KeyId: key.KeyId, Tags: [{ TagKey: "aws:x", TagValue: "" }] })),
      ),
    ).toBe("TagException");
  });
});

describe("key states", () => {
  it("DisableKey gives DisabledException; EnableKey restores; PendingImport cannot be enabled", async () => {
    const key = await createKey();
    await client.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    expect((await client.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata).toMatchObject({
      KeyState: "Disabled",
      Enabled: false,
    });
    const encrypt = () => client.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from("x") }));
    expect(await errorName(encrypt())).toBe("DisabledException");
    await client.send(new EnableKeyCommand({ KeyId: key.KeyId }));
    expect((await encrypt()).CiphertextBlob?.length).toBeGreaterThan(0);
    const external = await createKey({ Origin: "EXTERNAL" });
    expect(await errorName(client.send(new EnableKeyCommand({ KeyId: external.KeyId })))).toBe(
      "KMSInvalidStateException",
    );
  });

  it("ScheduleKeyDeletion (7-30 days) and CancelKeyDeletion", async () => {
    const key = await createKey();
    expect(
      await errorName(
        client.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 6 })),
      ),
    ).toBe("ValidationException");
    const scheduled = await client.send(
      new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }),
    );
    expect(scheduled).toMatchObject({ KeyState: "PendingDeletion", PendingWindowInDays: 7 });
    const days = (scheduled.DeletionDate!.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    const described = await client.send(new DescribeKeyCommand({ KeyId: key.KeyId }));
    expect(described.KeyMetadata).toMatchObject({
      KeyState: "PendingDeletion",
      DeletionDate: scheduled.DeletionDate,
    });
    // Only a primary waiting for its replicas (PendingReplicaDeletion) shows its window.
    expect(described.KeyMetadata?.PendingDeletionWindowInDays).toBeUndefined();
    expect(
      await errorName(client.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from("x") }))),
    ).toBe("KMSInvalidStateException");
    expect(await errorName(client.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId })))).toBe(
      "KMSInvalidStateException",
    );
    await client.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
    const after = await client.send(new DescribeKeyCommand({ KeyId: key.KeyId }));
    expect(after.KeyMetadata?.KeyState).toBe("Disabled");
    expect(after.KeyMetadata?.DeletionDate).toBeUndefined();
  });
});

describe("ReplicateKey", () => {
  it("an EXTERNAL multi-Region primary gets a PendingImport replica with the same key ID", async () => {
    const primary = await createKey({
      KeySpec: "ECC_NIST_P256",
      KeyUsage: "SIGN_VERIFY",
      Origin: "EXTERNAL",
      MultiRegion: true,
    });
    expect(primary.KeyId).toMatch(/^mrk-[0-9a-f]{32}$/);
    const p256 = ecKey("prime256v1");
    await importMaterial(client, primary.KeyId!, p256.pkcs8);
    const replicated = await client.send(
      new ReplicateKeyCommand({
        KeyId: primary.Arn,
        ReplicaRegion: "eu-west-1",
        Tags: [{ TagKey: "r", TagValue: "1" }],
      }),
    );
    expect(replicated.ReplicaKeyMetadata).toMatchObject({
      KeyId: primary.KeyId,
      Arn: `arn:aws:kms:eu-west-1:111122223333:key/${primary.KeyId}`,
      MultiRegion: true,
      KeyState: "PendingImport",
      Origin: "EXTERNAL",
    });
    expect(replicated.ReplicaTags).toEqual([{ TagKey: "r", TagValue: "1" }]);
    const config = (await client.send(new DescribeKeyCommand({ KeyId: primary.KeyId }))).KeyMetadata
      ?.MultiRegionConfiguration;
    expect(config).toMatchObject({
      MultiRegionKeyType: "PRIMARY",
      PrimaryKey: { Region: "us-east-1" },
      ReplicaKeys: [{ Region: "eu-west-1" }],
    });
    const replicaConfig = (await west.send(new DescribeKeyCommand({ KeyId: primary.KeyId }))).KeyMetadata
      ?.MultiRegionConfiguration;
    expect(replicaConfig?.MultiRegionKeyType).toBe("REPLICA");
    // The replica takes the same material (imported with its own parameters), and only that.
    expect(await errorName(importMaterial(west, primary.KeyId!, ecKey("prime256v1").pkcs8))).toBe(
      "IncorrectKeyMaterialException",
    );
    await importMaterial(west, primary.KeyId!, p256.pkcs8);
    expect((await west.send(new DescribeKeyCommand({ KeyId: primary.KeyId }))).KeyMetadata?.KeyState).toBe(
      "Enabled",
    );
    expect(
      await errorName(
        client.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: "eu-west-1" })),
      ),
    ).toBe("AlreadyExistsException");
  });

  it("a single-Region key cannot be replicated", async () => {
    const key = await createKey();
    expect(
      await errorName(client.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: "eu-west-1" }))),
    ).toBe("UnsupportedOperationException");
  });
});
