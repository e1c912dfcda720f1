import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ListKeysCommand,
  SignCommand,
  VerifyCommand,
} from "@aws-sdk/client-kms";
import { afterAll, describe, expect, it } from "vitest";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";
import {
  ecKey,
  editRequests,
  errorName,
  failure,
  importMaterial,
  kmsClient,
} from "./kms-emulator-fixtures.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function emulatorWith(options: Parameters<typeof startKmsEmulator>[0]) {
  const emulator = await startKmsEmulator({ wrappingKeyPoolSize: 0, ...options });
  cleanups.push(() => emulator.close());
  return emulator;
}
function clientFor(emulator: KmsEmulator, region?: string) {
  const client = kmsClient(emulator, region);
  cleanups.push(() => client.destroy());
  return client;
}

describe("quotas, faults and latency", () => {
  it("N+1 calls within a second of an operation with quota N: the last one is throttled", async () => {
    const emulator = await emulatorWith({ quotas: { CreateKey: 3 } });
    const client = clientFor(emulator);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await errorName(client.send(new CreateKeyCommand({}))));
    expect(results).toEqual(["no error", "no error", "no error", "ThrottlingException"]);
    // Another Region has its own bucket; other operations are not affected.
    const west = clientFor(emulator, "eu-west-1");
    expect(await errorName(west.send(new CreateKeyCommand({})))).toBe("no error");
    expect(await errorName(client.send(new DescribeKeyCommand({ KeyId: "alias/none" })))).toBe(
      "NotFoundException",
    );
    const stats = emulator.stats();
    expect(stats.regions["us-east-1"]?.["CreateKey"]).toEqual({ calls: 4, throttled: 1, faults: 0 });
    expect(stats.regions["eu-west-1"]?.["CreateKey"]).toEqual({ calls: 1, throttled: 0, faults: 0 });
    expect(stats.total.throttled).toBe(1);
  });

  it("the default GetParametersForImport quota is 1/s and refills", async () => {
    const emulator = await emulatorWith({});
    const client = clientFor(emulator);
    const keyId = (
      await client.send(
        new CreateKeyCommand({ KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC", Origin: "EXTERNAL" }),
      )
    ).KeyMetadata!.KeyId!;
    const request = () =>
      errorName(
        client.send(
          new GetParametersForImportCommand({
            KeyId: keyId,
            WrappingAlgorithm: "RSAES_OAEP_SHA_256",
            WrappingKeySpec: "RSA_2048",
          }),
        ),
      );
    expect(await request()).toBe("no error");
    expect(await request()).toBe("ThrottlingException");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await request()).toBe("no error");
  });

  it("Sign and Verify on RSA keys share the RSA pool (AWS's shared quotas); an ECC key has its own", async () => {
    const emulator = await emulatorWith({ quotas: { RsaCryptography: 2 } });
    const client = clientFor(emulator);
    const create = async (KeySpec: "RSA_2048" | "ECC_NIST_P256") =>
      (await client.send(new CreateKeyCommand({ KeySpec, KeyUsage: "SIGN_VERIFY" }))).KeyMetadata!.KeyId!;
    const rsa = await create("RSA_2048");
    const ecc = await create("ECC_NIST_P256");
    const Message = Buffer.from("pool");
    const sign = (KeyId: string, SigningAlgorithm: "RSASSA_PSS_SHA_256" | "ECDSA_SHA_256") =>
      client.send(new SignCommand({ KeyId, Message, SigningAlgorithm }));
    const signature = (await sign(rsa, "RSASSA_PSS_SHA_256")).Signature!;
    const verify = client.send(
      new VerifyCommand({
        KeyId: rsa,
        Message,
        Signature: signature,
        SigningAlgorithm: "RSASSA_PSS_SHA_256",
      }),
    );
    expect(await errorName(verify)).toBe("no error");
    // Two RSA requests spent the pool of 2, whichever operations they were: the third is throttled.
    expect(await errorName(sign(rsa, "RSASSA_PSS_SHA_256"))).toBe("ThrottlingException");
    expect(await errorName(sign(ecc, "ECDSA_SHA_256"))).toBe("no error");
    expect(emulator.stats().regions["us-east-1"]?.["Sign"]?.throttled).toBe(1);
  });

  it("faultRate 1 answers HTTP 500 KMSInternalException; latency delays", async () => {
    const faulty = await emulatorWith({ quotas: false, faultRate: 1 });
    const client = clientFor(faulty);
    let status = 0;
    try {
      await client.send(new CreateKeyCommand({}));
    } catch (error) {
      expect((error as Error).name).toBe("KMSInternalException");
      status = (error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode;
    }
    expect(status).toBe(500);
    expect(faulty.stats().total.faults).toBe(1);
    const slow = await emulatorWith({ quotas: false, latencyMs: [150, 200] });
    const slowClient = clientFor(slow);
    const started = performance.now();
    await slowClient.send(new CreateKeyCommand({}));
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
  });
});

describe("wire", () => {
  it("answers unknown operations, missing credentials and bad JSON like AWS", async () => {
    const emulator = await emulatorWith({ quotas: false });
    const renamed = clientFor(emulator, "ap-south-1");
    editRequests(renamed, "beforeSigning", (request) => {
      request.headers["x-amz-target"] = "TrentService.FlyToTheMoon";
    });
    expect(await failure(renamed.send(new ListKeysCommand({})))).toMatchObject({
      name: "UnknownOperationException",
      status: 400,
    });
    const anonymous = clientFor(emulator, "ap-south-1");
    editRequests(anonymous, "afterSigning", (request) => {
      delete request.headers["authorization"];
    });
    expect(await failure(anonymous.send(new ListKeysCommand({})))).toMatchObject({
      name: "MissingAuthenticationTokenException",
      status: 400,
    });
    const garbled = clientFor(emulator, "ap-south-1");
    editRequests(garbled, "beforeSigning", (request) => {
      request.body = "{nope";
      request.headers["content-length"] = "5";
    });
    expect(await failure(garbled.send(new ListKeysCommand({})))).toMatchObject({
      name: "SerializationException",
      status: 400,
    });
    const listed = await clientFor(emulator, "ap-south-1").send(new ListKeysCommand({}));
    expect(listed).toMatchObject({ Keys: [], Truncated: false });
    // The refused signature never reached an operation; the other two did.
    expect(emulator.stats().regions["ap-south-1"]?.["ListKeys"]?.calls).toBe(2);
  });
});

describe("--state", () => {
  it("state survives a restart: the imported key still signs, the alias resolves, tokens stay usable", async () => {
    const directory = mkdtempSync(join(tmpdir(), "kms-emulator-state-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const stateFile = join(directory, "state.json");
    const first = await startKmsEmulator({ quotas: false, stateFile, wrappingKeyPoolSize: 0 });
    const firstClient = new KMSClient({
      region: "us-west-2",
      endpoint: first.url,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      maxAttempts: 1,
    });
    const p256 = ecKey("prime256v1");
    const keyId = (
      await firstClient.send(
        new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", Origin: "EXTERNAL" }),
      )
    ).KeyMetadata!.KeyId!;
    await importMaterial(firstClient, keyId, p256.pkcs8);
    await firstClient.send(new CreateAliasCommand({ AliasName: "alias/survivor", TargetKeyId: keyId }));
    const other = (
      await firstClient.send(
        new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", Origin: "EXTERNAL" }),
      )
    ).KeyMetadata!.KeyId!;
    const pending = await firstClient.send(
      new GetParametersForImportCommand({
        KeyId: other,
        WrappingAlgorithm: "RSAES_OAEP_SHA_256",
        WrappingKeySpec: "RSA_2048",
      }),
    );
    firstClient.destroy();
    await first.close();
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);

    const second = await emulatorWith({ quotas: false, stateFile });
    const client = clientFor(second, "us-west-2");
    const publicKey = await client.send(new GetPublicKeyCommand({ KeyId: "alias/survivor" }));
    expect(Buffer.from(publicKey.PublicKey!).equals(p256.spki)).toBe(true);
    const signed = await client.send(
      new SignCommand({
        KeyId: "alias/survivor",
        Message: Buffer.from("m"),
        SigningAlgorithm: "ECDSA_SHA_256",
      }),
    );
    const { verify } = await import("node:crypto");
    expect(verify("sha256", Buffer.from("m"), p256.publicKey, Buffer.from(signed.Signature!))).toBe(true);
    const encrypted = wrapKeyMaterial(
      "RSAES_OAEP_SHA_256",
      Buffer.from(pending.PublicKey!),
      ecKey("prime256v1").pkcs8,
    );
    const imported = await client.send(
      new ImportKeyMaterialCommand({
        KeyId: other,
        ImportToken: pending.ImportToken,
        EncryptedKeyMaterial: encrypted,
        ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
      }),
    );
    expect(imported.KeyId).toContain(other);
  });
});
