import {
  blobKeyId,
  computeMac,
  decryptRsa,
  decryptSymmetric,
  encryptRsa,
  encryptSymmetric,
  macMatches,
  maxOaepPlaintext,
} from "../ciphertext.js";
import type { OperationDefinition, RequestContext } from "../context.js";
import { invalidKeyUsage, KmsError, validation } from "../errors.js";
import type { KeyRecord } from "../key-record.js";
import {
  type Input,
  optionalEnum,
  optionalString,
  optionalStringMap,
  requiredBlob,
  requiredEnum,
  requiredString,
} from "../params.js";
import { currentKeyMaterialId, encryptionAlgorithms, macAlgorithms, requireUsable } from "./key-metadata.js";

const ENCRYPTION_ALGORITHMS = [
  "SYMMETRIC_DEFAULT",
  "RSAES_OAEP_SHA_1",
  "RSAES_OAEP_SHA_256",
  "SM2PKE",
] as const;
const MAC_ALGORITHMS = ["HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"] as const;

function requireEncryptionAlgorithm(ctx: RequestContext, key: KeyRecord, algorithm: string): void {
  requireUsable(ctx, key, "ENCRYPT_DECRYPT");
  if (!encryptionAlgorithms(key)?.includes(algorithm))
    throw invalidKeyUsage(`Encryption algorithm ${algorithm} is not valid for a ${key.keySpec} key.`);
}

function encrypt(ctx: RequestContext, input: Input) {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), true);
  const plaintext = requiredBlob(input, "Plaintext", { max: 4096 });
  const context = optionalStringMap(input, "EncryptionContext");
  const algorithm = optionalEnum(input, "EncryptionAlgorithm", ENCRYPTION_ALGORITHMS) ?? "SYMMETRIC_DEFAULT";
  requireEncryptionAlgorithm(ctx, key, algorithm);
  let ciphertext: Buffer;
  if (algorithm === "SYMMETRIC_DEFAULT") ciphertext = encryptSymmetric(key, plaintext, context);
  else {
    if (context) throw validation("EncryptionContext is not supported with asymmetric KMS keys.");
    if (plaintext.length > maxOaepPlaintext(key, algorithm))
      throw validation(`Plaintext is too long for ${algorithm} under a ${key.keySpec} key.`);
    ciphertext = encryptRsa(key, algorithm, plaintext);
  }
  return {
    KeyId: ctx.store.keyArn(key.region, key.keyId),
    CiphertextBlob: ciphertext.toString("base64"),
    EncryptionAlgorithm: algorithm,
  };
}

function decrypt(ctx: RequestContext, input: Input) {
  const blob = requiredBlob(input, "CiphertextBlob", { max: 6144 });
  const keyIdParam = optionalString(input, "KeyId", { min: 1, max: 2048 });
  const context = optionalStringMap(input, "EncryptionContext");
  const algorithm = optionalEnum(input, "EncryptionAlgorithm", ENCRYPTION_ALGORITHMS) ?? "SYMMETRIC_DEFAULT";
  const named = keyIdParam === undefined ? undefined : ctx.store.resolveKey(ctx.region, keyIdParam, true);
  let key: KeyRecord;
  let plaintext: Buffer;
  if (algorithm === "SYMMETRIC_DEFAULT") {
    // The blob names its key, so KeyId is optional; when given it must be that key.
    key = ctx.store.resolveKey(ctx.region, blobKeyId(blob), false);
    if (named && named.keyId !== key.keyId)
      throw new KmsError(
        "IncorrectKeyException",
        "The key ID in the request does not identify the key that encrypted the ciphertext.",
      );
    requireEncryptionAlgorithm(ctx, key, algorithm);
    plaintext = decryptSymmetric(key, blob, context);
  } else {
    if (!named) throw validation("KeyId is required to decrypt with an asymmetric KMS key.");
    key = named;
    requireEncryptionAlgorithm(ctx, key, algorithm);
    plaintext = decryptRsa(key, algorithm, blob);
  }
  return {
    KeyId: ctx.store.keyArn(key.region, key.keyId),
    Plaintext: plaintext.toString("base64"),
    EncryptionAlgorithm: algorithm,
    // API Reference, Decrypt: present only when a symmetric encryption key decrypted.
    KeyMaterialId: currentKeyMaterialId(key),
  };
}

function macRequest(ctx: RequestContext, input: Input) {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), true);
  const message = requiredBlob(input, "Message", { max: 4096 });
  const algorithm = requiredEnum(input, "MacAlgorithm", MAC_ALGORITHMS);
  requireUsable(ctx, key, "GENERATE_VERIFY_MAC");
  if (!macAlgorithms(key)?.includes(algorithm))
    throw invalidKeyUsage(`MAC algorithm ${algorithm} is not valid for a ${key.keySpec} key.`);
  return { key, message, algorithm };
}

export const encryptionOperations: Record<string, OperationDefinition> = {
  Encrypt: { mutates: false, run: encrypt },
  Decrypt: { mutates: false, run: decrypt },
  GenerateMac: {
    mutates: false,
    run(ctx, input) {
      const { key, message, algorithm } = macRequest(ctx, input);
      return {
        KeyId: ctx.store.keyArn(key.region, key.keyId),
        Mac: computeMac(key, algorithm, message).toString("base64"),
        MacAlgorithm: algorithm,
      };
    },
  },
  VerifyMac: {
    mutates: false,
    run(ctx, input) {
      const { key, message, algorithm } = macRequest(ctx, input);
      const mac = requiredBlob(input, "Mac", { max: 6144 });
      if (!macMatches(key, algorithm, message, mac))
        throw new KmsError("KMSInvalidMacException", "The MAC is not valid.");
      return { KeyId: ctx.store.keyArn(key.region, key.keyId), MacValid: true, MacAlgorithm: algorithm };
    },
  },
};
