import { createPrivateKey, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  type KMSClient,
  ScheduleKeyDeletionCommand,
  SignCommand,
} from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WrappingAlgorithm } from "../../src/shared/key-specs.js";
import { createLogger } from "../../src/shared/logger.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";
import {
  ecKey,
  errorName,
  importMaterial,
  kmsClient,
  rsaKey,
  threePrimeRsaPkcs8,
} from "./kms-emulator-fixtures.js";

const VECTORS = join(import.meta.dirname, "../fixtures/kms-import");
const vectorMaterial = (name: string) =>
  Buffer.from(JSON.parse(readFileSync(join(VECTORS, name), "utf8")).plaintextMaterialBase64, "base64");

const logLines: string[] = [];
let emulator: KmsEmulator;
let padding: KmsEmulator;
let client: KMSClient;
let paddingClient: KMSClient;
const p256 = ecKey("prime256v1");
// Made before any request: its synchronous prime search can block the event loop for seconds under load,
// long enough for the in-process emulator to drop the client's idle keep-alive socket (ECONNRESET).
const threePrime = threePrimeRsaPkcs8();

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  emulator = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 1 });
  padding = await startKmsEmulator({
    quotas: false,
    acceptKwpZeroPadding: true,
    wrappingKeyPoolSize: 1,
    logger: createLogger({ destination }),
  });
  client = kmsClient(emulator);
  paddingClient = kmsClient(padding);
});

afterAll(async () => {
  client?.destroy();
  paddingClient?.destroy();
  await emulator?.close();
  await padding?.close();
});

async function externalKey(
  kms = client,
  spec: "ECC_NIST_P256" | "RSA_2048" | "SYMMETRIC_DEFAULT" = "ECC_NIST_P256",
) {
  const usage = spec === "SYMMETRIC_DEFAULT" ? "ENCRYPT_DECRYPT" : "SIGN_VERIFY";
  const created = await kms.send(
    new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage, Origin: "EXTERNAL" }),
  );
  return created.KeyMetadata!.KeyId!;
}

async function parameters(keyId: string, algorithm: WrappingAlgorithm = "RSAES_OAEP_SHA_256", kms = client) {
  return kms.send(
    new GetParametersForImportCommand({
      KeyId: keyId,
      WrappingAlgorithm: algorithm,
      WrappingKeySpec: "RSA_2048",
    }),
  );
}

/** Imports `material` wrapped exactly as given, and returns the error name (or "no error"). */
async function importError(
  keyId: string,
  material: Buffer,
  algorithm: WrappingAlgorithm = "RSAES_OAEP_SHA_256",
  kms = client,
): Promise<string> {
  const { PublicKey, ImportToken } = await parameters(keyId, algorithm, kms);
  const encrypted = wrapKeyMaterial(algorithm, Buffer.from(PublicKey!), material);
  const request = new ImportKeyMaterialCommand({
    KeyId: keyId,
    ImportToken,
    EncryptedKeyMaterial: encrypted,
    ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
  });
  try {
    await kms.send(request);
    return "no error";
  } catch (error) {
    lastMessage = (error as Error).message;
    return (error as Error).name;
  }
}
let lastMessage = "";

