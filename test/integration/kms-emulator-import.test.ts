import {
  constants,
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  publicEncrypt,
  randomBytes,
  verify,
} from "node:crypto";
import {
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  type KeySpec,
  type KeyUsageType,
  type KMSClient,
  SignCommand,
} from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  isWrappingAllowed,
  WRAPPING_ALGORITHMS,
  WRAPPING_KEY_SPECS,
  type WrappingAlgorithm,
  type WrappingKeySpec,
} from "../../src/shared/key-specs.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import {
  ecKey,
  errorName,
  importMaterial,
  kmsClient,
  type NodeKey,
  rsaKey,
} from "./kms-emulator-fixtures.js";

let emulator: KmsEmulator;
let client: KMSClient;
const keys: Record<string, NodeKey> = {};

beforeAll(async () => {
  // Pool size 0: every GetParametersForImport generates its own key, nothing is generated in the background.
  emulator = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 0 });
  client = kmsClient(emulator);
  keys["P256"] = ecKey("prime256v1");
  keys["P384"] = ecKey("secp384r1");
  keys["P521"] = ecKey("secp521r1");
  keys["K256"] = ecKey("secp256k1");
  keys["RSA2048"] = rsaKey(2048);
  keys["RSA3072"] = rsaKey(3072);
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
});

async function externalKey(spec: KeySpec, usage: KeyUsageType): Promise<string> {
  const created = await client.send(
    new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage, Origin: "EXTERNAL" }),
  );
  expect(created.KeyMetadata?.KeyState).toBe("PendingImport");
  return created.KeyMetadata!.KeyId!;
}

/** KMS holds the node key: same public key, and its signatures verify with node:crypto. */
async function proveSigningKey(keyId: string, nodeKey: NodeKey, algorithm: string, hash: string) {
  const publicKey = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  expect(Buffer.from(publicKey.PublicKey!).equals(nodeKey.spki)).toBe(true);
  const message = randomBytes(64);
  const signed = await client.send(
    new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: algorithm as "ECDSA_SHA_256" }),
  );
  const pss = algorithm.startsWith("RSASSA_PSS");
  const options = pss
    ? {
        key: nodeKey.publicKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: Number(hash.slice(3)) / 8,
      }
    : { key: nodeKey.publicKey, dsaEncoding: "der" as const };
  expect(verify(hash, message, options, Buffer.from(signed.Signature!))).toBe(true);
}

const MATRIX = WRAPPING_ALGORITHMS.flatMap((algorithm) =>
  WRAPPING_KEY_SPECS.map((wrappingKeySpec) => ({ algorithm, wrappingKeySpec })),
);

describe("import under every wrapping algorithm and wrapping key size KMS allows", () => {
  // OAEP carries EC material; RSA_AES_KEY_WRAP carries RSA material (OAEP cannot).
  it.concurrent.each(MATRIX)("$algorithm with $wrappingKeySpec", async ({ algorithm, wrappingKeySpec }) => {
    const rsa = algorithm.startsWith("RSA_AES");
    const spec = rsa ? "RSA_2048" : "ECC_NIST_P256";
    expect(isWrappingAllowed(spec, algorithm, wrappingKeySpec)).toBe(true);
    const nodeKey = rsa ? keys["RSA2048"]! : keys["P256"]!;
    const keyId = await externalKey(spec, "SIGN_VERIFY");
    const imported = await importMaterial(client, keyId, nodeKey.pkcs8, algorithm, wrappingKeySpec);
    expect(imported.KeyId).toContain(keyId);
    await proveSigningKey(keyId, nodeKey, rsa ? "RSASSA_PKCS1_V1_5_SHA_256" : "ECDSA_SHA_256", "sha256");
  });
});

