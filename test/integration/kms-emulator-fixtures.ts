import { createPrivateKey, createPublicKey, generatePrimeSync, type KeyObject } from "node:crypto";
import { GetParametersForImportCommand, ImportKeyMaterialCommand, KMSClient } from "@aws-sdk/client-kms";
import type { HttpRequest } from "@smithy/types";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { modInverse } from "../../src/shared/crypto/modular.js";
import { DER_TAG, derElement, derUnsignedInteger } from "../../src/shared/der.js";
import type { WrappingAlgorithm, WrappingKeySpec } from "../../src/shared/key-specs.js";
import type { KmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";

/** Shared helpers of the kms-emulator suites (not a test file itself). */

export function kmsClient(emulator: KmsEmulator, region = "us-east-1"): KMSClient {
  return new KMSClient({
    region,
    endpoint: emulator.url,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
}

interface MiddlewareClient {
  middlewareStack: { add: (...args: never[]) => void };
}

/**
 * Edits every request `client` sends, through its own middleware stack: before the SDK signs it (the edit is
 * signed too) or after (the edit breaks the signature, as a proxy tampering with it would).
 */
export function editRequests(
  client: MiddlewareClient,
  when: "beforeSigning" | "afterSigning",
  edit: (request: HttpRequest) => void,
): void {
  const middleware =
    (next: (args: { request: unknown }) => Promise<unknown>) => async (args: { request: unknown }) => {
      edit(args.request as HttpRequest);
      return next(args);
    };
  const add = client.middlewareStack.add.bind(client.middlewareStack) as (
    middleware: unknown,
    options: { step: string; name: string },
  ) => void;
  add(middleware, {
    step: when === "beforeSigning" ? "build" : "deserialize",
    name: `testEdit-${when}`,
  });
}

/** The HTTP status and AWS error name a promise rejects with. */
export async function failure(
  promise: Promise<unknown>,
): Promise<{ name: string; status?: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    const { name, message, $metadata } = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name, status: $metadata?.httpStatusCode, message };
  }
  return { name: "no error", message: "" };
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
  const { privateKey, publicKey } = newKeyPairSync({ type: "ec", namedCurve });
  return describeNodeKey(privateKey, publicKey);
}

export function rsaKey(modulusLength: number): NodeKey {
  const { privateKey, publicKey } = newKeyPairSync({ type: "rsa", modulusLength });
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

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));

/**
 * A 2048-bit three-prime RSA key (RFC 8017 multi-prime RSAPrivateKey, version 1) as PKCS#8: node:crypto
 * cannot generate one, so it is assembled from three primes.
 */
export function threePrimeRsaPkcs8(): Buffer {
  const e = 65537n;
  for (;;) {
    const [p, q, r] = [0, 1, 2].map(() => generatePrimeSync(683, { bigint: true })) as [
      bigint,
      bigint,
      bigint,
    ];
    const n = p * q * r;
    if (n.toString(2).length !== 2048) continue;
    const phi = (p - 1n) * (q - 1n) * (r - 1n);
    if (gcd(e, phi) !== 1n) continue;
    const d = modInverse(e, phi);
    const otherPrime = derElement(
      DER_TAG.SEQUENCE,
      derUnsignedInteger(r),
      derUnsignedInteger(d % (r - 1n)),
      derUnsignedInteger(modInverse(p * q, r)),
    );
    const rsaKey = derElement(
      DER_TAG.SEQUENCE,
      derUnsignedInteger(1n),
      ...[n, e, d, p, q, d % (p - 1n), d % (q - 1n), modInverse(q, p)].map(derUnsignedInteger),
      derElement(DER_TAG.SEQUENCE, otherPrime),
    );
    const algorithm = derElement(DER_TAG.SEQUENCE, Buffer.from("06092a864886f70d0101010500", "hex"));
    return derElement(
      DER_TAG.SEQUENCE,
      derUnsignedInteger(0n),
      algorithm,
      derElement(DER_TAG.OCTET_STRING, rsaKey),
    );
  }
}