describe("import token errors", () => {
  it("an expired token is ExpiredImportTokenException", async () => {
    const shortLived = await startKmsEmulator({ quotas: false, tokenTtlMs: 300, wrappingKeyPoolSize: 0 });
    const shortClient = kmsClient(shortLived);
    try {
      const keyId = await externalKey(shortClient);
      const { PublicKey, ImportToken } = await parameters(keyId, "RSAES_OAEP_SHA_256", shortClient);
      await sleep(400);
      const encrypted = wrapKeyMaterial("RSAES_OAEP_SHA_256", Buffer.from(PublicKey!), p256.pkcs8);
      const request = new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken,
        EncryptedKeyMaterial: encrypted,
        ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
      });
      expect(await errorName(shortClient.send(request))).toBe("ExpiredImportTokenException");
    } finally {
      shortClient.destroy();
      await shortLived.close();
    }
  });

  it("another key's token, a garbage token and another emulator's token are InvalidImportTokenException", async () => {
    const [keyId, otherKeyId] = [await externalKey(), await externalKey()];
    const other = await parameters(otherKeyId);
    const encrypted = wrapKeyMaterial("RSAES_OAEP_SHA_256", Buffer.from(other.PublicKey!), p256.pkcs8);
    const attempt = (ImportToken: Uint8Array, kms = client, id = keyId) =>
      errorName(
        kms.send(
          new ImportKeyMaterialCommand({
            KeyId: id,
            ImportToken,
            EncryptedKeyMaterial: encrypted,
            ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
          }),
        ),
      );
    expect(await attempt(other.ImportToken!)).toBe("InvalidImportTokenException");
    expect(await attempt(randomBytes(512))).toBe("InvalidImportTokenException");
    const foreignKeyId = await externalKey(paddingClient);
    expect(await attempt(other.ImportToken!, paddingClient, foreignKeyId)).toBe(
      "InvalidImportTokenException",
    );
  });

  it("earlier tokens stay valid after a new GetParametersForImport", async () => {
    const keyId = await externalKey();
    const first = await parameters(keyId);
    await parameters(keyId);
    const encrypted = wrapKeyMaterial("RSAES_OAEP_SHA_256", Buffer.from(first.PublicKey!), p256.pkcs8);
    const imported = await client.send(
      new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: first.ImportToken,
        EncryptedKeyMaterial: encrypted,
        ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
      }),
    );
    expect(imported.KeyId).toContain(keyId);
  });
});

describe("ciphertext and material errors", () => {
  it("material wrapped with the wrong hash is InvalidCiphertextException", async () => {
    const keyId = await externalKey();
    const { PublicKey, ImportToken } = await parameters(keyId, "RSAES_OAEP_SHA_256");
    const encrypted = wrapKeyMaterial("RSAES_OAEP_SHA_1", Buffer.from(PublicKey!), p256.pkcs8);
    const request = new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken,
      EncryptedKeyMaterial: encrypted,
      ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
    });
    expect(await errorName(client.send(request))).toBe("InvalidCiphertextException");
  });

  it("a key on the wrong curve is IncorrectKeyMaterialException", async () => {
    expect(await importError(await externalKey(), ecKey("secp384r1").pkcs8)).toBe(
      "IncorrectKeyMaterialException",
    );
  });

  it("an RSA key of the wrong size is IncorrectKeyMaterialException", async () => {
    const keyId = await externalKey(client, "RSA_2048");
    expect(await importError(keyId, rsaKey(3072).pkcs8, "RSA_AES_KEY_WRAP_SHA_256")).toBe(
      "IncorrectKeyMaterialException",
    );
  });

  it("three-prime RSA is IncorrectKeyMaterialException", async () => {
    const keyId = await externalKey(client, "RSA_2048");
    expect(await importError(keyId, threePrime, "RSA_AES_KEY_WRAP_SHA_256")).toBe(
      "IncorrectKeyMaterialException",
    );
    expect(lastMessage).toMatch(/two primes/);
  });

  it("different material on re-import is IncorrectKeyMaterialException; the same material is accepted", async () => {
    const keyId = await externalKey();
    await importMaterial(client, keyId, p256.pkcs8);
    expect(await importError(keyId, ecKey("prime256v1").pkcs8)).toBe("IncorrectKeyMaterialException");
    await client.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
    expect(await importError(keyId, ecKey("prime256v1").pkcs8)).toBe("IncorrectKeyMaterialException");
    expect(await importError(keyId, p256.pkcs8)).toBe("no error");
  });
});

