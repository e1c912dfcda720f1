import { constants, createHash, createPublicKey, verify } from "node:crypto";
import {
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  type KeySpec,
  type KeyUsageType,
  type KMSClient,
  SignCommand,
  type SigningAlgorithmSpec,
  VerifyCommand,
  VerifyMacCommand,
} from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { ecKey, errorName, kmsClient } from "./kms-emulator-fixtures.js";

let emulator: KmsEmulator;
let client: KMSClient;
const keyIds: Record<string, string> = {};

async function createKey(spec: KeySpec, usage: KeyUsageType): Promise<string> {
  const created = await client.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage }));
  return created.KeyMetadata!.KeyId!;
}

beforeAll(async () => {
  emulator = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 0 });
  client = kmsClient(emulator);
  // AWS_KMS-origin keys: the emulator generates their material.
  keyIds["rsaSign"] = await createKey("RSA_2048", "SIGN_VERIFY");
  keyIds["rsaEncrypt"] = await createKey("RSA_2048", "ENCRYPT_DECRYPT");
  keyIds["p256"] = await createKey("ECC_NIST_P256", "SIGN_VERIFY");
  keyIds["p521"] = await createKey("ECC_NIST_P521", "SIGN_VERIFY");
  keyIds["ecdh"] = await createKey("ECC_NIST_P256", "KEY_AGREEMENT");
  keyIds["aes"] = await createKey("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
  keyIds["hmac"] = await createKey("HMAC_384", "GENERATE_VERIFY_MAC");
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
});

async function publicKeyOf(keyId: string) {
  const response = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  return {
    response,
    key: createPublicKey({ key: Buffer.from(response.PublicKey!), format: "der", type: "spki" }),
  };
}

describe("Sign and Verify", () => {
  const cases: [string, SigningAlgorithmSpec, string][] = [
    ["rsaSign", "RSASSA_PKCS1_V1_5_SHA_256", "sha256"],
    ["rsaSign", "RSASSA_PKCS1_V1_5_SHA_512", "sha512"],
    ["rsaSign", "RSASSA_PSS_SHA_256", "sha256"],
    ["rsaSign", "RSASSA_PSS_SHA_384", "sha384"],
    ["p256", "ECDSA_SHA_256", "sha256"],
    ["p521", "ECDSA_SHA_512", "sha512"],
  ];
  it.each(cases)("%s %s, RAW and DIGEST, verify locally and in KMS", async (name, algorithm, hash) => {
    const keyId = keyIds[name]!;
    const { key } = await publicKeyOf(keyId);
    const message = Buffer.from(`message for ${algorithm}`);
    const digest = createHash(hash).update(message).digest();
    const options = algorithm.startsWith("RSASSA_PSS")
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length }
      : { key, dsaEncoding: "der" as const };
    for (const [MessageType, Message] of [
      ["RAW", message],
      ["DIGEST", digest],
    ] as const) {
      const signed = await client.send(
        new SignCommand({ KeyId: keyId, Message, MessageType, SigningAlgorithm: algorithm }),
      );
      expect(signed.SigningAlgorithm).toBe(algorithm);
      const signature = Buffer.from(signed.Signature!);
      expect(verify(hash, message, options, signature)).toBe(true);
      const verified = await client.send(
        new VerifyCommand({
          KeyId: keyId,
          Message,
          MessageType,
          Signature: signature,
          SigningAlgorithm: algorithm,
        }),
      );
      expect(verified.SignatureValid).toBe(true);
      signature[signature.length - 1]! ^= 1;
      expect(
        await errorName(
          client.send(
            new VerifyCommand({
              KeyId: keyId,
              Message,
              MessageType,
              Signature: signature,
              SigningAlgorithm: algorithm,
            }),
          ),
        ),
      ).toBe("KMSInvalidSignatureException");
    }
  });

  it("refuses oversize RAW messages, wrong digest lengths, wrong algorithms and wrong usages", async () => {
    const sign = (input: Partial<ConstructorParameters<typeof SignCommand>[0]>) =>
      errorName(
        client.send(
          new SignCommand({
            KeyId: keyIds["p256"],
            Message: Buffer.from("m"),
            SigningAlgorithm: "ECDSA_SHA_256",
            ...input,
          }),
        ),
      );
    expect(await sign({ Message: Buffer.alloc(4097) })).toBe("ValidationException");
    expect(await sign({ Message: Buffer.alloc(4096) })).toBe("no error");
    expect(await sign({ MessageType: "DIGEST", Message: Buffer.alloc(31) })).toBe("ValidationException");
    expect(await sign({ SigningAlgorithm: "ECDSA_SHA_384" })).toBe("InvalidKeyUsageException");
    expect(await sign({ KeyId: keyIds["aes"] })).toBe("InvalidKeyUsageException");
    expect(await sign({ SigningAlgorithm: "NOPE" as "ECDSA_SHA_256" })).toBe("ValidationException");
    expect(await sign({ Message: undefined })).toBe("ValidationException");
  });

  it("GetPublicKey describes the key; symmetric keys have none", async () => {
    const { response } = await publicKeyOf(keyIds["rsaEncrypt"]!);
    expect(response).toMatchObject({
      KeySpec: "RSA_2048",
      KeyUsage: "ENCRYPT_DECRYPT",
      EncryptionAlgorithms: ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
    });
    expect((await publicKeyOf(keyIds["p256"]!)).response.SigningAlgorithms).toEqual(["ECDSA_SHA_256"]);
    expect(await errorName(client.send(new GetPublicKeyCommand({ KeyId: keyIds["aes"] })))).toBe(
      "UnsupportedOperationException",
    );
  });
});

