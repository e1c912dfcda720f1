import { randomBytes } from "node:crypto";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  type KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ReplicateKeyCommand,
  SignCommand,
} from "@aws-sdk/client-kms";
import {
  GetResourcesCommand,
  ResourceGroupsTaggingAPIClient,
} from "@aws-sdk/client-resource-groups-tagging-api";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerKmsEmulatorCommand } from "../../src/cli/commands/kms-emulator.js";
import { kmsEmulatorOptionsFromFlags } from "../../src/testkit/kms-emulator/flags.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { waitFor } from "../helpers/fleet.js";
import { emulatorFlagDefaults } from "../helpers/kms-emulator-flags.js";
import { ecKey, errorName, importMaterial, kmsClient } from "./kms-emulator-fixtures.js";

// Each change draws its delay from `random`: 0 makes it visible at once, 0.999 hides it for ~10 minutes,
// so the test decides which changes are unseen without depending on timing.
let random = 0;
let emulator: KmsEmulator;
let kms: KMSClient;
let replicaKms: KMSClient;

beforeAll(async () => {
  emulator = await startKmsEmulator({
    quotas: false,
    consistencyDelayMs: 600_000,
    consistencyRandom: () => random,
  });
  kms = kmsClient(emulator);
  replicaKms = kmsClient(emulator, "eu-west-1");
});

afterAll(async () => {
  kms?.destroy();
  replicaKms?.destroy();
  await emulator?.close();
});

async function createKey(visible: boolean, input: Partial<CreateKeyCommand["input"]> = {}) {
  random = visible ? 0 : 0.999;
  const out = await kms.send(new CreateKeyCommand({ Origin: "EXTERNAL", ...input }));
  random = 0;
  return out.KeyMetadata!;
}

async function listedKeyIds(client: KMSClient): Promise<string[]> {
  return ((await client.send(new ListKeysCommand({}))).Keys ?? []).map((key) => key.KeyId!);
}