describe("the vendored vectors' SEC1/PKCS#1 plaintexts", () => {
  it("as they are (SEC1), they are IncorrectKeyMaterialException naming the format", async () => {
    const sec1 = vectorMaterial("01-ec-p256-RSAES_OAEP_SHA_256-RSA_4096.json");
    expect(await importError(await externalKey(), sec1)).toBe("IncorrectKeyMaterialException");
    expect(lastMessage).toContain("expected PKCS#8 (RFC 5208) DER; got SEC1/PKCS#1");
  });

  it("as they are (PKCS#1 RSA), they are IncorrectKeyMaterialException naming the format", async () => {
    const pkcs1 = vectorMaterial("07-rsa-2048-RSA_AES_KEY_WRAP_SHA_1-RSA_2048.json");
    const keyId = await externalKey(client, "RSA_2048");
    expect(await importError(keyId, pkcs1, "RSA_AES_KEY_WRAP_SHA_1")).toBe("IncorrectKeyMaterialException");
    expect(lastMessage).toContain("expected PKCS#8 (RFC 5208) DER; got SEC1/PKCS#1");
  });

  it("re-encoded as PKCS#8, they import and sign", async () => {
    const sec1 = vectorMaterial("03-ec-p256-RSA_AES_KEY_WRAP_SHA_256-RSA_3072.json");
    const pkcs8 = createPrivateKey({ key: sec1, format: "der", type: "sec1" }).export({
      format: "der",
      type: "pkcs8",
    });
    const keyId = await externalKey();
    expect(await importError(keyId, pkcs8, "RSA_AES_KEY_WRAP_SHA_256")).toBe("no error");
    const pkcs1 = vectorMaterial("06-rsa-2048-RSA_AES_KEY_WRAP_SHA_256-RSA_4096.json");
    const rsaPkcs8 = createPrivateKey({ key: pkcs1, format: "der", type: "pkcs1" }).export({
      format: "der",
      type: "pkcs8",
    });
    const rsaKeyId = await externalKey(client, "RSA_2048");
    expect(await importError(rsaKeyId, rsaPkcs8, "RSA_AES_KEY_WRAP_SHA_256")).toBe("no error");
    const signed = await client.send(
      new SignCommand({ KeyId: rsaKeyId, Message: Buffer.from("m"), SigningAlgorithm: "RSASSA_PSS_SHA_256" }),
    );
    expect(signed.Signature?.length).toBe(256);
  });
});

describe("SoftHSM2 zero padding (acceptKwpZeroPadding)", () => {
  const padded = Buffer.concat([p256.pkcs8, Buffer.alloc(8 - (p256.pkcs8.length % 8))]);

  it("is rejected by default, naming the trailing bytes", async () => {
    expect(padded.length).toBeGreaterThan(p256.pkcs8.length);
    expect(await importError(await externalKey(), padded, "RSA_AES_KEY_WRAP_SHA_256")).toBe(
      "IncorrectKeyMaterialException",
    );
    expect(lastMessage).toMatch(/trailing bytes/);
  });

  it("is stripped with a warning when the option is on", async () => {
    const keyId = await externalKey(paddingClient);
    expect(await importError(keyId, padded, "RSA_AES_KEY_WRAP_SHA_256", paddingClient)).toBe("no error");
    const warning = logLines.map((line) => JSON.parse(line)).find((line) => line.level === 40);
    expect(warning?.msg).toMatch(/zero-padded/);
    expect(warning?.strippedBytes).toBe(padded.length - p256.pkcs8.length);
    // The key holds the material without its padding: a re-import of the unpadded form is "the same".
    expect(await importError(keyId, p256.pkcs8, "RSAES_OAEP_SHA_256", paddingClient)).toBe("no error");
  });
});