describe("Encrypt and Decrypt", () => {
  it("SYMMETRIC_DEFAULT round-trips with the encryption context, and Decrypt finds the key itself", async () => {
    const context = { purpose: "test", order: "irrelevant" };
    const encrypted = await client.send(
      new EncryptCommand({
        KeyId: keyIds["aes"],
        Plaintext: Buffer.from("hello"),
        EncryptionContext: context,
      }),
    );
    const blob = encrypted.CiphertextBlob!;
    const decrypted = await client.send(
      new DecryptCommand({
        CiphertextBlob: blob,
        EncryptionContext: { order: "irrelevant", purpose: "test" },
      }),
    );
    expect(Buffer.from(decrypted.Plaintext!).toString()).toBe("hello");
    expect(decrypted.KeyId).toContain(keyIds["aes"]);
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: blob })))).toBe(
      "InvalidCiphertextException",
    );
    expect(
      await errorName(
        client.send(
          new DecryptCommand({
            CiphertextBlob: blob,
            KeyId: keyIds["rsaEncrypt"],
            EncryptionContext: context,
          }),
        ),
      ),
    ).toBe("IncorrectKeyException");
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: Buffer.from("garbage") })))).toBe(
      "InvalidCiphertextException",
    );
  });

  it("RSAES_OAEP_SHA_1/256 round-trip on an RSA ENCRYPT_DECRYPT key", async () => {
    for (const algorithm of ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] as const) {
      const encrypted = await client.send(
        new EncryptCommand({
          KeyId: keyIds["rsaEncrypt"],
          Plaintext: Buffer.from("secret"),
          EncryptionAlgorithm: algorithm,
        }),
      );
      const decrypted = await client.send(
        new DecryptCommand({
          KeyId: keyIds["rsaEncrypt"],
          CiphertextBlob: encrypted.CiphertextBlob,
          EncryptionAlgorithm: algorithm,
        }),
      );
      expect(Buffer.from(decrypted.Plaintext!).toString()).toBe("secret");
    }
    const tooLong = new EncryptCommand({
      KeyId: keyIds["rsaEncrypt"],
      Plaintext: Buffer.alloc(200),
      EncryptionAlgorithm: "RSAES_OAEP_SHA_256",
    });
    expect(await errorName(client.send(tooLong))).toBe("ValidationException");
    const wrongAlgorithm = new EncryptCommand({ KeyId: keyIds["rsaEncrypt"], Plaintext: Buffer.from("x") });
    expect(await errorName(client.send(wrongAlgorithm))).toBe("InvalidKeyUsageException");
  });
});

describe("MACs and key agreement", () => {
  it("GenerateMac and VerifyMac", async () => {
    const message = Buffer.from("mac me");
    const generated = await client.send(
      new GenerateMacCommand({ KeyId: keyIds["hmac"], Message: message, MacAlgorithm: "HMAC_SHA_384" }),
    );
    expect(generated.Mac?.length).toBe(48);
    const verified = await client.send(
      new VerifyMacCommand({
        KeyId: keyIds["hmac"],
        Message: message,
        MacAlgorithm: "HMAC_SHA_384",
        Mac: generated.Mac,
      }),
    );
    expect(verified.MacValid).toBe(true);
    const bad = Buffer.from(generated.Mac!);
    bad[0]! ^= 1;
    expect(
      await errorName(
        client.send(
          new VerifyMacCommand({
            KeyId: keyIds["hmac"],
            Message: message,
            MacAlgorithm: "HMAC_SHA_384",
            Mac: bad,
          }),
        ),
      ),
    ).toBe("KMSInvalidMacException");
    expect(
      await errorName(
        client.send(
          new GenerateMacCommand({ KeyId: keyIds["hmac"], Message: message, MacAlgorithm: "HMAC_SHA_256" }),
        ),
      ),
    ).toBe("InvalidKeyUsageException");
  });

  it("DeriveSharedSecret agrees with node's ECDH", async () => {
    const peer = ecKey("prime256v1");
    const derived = await client.send(
      new DeriveSharedSecretCommand({
        KeyId: keyIds["ecdh"],
        KeyAgreementAlgorithm: "ECDH",
        PublicKey: peer.spki,
      }),
    );
    const { key } = await publicKeyOf(keyIds["ecdh"]!);
    const { diffieHellman } = await import("node:crypto");
    expect(
      Buffer.from(derived.SharedSecret!).equals(
        diffieHellman({ privateKey: peer.privateKey, publicKey: key }),
      ),
    ).toBe(true);
    const wrongCurve = new DeriveSharedSecretCommand({
      KeyId: keyIds["ecdh"],
      KeyAgreementAlgorithm: "ECDH",
      PublicKey: ecKey("secp384r1").spki,
    });
    expect(await errorName(client.send(wrongCurve))).toBe("ValidationException");
  });
});
