import { randomBytes } from "node:crypto";
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  type KMSClient,
  SignCommand,
} from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kmsEmulatorOptionsFromFlags } from "../../src/testkit/kms-emulator/flags.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { emulatorFlagDefaults } from "../helpers/kms-emulator-flags.js";
import { ecKey, errorName, importMaterial, kmsClient } from "./kms-emulator-fixtures.js";

/**
 * Imported material with a ValidTo, as the AWS KMS API Reference (ImportKeyMaterial, ValidTo) describes it: at
 * expiry KMS deletes the material, the key is unusable (PendingImport) until the SAME material is imported
 * again; different material is refused (IncorrectKeyMaterialException). The emulator's clock is jumped instead
 * of waited for.
 */
let emulator: KmsEmulator;
let client: KMSClient;

beforeAll(async () => {
  emulator = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 1 });
  client = kmsClient(emulator);
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
});

const sign = (keyId: string) =>
  client.send(new SignCommand({ KeyId: keyId, Message: randomBytes(32), SigningAlgorithm: "ECDSA_SHA_256" }));

describe("kms-emulator: material that expires", () => {
  it("deletes the material at ValidTo, takes the same material back and refuses another", async () => {
    const nodeKey = ecKey("prime256v1");
    const created = await client.send(
      new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", Origin: "EXTERNAL" }),
    );
    const keyId = created.KeyMetadata!.KeyId!;
    const firstValidTo = new Date(Date.now() + 60_000);
    await importMaterial(client, keyId, nodeKey.pkcs8, "RSAES_OAEP_SHA_256", "RSA_2048", {
      ExpirationModel: "KEY_MATERIAL_EXPIRES",
      ValidTo: firstValidTo,
    });
    const before = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(before.KeyMetadata?.KeyState).toBe("Enabled");
    expect(before.KeyMetadata?.ExpirationModel).toBe("KEY_MATERIAL_EXPIRES");
    expect(Math.abs(before.KeyMetadata!.ValidTo!.getTime() - firstValidTo.getTime())).toBeLessThan(1000);
    await sign(keyId);

    emulator.advanceClock(61_000);
    const after = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(after.KeyMetadata?.KeyState).toBe("PendingImport");
    expect(after.KeyMetadata?.ValidTo).toBeUndefined();
    expect(await errorName(sign(keyId))).toBe("KMSInvalidStateException");

    // A ValidTo in the host's future but the emulator's past is refused: the jumped clock is the one KMS keeps.
    expect(
      await errorName(
        importMaterial(client, keyId, nodeKey.pkcs8, "RSAES_OAEP_SHA_256", "RSA_2048", {
          ExpirationModel: "KEY_MATERIAL_EXPIRES",
          ValidTo: new Date(Date.now() + 30_000),
        }),
      ),
    ).toBe("ValidationException");
    expect(await errorName(importMaterial(client, keyId, ecKey("prime256v1").pkcs8))).toBe(
      "IncorrectKeyMaterialException",
    );
    await importMaterial(client, keyId, nodeKey.pkcs8, "RSAES_OAEP_SHA_256", "RSA_2048", {
      ExpirationModel: "KEY_MATERIAL_EXPIRES",
      ValidTo: new Date(Date.now() + 3_600_000),
    });
    expect((await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe(
      "Enabled",
    );
    await sign(keyId);
  });

  it("lets the import token expire with the clock too", async () => {
    const created = await client.send(
      new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", Origin: "EXTERNAL" }),
    );
    const keyId = created.KeyMetadata!.KeyId!;
    const parameters = await client.send(
      new GetParametersForImportCommand({
        KeyId: keyId,
        WrappingAlgorithm: "RSAES_OAEP_SHA_256",
        WrappingKeySpec: "RSA_2048",
      }),
    );
    emulator.advanceClock(86_400_000);
    const refused = client.send(
      new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: parameters.ImportToken,
        EncryptedKeyMaterial: randomBytes(256),
        ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
      }),
    );
    expect(await errorName(refused)).toBe("ExpiredImportTokenException");
  });

  it("reads --clock-offset and refuses a clock that would run backwards", () => {
    const flags = emulatorFlagDefaults();
    expect(kmsEmulatorOptionsFromFlags(flags).clockOffsetMs).toBe(0);
    expect(kmsEmulatorOptionsFromFlags({ ...flags, clockOffset: "30d" }).clockOffsetMs).toBe(30 * 86_400_000);
    expect(() => kmsEmulatorOptionsFromFlags({ ...flags, clockOffset: "-5m" })).toThrow(/--clock-offset/);
    expect(() => emulator.advanceClock(-1)).toThrow(/only moves forward/);
  });
});
