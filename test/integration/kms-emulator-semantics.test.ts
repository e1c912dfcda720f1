import { randomBytes } from "node:crypto";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  type KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ReplicateKeyCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
} from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";
import { ecKey, failure, importMaterial, kmsClient } from "./kms-emulator-fixtures.js";

/** The emulator's API semantics where AWS's API Reference is exact, through the real SDK. */

let emulator: KmsEmulator;
let client: KMSClient;
const p256 = ecKey("prime256v1");

beforeAll(async () => {
  emulator = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 1 });
  client = kmsClient(emulator);
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
});

const externalKey = async (KeySpec: "SYMMETRIC_DEFAULT" | "ECC_NIST_P256" = "ECC_NIST_P256") =>
  (
    await client.send(
      new CreateKeyCommand({
        KeySpec,
        KeyUsage: KeySpec === "SYMMETRIC_DEFAULT" ? "ENCRYPT_DECRYPT" : "SIGN_VERIFY",
        Origin: "EXTERNAL",
      }),
    )
  ).KeyMetadata!.KeyId!;

const parameters = (KeyId: string) =>
  client.send(
    new GetParametersForImportCommand({
      KeyId,
      WrappingAlgorithm: "RSAES_OAEP_SHA_256",
      WrappingKeySpec: "RSA_2048",
    }),
  );

const importWith = (
  KeyId: string,
  params: { ImportToken?: Uint8Array; PublicKey?: Uint8Array },
  material: Buffer,
) =>
  client.send(
    new ImportKeyMaterialCommand({
      KeyId,
      ImportToken: params.ImportToken,
      EncryptedKeyMaterial: wrapKeyMaterial("RSAES_OAEP_SHA_256", Buffer.from(params.PublicKey!), material),
      ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }),
  );

describe("ImportKeyMaterial", () => {
  it("a Disabled key is KMSInvalidStateException; PendingImport and Enabled keys import", async () => {
    const keyId = await externalKey();
    await importMaterial(client, keyId, p256.pkcs8);
    const params = await parameters(keyId);
    await client.send(new DisableKeyCommand({ KeyId: keyId }));
    expect(await failure(importWith(keyId, params, p256.pkcs8))).toMatchObject({
      name: "KMSInvalidStateException",
      status: 400,
    });
    expect((await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe(
      "Disabled",
    );
  });

  it("a token is opaque, bound to its key and its wrapping key, and spent by the import it carried", async () => {
    const keyId = await externalKey();
    const other = await externalKey();
    const params = await parameters(keyId);
    const token = Buffer.from(params.ImportToken!);
    expect(token.toString("latin1")).not.toContain(keyId);
    expect(() => JSON.parse(token.toString("utf8"))).toThrow();
    expect(await failure(importWith(other, params, p256.pkcs8))).toMatchObject({
      name: "InvalidImportTokenException",
    });
    // Another response's public key with this token: the set is indivisible.
    const second = await parameters(keyId);
    const mixed = { ImportToken: params.ImportToken, PublicKey: second.PublicKey };
    expect((await failure(importWith(keyId, mixed, p256.pkcs8))).name).toMatch(
      /InvalidCiphertextException|InvalidImportTokenException/,
    );
    await importWith(keyId, params, p256.pkcs8);
    const reused = await failure(importWith(keyId, params, p256.pkcs8));
    expect(reused).toMatchObject({ name: "InvalidImportTokenException", status: 400 });
    expect(reused.message).toMatch(/already used/);
    // A fresh set reimports the same material, as AWS documents.
    await importWith(keyId, second, p256.pkcs8);
  });
});

describe("KeyMaterialId", () => {
  it("symmetric keys: CurrentKeyMaterialId, and the id in ImportKeyMaterial, Decrypt and DeleteImportedKeyMaterial", async () => {
    const keyId = await externalKey("SYMMETRIC_DEFAULT");
    const material = randomBytes(32);
    const imported = await importMaterial(client, keyId, material);
    expect(imported.KeyMaterialId).toMatch(/^[0-9a-f]{64}$/);
    // Derived from the key and the material, never the bare material's hash.
    const { createHash } = await import("node:crypto");
    expect(imported.KeyMaterialId).not.toBe(createHash("sha256").update(material).digest("hex"));
    const described = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(described.KeyMetadata?.CurrentKeyMaterialId).toBe(imported.KeyMaterialId);
    const { CiphertextBlob } = await client.send(
      new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("hello") }),
    );
    const decrypted = await client.send(new DecryptCommand({ CiphertextBlob }));
    expect(decrypted.KeyMaterialId).toBe(imported.KeyMaterialId);
    const deleted = await client.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
    expect(deleted.KeyMaterialId).toBe(imported.KeyMaterialId);
    const after = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(after.KeyMetadata?.CurrentKeyMaterialId).toBeUndefined();
  });

  it("asymmetric keys have no CurrentKeyMaterialId; their imports still name the material", async () => {
    const keyId = await externalKey();
    const imported = await importMaterial(client, keyId, p256.pkcs8);
    expect(imported.KeyMaterialId).toMatch(/^[0-9a-f]{64}$/);
    const described = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(described.KeyMetadata?.KeyState).toBe("Enabled");
    expect(described.KeyMetadata?.CurrentKeyMaterialId).toBeUndefined();
    expect(
      await failure(
        client.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId, KeyMaterialId: "0".repeat(64) })),
      ),
    ).toMatchObject({ name: "NotFoundException" });
  });
});