describe("kms-emulator --consistency-delay: changes other calls do not see yet", () => {
  it("the tag index keeps its own clock: a key DescribeKey cannot find yet is listed by GetResources once indexed", async () => {
    const unseen = await createKey(false, { Tags: [{ TagKey: "own-clock", TagValue: "yes" }] });
    const tagging = new ResourceGroupsTaggingAPIClient({
      region: "us-east-1",
      endpoint: emulator.url,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      maxAttempts: 1,
    });
    try {
      const listed = async () =>
        (
          (
            await tagging.send(
              new GetResourcesCommand({
                TagFilters: [{ Key: "own-clock", Values: ["yes"] }],
                ResourceTypeFilters: ["kms:key"],
              }),
            )
          ).ResourceTagMappingList ?? []
        ).map((mapping) => mapping.ResourceARN);
      // Past the index's delay (at most 0.5 s by default), twice over: a dropped entry would stay dropped.
      await waitFor(async () => (await listed()).includes(unseen.Arn), 5000, "the tag index to list the key");
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await listed()).toContain(unseen.Arn);
      expect(await errorName(kms.send(new DescribeKeyCommand({ KeyId: unseen.KeyId! })))).toBe(
        "NotFoundException",
      );
    } finally {
      tagging.destroy();
    }
  });

  it("a new key is NotFound by id, ARN and alias in every operation, and absent from ListKeys", async () => {
    const unseen = await createKey(false, { Tags: [{ TagKey: "t", TagValue: "v" }] });
    expect(unseen.KeyState).toBe("PendingImport");
    for (const keyId of [unseen.KeyId!, unseen.Arn!]) {
      expect(await errorName(kms.send(new DescribeKeyCommand({ KeyId: keyId })))).toBe("NotFoundException");
      expect(
        await errorName(
          kms.send(
            new GetParametersForImportCommand({
              KeyId: keyId,
              WrappingAlgorithm: "RSAES_OAEP_SHA_256",
              WrappingKeySpec: "RSA_2048",
            }),
          ),
        ),
      ).toBe("NotFoundException");
    }
    expect(await errorName(kms.send(new ListResourceTagsCommand({ KeyId: unseen.KeyId! })))).toBe(
      "NotFoundException",
    );
    expect(
      await errorName(
        kms.send(new CreateAliasCommand({ AliasName: "alias/c1", TargetKeyId: unseen.KeyId! })),
      ),
    ).toBe("NotFoundException");
    expect(await listedKeyIds(kms)).not.toContain(unseen.KeyId);

    const seen = await createKey(true);
    expect((await kms.send(new DescribeKeyCommand({ KeyId: seen.KeyId! }))).KeyMetadata?.KeyId).toBe(
      seen.KeyId,
    );
    expect(await listedKeyIds(kms)).toContain(seen.KeyId);
  });

  it("a new alias is NotFound and unlisted, yet its name is taken", async () => {
    random = 0;
    const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    random = 0.999;
    await kms.send(new CreateAliasCommand({ AliasName: "alias/c2", TargetKeyId: key.KeyId! }));
    random = 0;
    expect(await errorName(kms.send(new DescribeKeyCommand({ KeyId: "alias/c2" })))).toBe(
      "NotFoundException",
    );
    expect(
      await errorName(kms.send(new EncryptCommand({ KeyId: "alias/c2", Plaintext: Buffer.from("x") }))),
    ).toBe("NotFoundException");
    const listed = (await kms.send(new ListAliasesCommand({}))).Aliases ?? [];
    expect(listed.map((alias) => alias.AliasName)).not.toContain("alias/c2");
    expect(
      await errorName(kms.send(new CreateAliasCommand({ AliasName: "alias/c2", TargetKeyId: key.KeyId! }))),
    ).toBe("AlreadyExistsException");
    expect(await errorName(kms.send(new DeleteAliasCommand({ AliasName: "alias/c2" })))).toBe(
      "NotFoundException",
    );
  });

  it("a fresh import still shows PendingImport, and signing answers KMSInvalidStateException", async () => {
    const key = await createKey(true, { KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" });
    const material = ecKey("prime256v1").pkcs8;
    random = 0.999;
    await importMaterial(kms, key.KeyId!, material);
    random = 0;
    const described = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId! }))).KeyMetadata!;
    expect(described).toMatchObject({ KeyState: "PendingImport", Enabled: false });
    expect(described.CurrentKeyMaterialId).toBeUndefined();
    expect(
      await errorName(
        kms.send(
          new SignCommand({ KeyId: key.KeyId!, Message: randomBytes(32), SigningAlgorithm: "ECDSA_SHA_256" }),
        ),
      ),
    ).toBe("KMSInvalidStateException");
    // Importing the same material again is what the old state allows: it still works.
    await importMaterial(kms, key.KeyId!, material);
  });

  it("a new replica is Creating: DescribeKey says so and import operations answer KMSInvalidStateException", async () => {
    const primary = await createKey(true, {
      KeySpec: "ECC_NIST_P256",
      KeyUsage: "SIGN_VERIFY",
      MultiRegion: true,
    });
    random = 0.999;
    const replicated = await kms.send(
      new ReplicateKeyCommand({ KeyId: primary.KeyId!, ReplicaRegion: "eu-west-1" }),
    );
    random = 0;
    expect(replicated.ReplicaKeyMetadata?.KeyState).toBe("Creating");
    const described = (await replicaKms.send(new DescribeKeyCommand({ KeyId: primary.KeyId! }))).KeyMetadata;
    expect(described?.KeyState).toBe("Creating");
    expect(
      await errorName(
        replicaKms.send(
          new GetParametersForImportCommand({
            KeyId: primary.KeyId!,
            WrappingAlgorithm: "RSAES_OAEP_SHA_256",
            WrappingKeySpec: "RSA_2048",
          }),
        ),
      ),
    ).toBe("KMSInvalidStateException");
    expect(
      await errorName(
        replicaKms.send(new CreateAliasCommand({ AliasName: "alias/c3", TargetKeyId: primary.KeyId! })),
      ),
    ).toBe("KMSInvalidStateException");
  });

  it("a change becomes visible once its own delay has passed", async () => {
    const quick = await startKmsEmulator({
      quotas: false,
      consistencyDelayMs: 300,
      consistencyRandom: () => 0.999,
    });
    const client = kmsClient(quick);
    try {
      const key = (await client.send(new CreateKeyCommand({}))).KeyMetadata!;
      expect(await errorName(client.send(new DescribeKeyCommand({ KeyId: key.KeyId! })))).toBe(
        "NotFoundException",
      );
      await waitFor(
        async () => (await listedKeyIds(client)).includes(key.KeyId!),
        10_000,
        "the new key to be listed",
      );
      expect((await client.send(new DescribeKeyCommand({ KeyId: key.KeyId! }))).KeyMetadata?.KeyState).toBe(
        "Enabled",
      );
    } finally {
      client.destroy();
      await quick.close();
    }
  });

  it("the --consistency-delay flag takes milliseconds, and names itself when wrong", () => {
    const flags = emulatorFlagDefaults();
    expect(kmsEmulatorOptionsFromFlags({ ...flags, consistencyDelay: "2000" }).consistencyDelayMs).toBe(2000);
    expect(() => kmsEmulatorOptionsFromFlags({ ...flags, consistencyDelay: "2s" })).toThrow(
      /--consistency-delay: "2s"/,
    );
    const program = new Command();
    registerKmsEmulatorCommand(program);
    const help = program.commands.find((command) => command.name() === "kms-emulator")?.helpInformation();
    expect(help).toContain("--consistency-delay <ms>");
  });
});
