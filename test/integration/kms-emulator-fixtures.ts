import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { GetParametersForImportCommand, ImportKeyMaterialCommand, KMSClient } from "@aws-sdk/client-kms";
import type { KmsEmulator } from "../../src/sandbox/kms-emulator/index.js";
import { wrapKeyMaterial } from "../../src/shared/crypto/kms-wrap.js";
import type { WrappingAlgorithm, WrappingKeySpec } from "../../src/shared/key-specs.js";

/** Shared helpers of the kms-emulator suites (not a test file itself). */

export function kmsClient(emulator: KmsEmulator, region = "us-east-1"): KMSClient {
  return new KMSClient({
    region,
    endpoint: emulator.url,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
}

/** The `name` of the error a promise rejects with (SDK errors carry the AWS exception name). */
export async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).name;
  }
  return "no error";
}

export interface NodeKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  pkcs8: Buffer;
  spki: Buffer;
}

export function ecKey(namedCurve: string): NodeKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
  return describeNodeKey(privateKey, publicKey);
}

export function rsaKey(modulusLength: number): NodeKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength });
  return describeNodeKey(privateKey, publicKey);
}

export function nodeKeyFromPkcs8(pkcs8: Buffer): NodeKey {
  const privateKey = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  return describeNodeKey(privateKey, createPublicKey(privateKey));
}

function describeNodeKey(privateKey: KeyObject, publicKey: KeyObject): NodeKey {
  return {
    privateKey,
    publicKey,
    pkcs8: privateKey.export({ format: "der", type: "pkcs8" }),
    spki: publicKey.export({ format: "der", type: "spki" }),
  };
}

/** GetParametersForImport, wrap `material` under the returned key, ImportKeyMaterial. */
export async function importMaterial(
  client: KMSClient,
  keyId: string,
  material: Buffer,
  algorithm: WrappingAlgorithm = "RSAES_OAEP_SHA_256",
  wrappingKeySpec: WrappingKeySpec = "RSA_2048",
  expiry: { ExpirationModel?: "KEY_MATERIAL_EXPIRES" | "KEY_MATERIAL_DOES_NOT_EXPIRE"; ValidTo?: Date } = {
    ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
  },
) {
  const parameters = await client.send(
    new GetParametersForImportCommand({
      KeyId: keyId,
      WrappingAlgorithm: algorithm,
      WrappingKeySpec: wrappingKeySpec,
    }),
  );
  const encrypted = wrapKeyMaterial(algorithm, Buffer.from(parameters.PublicKey!), material);
  return client.send(
    new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken: parameters.ImportToken,
      EncryptedKeyMaterial: encrypted,
      ...expiry,
    }),
  );
}