describe("pagination markers", () => {
  it("are opaque; a forged, altered or borrowed marker is InvalidMarkerException", async () => {
    const keyIds = [await externalKey(), await externalKey(), await externalKey()];
    const first = await client.send(new ListKeysCommand({ Limit: 1 }));
    expect(first.Truncated).toBe(true);
    const marker = first.NextMarker!;
    expect(Buffer.from(marker, "base64url").toString("latin1")).not.toContain("offset");
    // Sealed afresh each time: the same position never gives the same marker.
    expect((await client.send(new ListKeysCommand({ Limit: 1 }))).NextMarker).not.toBe(marker);
    const forged = Buffer.from("offset:1").toString("base64url");
    for (const Marker of [forged, "1", `${marker.slice(0, -2)}AA`])
      expect(await failure(client.send(new ListKeysCommand({ Limit: 1, Marker })))).toMatchObject({
        name: "InvalidMarkerException",
        status: 400,
      });
    expect(await failure(client.send(new ListAliasesCommand({ Marker: marker })))).toMatchObject({
      name: "InvalidMarkerException",
    });
    await client.send(new ScheduleKeyDeletionCommand({ KeyId: keyIds[2], PendingWindowInDays: 7 }));
    const tagged = keyIds[0]!;
    expect(
      await failure(client.send(new ListResourceTagsCommand({ KeyId: tagged, Marker: marker }))),
    ).toMatchObject({ name: "InvalidMarkerException" });
    const seen: string[] = [];
    let next: string | undefined;
    do {
      const page = await client.send(new ListKeysCommand({ Limit: 1, Marker: next }));
      seen.push(...(page.Keys ?? []).map((key) => key.KeyId!));
      next = page.Truncated ? page.NextMarker : undefined;
    } while (next);
    expect(seen).toEqual(expect.arrayContaining(keyIds));
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe("aliases", () => {
  it("ListAliases shows the predefined AWS managed aliases, without TargetKeyId; alias/aws/ names are InvalidAliasNameException", async () => {
    const region = kmsClient(emulator, "ap-southeast-2");
    try {
      const listed = (await region.send(new ListAliasesCommand({ Limit: 100 }))).Aliases ?? [];
      const managed = listed.filter((alias) => alias.AliasName?.startsWith("alias/aws/"));
      expect(managed.map((alias) => alias.AliasName)).toContain("alias/aws/s3");
      expect(managed[0]).toMatchObject({
        AliasArn: `arn:aws:kms:ap-southeast-2:111122223333:${managed[0]!.AliasName}`,
      });
      expect(managed.every((alias) => alias.TargetKeyId === undefined)).toBe(true);
      const keyId = (await region.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      await region.send(new CreateAliasCommand({ AliasName: "alias/mine", TargetKeyId: keyId }));
      const filtered = (await region.send(new ListAliasesCommand({ KeyId: keyId }))).Aliases ?? [];
      expect(filtered.map((alias) => alias.AliasName)).toEqual(["alias/mine"]);
      for (const command of [
        new CreateAliasCommand({ AliasName: "alias/aws/mine", TargetKeyId: keyId }),
        new UpdateAliasCommand({ AliasName: "alias/aws/s3", TargetKeyId: keyId }),
        new DeleteAliasCommand({ AliasName: "alias/aws/s3" }),
      ])
        expect(await failure(region.send(command as never))).toMatchObject({
          name: "InvalidAliasNameException",
          status: 400,
        });
    } finally {
      region.destroy();
    }
  });
});

describe("PendingDeletionWindowInDays", () => {
  it("shows only on a primary key waiting for its replicas (PendingReplicaDeletion)", async () => {
    const primary = (await client.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!.KeyId!;
    await client.send(new ReplicateKeyCommand({ KeyId: primary, ReplicaRegion: "eu-central-1" }));
    const scheduled = await client.send(
      new ScheduleKeyDeletionCommand({ KeyId: primary, PendingWindowInDays: 9 }),
    );
    expect(scheduled).toMatchObject({ KeyState: "PendingReplicaDeletion", PendingWindowInDays: 9 });
    expect(scheduled.DeletionDate).toBeUndefined();
    const described = (await client.send(new DescribeKeyCommand({ KeyId: primary }))).KeyMetadata!;
    expect(described).toMatchObject({ KeyState: "PendingReplicaDeletion", PendingDeletionWindowInDays: 9 });
    expect(described.DeletionDate).toBeUndefined();
    const single = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await client.send(new ScheduleKeyDeletionCommand({ KeyId: single, PendingWindowInDays: 9 }));
    const pending = (await client.send(new DescribeKeyCommand({ KeyId: single }))).KeyMetadata!;
    expect(pending.KeyState).toBe("PendingDeletion");
    expect(pending.DeletionDate).toBeInstanceOf(Date);
    expect(pending.PendingDeletionWindowInDays).toBeUndefined();
  });
});