describe("import of every importable key spec", () => {
  const curves: [KeySpec, string, string, string, WrappingAlgorithm, WrappingKeySpec][] = [
    ["ECC_NIST_P256", "P256", "ECDSA_SHA_256", "sha256", "RSAES_OAEP_SHA_256", "RSA_2048"],
    ["ECC_NIST_P384", "P384", "ECDSA_SHA_384", "sha384", "RSAES_OAEP_SHA_1", "RSA_2048"],
    ["ECC_NIST_P521", "P521", "ECDSA_SHA_512", "sha512", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"],
    ["ECC_SECG_P256K1", "K256", "ECDSA_SHA_256", "sha256", "RSAES_OAEP_SHA_256", "RSA_2048"],
  ];
  it.each(curves)("%s signs like the node key", async (spec, name, algorithm, hash, wrapping, size) => {
    const keyId = await externalKey(spec, "SIGN_VERIFY");
    await importMaterial(client, keyId, keys[name]!.pkcs8, wrapping, size);
    await proveSigningKey(keyId, keys[name]!, algorithm, hash);
  });

  it("RSA_3072 signs with PSS like the node key", async () => {
    const keyId = await externalKey("RSA_3072", "SIGN_VERIFY");
    await importMaterial(client, keyId, keys["RSA3072"]!.pkcs8, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048");
    await proveSigningKey(keyId, keys["RSA3072"]!, "RSASSA_PSS_SHA_384", "sha384");
  });

  it("RSA_2048 ENCRYPT_DECRYPT decrypts what node encrypted", async () => {
    const keyId = await externalKey("RSA_2048", "ENCRYPT_DECRYPT");
    await importMaterial(client, keyId, keys["RSA2048"]!.pkcs8, "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048");
    const secret = randomBytes(48);
    const ciphertext = publicEncrypt(
      { key: keys["RSA2048"]!.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      secret,
    );
    const decrypted = await client.send(
      new DecryptCommand({
        KeyId: keyId,
        CiphertextBlob: ciphertext,
        EncryptionAlgorithm: "RSAES_OAEP_SHA_256",
      }),
    );
    expect(Buffer.from(decrypted.Plaintext!).equals(secret)).toBe(true);
  });

  it("ECC_NIST_P384 KEY_AGREEMENT derives the secret node derives", async () => {
    const keyId = await externalKey("ECC_NIST_P384", "KEY_AGREEMENT");
    await importMaterial(client, keyId, keys["P384"]!.pkcs8, "RSAES_OAEP_SHA_256", "RSA_2048");
    const peer = ecKey("secp384r1");
    const derived = await client.send(
      new DeriveSharedSecretCommand({ KeyId: keyId, KeyAgreementAlgorithm: "ECDH", PublicKey: peer.spki }),
    );
    const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: keys["P384"]!.publicKey });
    expect(Buffer.from(derived.SharedSecret!).equals(expected)).toBe(true);
  });

  it("SYMMETRIC_DEFAULT (AES-256) encrypts and decrypts with the imported key", async () => {
    const keyId = await externalKey("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    const aesKey = randomBytes(32);
    await importMaterial(client, keyId, aesKey, "RSAES_OAEP_SHA_1", "RSA_2048");
    const encrypted = await client.send(
      new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("secret") }),
    );
    const blob = Buffer.from(encrypted.CiphertextBlob!);
    // The blob is AES-256-GCM under the imported key: prove it with node, not only through KMS.
    const offset = 2 + blob[1]!;
    const { createDecipheriv } = await import("node:crypto");
    const decipher = createDecipheriv("aes-256-gcm", aesKey, blob.subarray(offset, offset + 12));
    decipher.setAAD(Buffer.from("[]"));
    decipher.setAuthTag(blob.subarray(offset + 12, offset + 28));
    const plain = Buffer.concat([decipher.update(blob.subarray(offset + 28)), decipher.final()]);
    expect(plain.toString()).toBe("secret");
    const decrypted = await client.send(new DecryptCommand({ CiphertextBlob: blob }));
    expect(Buffer.from(decrypted.Plaintext!).toString()).toBe("secret");
  });

  it.each([
    ["HMAC_224", 28, "sha224"],
    ["HMAC_256", 32, "sha256"],
    ["HMAC_384", 48, "sha384"],
    ["HMAC_512", 64, "sha512"],
  ] as const)("%s computes the MAC node computes", async (spec, bytes, hash) => {
    const keyId = await externalKey(spec, "GENERATE_VERIFY_MAC");
    const hmacKey = randomBytes(bytes);
    await importMaterial(client, keyId, hmacKey, "RSAES_OAEP_SHA_256", "RSA_2048");
    const message = randomBytes(100);
    const mac = await client.send(
      new GenerateMacCommand({
        KeyId: keyId,
        Message: message,
        MacAlgorithm: `HMAC_${hash.replace("sha", "SHA_")}` as "HMAC_SHA_256",
      }),
    );
    expect(Buffer.from(mac.Mac!).equals(createHmac(hash, hmacKey).update(message).digest())).toBe(true);
    const described = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(described.KeyMetadata).toMatchObject({ KeyState: "Enabled", Enabled: true, Origin: "EXTERNAL" });
    expect(described.KeyMetadata?.ExpirationModel).toBe("KEY_MATERIAL_DOES_NOT_EXPIRE");
  });
});

describe("wrapping combinations KMS refuses", () => {
  it.each([
    ["ECC_NIST_P521", "SIGN_VERIFY", "RSAES_OAEP_SHA_256", "RSA_2048"],
    ["RSA_2048", "SIGN_VERIFY", "RSAES_OAEP_SHA_256", "RSA_4096"],
    ["SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"],
    ["HMAC_256", "GENERATE_VERIFY_MAC", "RSAES_PKCS1_V1_5", "RSA_2048"],
  ] as const)("%s with %s under %s is a ValidationException", async (spec, usage, algorithm, size) => {
    const keyId = await externalKey(spec, usage);
    const request = new GetParametersForImportCommand({
      KeyId: keyId,
      WrappingAlgorithm: algorithm,
      WrappingKeySpec: size,
    });
    expect(await errorName(client.send(request))).toBe("ValidationException");
  });

  it("the public key returned is DER SPKI of the asked size", async () => {
    const keyId = await externalKey("ECC_NIST_P256", "SIGN_VERIFY");
    const parameters = await client.send(
      new GetParametersForImportCommand({
        KeyId: keyId,
        WrappingAlgorithm: "RSAES_OAEP_SHA_256",
        WrappingKeySpec: "RSA_3072",
      }),
    );
    const wrappingKey = createPublicKey({
      key: Buffer.from(parameters.PublicKey!),
      format: "der",
      type: "spki",
    });
    expect(wrappingKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(parameters.ImportToken!.length).toBeLessThanOrEqual(6144);
    const hoursValid = (parameters.ParametersValidTo!.getTime() - Date.now()) / 3_600_000;
    expect(hoursValid).toBeGreaterThan(23.9);
    expect(createHash("sha256").update(parameters.ImportToken!).digest().length).toBe(32);
  });
});