describe("parameter and state errors", () => {
  it("ValidTo is required, in the future and at most 365 days ahead; ImportType is symmetric-only", async () => {
    const keyId = await externalKey();
    const tryImport = async (extra: Record<string, unknown>) => {
      const { PublicKey, ImportToken } = await parameters(keyId);
      const encrypted = wrapKeyMaterial("RSAES_OAEP_SHA_256", Buffer.from(PublicKey!), p256.pkcs8);
      return errorName(
        client.send(
          new ImportKeyMaterialCommand({
            KeyId: keyId,
            ImportToken,
            EncryptedKeyMaterial: encrypted,
            ...extra,
          }),
        ),
      );
    };
    expect(await tryImport({})).toBe("ValidationException");
    expect(await tryImport({ ValidTo: new Date(Date.now() + 366 * 86_400_000) })).toBe("ValidationException");
    expect(await tryImport({ ValidTo: new Date(Date.now() - 1000) })).toBe("ValidationException");
    expect(
      await tryImport({ ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType: "NEW_KEY_MATERIAL" }),
    ).toBe("ValidationException");
    expect(await tryImport({ ValidTo: new Date(Date.now() + 86_400_000) })).toBe("no error");
  });

  it("material expires at ValidTo and the key goes back to PendingImport", async () => {
    const keyId = await externalKey();
    // Far enough ahead to survive a busy machine (the wire carries whole seconds); then wait past it.
    const validTo = new Date(Date.now() + 5000);
    await importMaterial(client, keyId, p256.pkcs8, "RSAES_OAEP_SHA_256", "RSA_2048", {
      ExpirationModel: "KEY_MATERIAL_EXPIRES",
      ValidTo: validTo,
    });
    const before = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(before.KeyMetadata).toMatchObject({
      KeyState: "Enabled",
      ExpirationModel: "KEY_MATERIAL_EXPIRES",
    });
    expect(before.KeyMetadata?.ValidTo).toBeInstanceOf(Date);
    await sleep(validTo.getTime() - Date.now() + 1100);
    const after = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(after.KeyMetadata?.KeyState).toBe("PendingImport");
    const sign = new SignCommand({
      KeyId: keyId,
      Message: Buffer.from("m"),
      SigningAlgorithm: "ECDSA_SHA_256",
    });
    expect(await errorName(client.send(sign))).toBe("KMSInvalidStateException");
  });

  it("alias, AWS_KMS key, pending deletion and missing key fail as in KMS", async () => {
    const keyId = await externalKey();
    await client.send(new CreateAliasCommand({ AliasName: `alias/import-${keyId}`, TargetKeyId: keyId }));
    const request = (KeyId: string) =>
      client.send(
        new GetParametersForImportCommand({
          KeyId,
          WrappingAlgorithm: "RSAES_OAEP_SHA_256",
          WrappingKeySpec: "RSA_2048",
        }),
      );
    expect(await errorName(request(`alias/import-${keyId}`))).toBe("NotFoundException");
    expect(await errorName(request("00000000-0000-0000-0000-000000000000"))).toBe("NotFoundException");
    const kmsKey = await client.send(new CreateKeyCommand({}));
    expect(await errorName(request(kmsKey.KeyMetadata!.KeyId!))).toBe("UnsupportedOperationException");
    await client.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    expect(await errorName(request(keyId))).toBe("KMSInvalidStateException");
    const sign = new SignCommand({
      KeyId: keyId,
      Message: Buffer.from("m"),
      SigningAlgorithm: "ECDSA_SHA_256",
    });
    expect(await errorName(client.send(sign))).toBe("KMSInvalidStateException");
  });

  it("DeleteImportedKeyMaterial returns the key to PendingImport; twice is KMSInvalidStateException", async () => {
    const keyId = await externalKey();
    await importMaterial(client, keyId, p256.pkcs8);
    await client.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
    const described = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(described.KeyMetadata).toMatchObject({ KeyState: "PendingImport", Enabled: false });
    expect(await errorName(client.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId })))).toBe(
      "KMSInvalidStateException",
    );
  });
});
