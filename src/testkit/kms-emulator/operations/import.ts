import { createPrivateKey } from "node:crypto";
import type { OperationDefinition, RequestContext } from "../context.js";
import {
  incorrectKeyMaterial,
  invalidState,
  KmsError,
  notFound,
  unsupported,
  validation,
} from "../errors.js";
import { newTokenId } from "../import-token.js";
import type { KeyRecord } from "../key-record.js";
import { validateKeyMaterial } from "../material.js";
import {
  epochSeconds,
  type Input,
  optionalEnum,
  optionalString,
  optionalTimestamp,
  requiredBlob,
  requiredEnum,
  requiredString,
} from "../params.js";
import {
  type RsaWrappingKeySpec,
  WRAPPING_ALGORITHM_VALUES,
  WRAPPING_KEY_SPEC_VALUES,
  type WrappingAlgorithmValue,
  wrappingRefusal,
} from "../spec-table.js";
import { unwrapImportedMaterial } from "../unwrap.js";
import { keyMaterialId, requireNotPendingDeletion } from "./key-metadata.js";
import { sha256Hex } from "./keys.js";

const EXPIRATION_MODELS = ["KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"] as const;
const MAX_VALID_TO_MS = 365 * 86_400_000;

/** The EXTERNAL key an import operation works on (key ID or ARN only, as KMS requires). */
function importableKey(ctx: RequestContext, input: Input): KeyRecord {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), false);
  if (key.origin !== "EXTERNAL")
    throw unsupported(`${ctx.store.keyArn(key.region, key.keyId)} origin is ${key.origin}, not EXTERNAL.`);
  requireNotPendingDeletion(ctx, key);
  return key;
}

async function getParametersForImport(ctx: RequestContext, input: Input) {
  const key = importableKey(ctx, input);
  const algorithm = requiredEnum(input, "WrappingAlgorithm", WRAPPING_ALGORITHM_VALUES);
  const wrappingKeySpec = requiredEnum(input, "WrappingKeySpec", WRAPPING_KEY_SPEC_VALUES);
  const refusal = wrappingRefusal(key.keySpec, algorithm, wrappingKeySpec, ctx.region);
  if (refusal) throw validation(refusal);
  // wrappingRefusal refuses SM2 everywhere, so the spec is an RSA one here.
  const wrappingKey = await ctx.wrappingKeys.take(wrappingKeySpec as RsaWrappingKeySpec);
  const claims = {
    tokenId: newTokenId(),
    region: ctx.region,
    keyId: key.keyId,
    wrappingAlgorithm: algorithm,
    wrappingKeySpec,
    wrappingKeySha256: sha256Hex(wrappingKey.publicKeyDer),
    expiresAt: ctx.now() + ctx.tokenTtlMs,
  };
  // Earlier tokens stay valid until they expire: whether AWS revokes them is undocumented.
  ctx.store.tokens.set(claims.tokenId, {
    ...claims,
    wrappingPrivateKey: wrappingKey.privateKey.export({ format: "der", type: "pkcs8" }),
  });
  return {
    KeyId: ctx.store.keyArn(key.region, key.keyId),
    ImportToken: ctx.tokenCodec.encode(claims).toString("base64"),
    PublicKey: wrappingKey.publicKeyDer.toString("base64"),
    ParametersValidTo: epochSeconds(claims.expiresAt),
  };
}

const invalidToken = (message: string) => new KmsError("InvalidImportTokenException", message);

/**
 * The token's record, after checking it was issued here, for this key, with the wrapping key it names, and has
 * neither expired nor been spent.
 *
 * AWS's documents ("Step 2: Download the wrapping public key and import token", ImportKeyMaterial) say a public
 * key and its token are an indivisible set valid for 24 hours, and to download a new set to reimport; they do
 * not say whether one set may import twice. Assumed here, the stricter reading: a token is spent by the import
 * it carried, and a reuse answers InvalidImportTokenException (a caller then fetches new parameters, which AWS
 * always allows).
 */
function redeemToken(ctx: RequestContext, key: KeyRecord, token: Buffer) {
  const claims = ctx.tokenCodec.decode(token);
  if (claims.region !== ctx.region || claims.keyId !== key.keyId)
    throw invalidToken("The import token was issued for another KMS key.");
  if (claims.expiresAt <= ctx.now())
    throw new KmsError(
      "ExpiredImportTokenException",
      "The import token has expired. Call GetParametersForImport again.",
    );
  const record = ctx.store.tokens.get(claims.tokenId);
  if (!record)
    throw invalidToken(
      "The import token was already used to import key material. Call GetParametersForImport for a new one.",
    );
  if (
    record.keyId !== key.keyId ||
    record.wrappingAlgorithm !== claims.wrappingAlgorithm ||
    record.wrappingKeySpec !== claims.wrappingKeySpec ||
    record.wrappingKeySha256 !== claims.wrappingKeySha256
  )
    throw invalidToken("The import token does not match the wrapping key it was issued with.");
  return record;
}

function readExpiration(ctx: RequestContext, input: Input, key: KeyRecord) {
  const model = optionalEnum(input, "ExpirationModel", EXPIRATION_MODELS) ?? "KEY_MATERIAL_EXPIRES";
  const validTo = optionalTimestamp(input, "ValidTo");
  if (model === "KEY_MATERIAL_DOES_NOT_EXPIRE" && validTo !== undefined)
    throw validation("ValidTo is not allowed when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.");
  if (model === "KEY_MATERIAL_EXPIRES") {
    if (validTo === undefined)
      throw validation("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.");
    if (validTo <= ctx.now()) throw validation("ValidTo must be in the future.");
    if (validTo > ctx.now() + MAX_VALID_TO_MS) throw validation("ValidTo must be at most 365 days from now.");
  }
  const symmetricOnly = ["ImportType", "KeyMaterialId", "KeyMaterialDescription"].filter(
    (name) => input[name] !== undefined && input[name] !== null,
  );
  if (symmetricOnly.length > 0 && (key.keySpec !== "SYMMETRIC_DEFAULT" || key.multiRegion))
    throw validation(
      `${symmetricOnly.join(", ")} is only allowed for single-Region symmetric encryption keys.`,
    );
  optionalString(input, "KeyMaterialDescription", { max: 256 });
  return { model, validTo };
}

/** SHA-256 KMS binds this key to: its own, or that of a related multi-Region key. */
function boundMaterialSha256(ctx: RequestContext, key: KeyRecord): string | undefined {
  if (key.materialSha256 || !key.multiRegion) return key.materialSha256;
  for (const state of ctx.store.regions.values()) {
    const related = state.keys.get(key.keyId);
    if (related?.materialSha256) return related.materialSha256;
  }
  return undefined;
}

function importKeyMaterial(ctx: RequestContext, input: Input) {
  const key = importableKey(ctx, input);
  // API Reference, ImportKeyMaterial and "Key states of AWS KMS keys": import into a PendingImport key, or
  // reimport into an Enabled one; a Disabled key must be enabled first.
  if (key.keyState !== "PendingImport" && key.keyState !== "Enabled")
    throw invalidState(
      `${ctx.store.keyArn(key.region, key.keyId)} is ${key.keyState}; ImportKeyMaterial needs a key in PendingImport or Enabled state.`,
    );
  const token = requiredBlob(input, "ImportToken", { max: 6144 });
  const ciphertext = requiredBlob(input, "EncryptedKeyMaterial", { max: 6144 });
  const { model, validTo } = readExpiration(ctx, input, key);
  const record = redeemToken(ctx, key, token);
  const wrappingPrivateKey = createPrivateKey({
    key: record.wrappingPrivateKey,
    format: "der",
    type: "pkcs8",
  });
  const plaintext = unwrapImportedMaterial(
    record.wrappingAlgorithm as WrappingAlgorithmValue,
    wrappingPrivateKey,
    ciphertext,
  );
  const material = validateKeyMaterial(key.keySpec, plaintext, {
    acceptKwpZeroPadding: ctx.acceptKwpZeroPadding,
    onZeroPaddingStripped: (count) =>
      ctx.logger.warn(
        { region: ctx.region, keyId: key.keyId, strippedBytes: count },
        "kms-emulator: accepted zero-padded key material (acceptKwpZeroPadding); AWS KMS would reject it",
      ),
  });
  const digest = sha256Hex(material);
  const bound = boundMaterialSha256(ctx, key);
  if (bound !== undefined && bound !== digest)
    throw incorrectKeyMaterial(
      "The key material is different from the key material imported into this KMS key before.",
    );
  const materialId = keyMaterialId(key.keyId, material);
  const requestedId = optionalString(input, "KeyMaterialId", { min: 1, max: 64 });
  if (requestedId !== undefined && requestedId !== materialId)
    throw incorrectKeyMaterial("KeyMaterialId does not identify the key material being imported.");
  ctx.store.tokens.delete(record.tokenId);
  key.material = material;
  key.materialSha256 = digest;
  key.expirationModel = model;
  key.validTo = validTo;
  if (key.keyState === "PendingImport") {
    key.keyState = "Enabled";
    // AWS KMS Developer Guide, "AWS KMS eventual consistency": others may see PendingImport for a while.
    key.pendingChange = ctx.store.pendingChange("PendingImport");
  }
  ctx.logger.info(
    { region: ctx.region, keyId: key.keyId, expirationModel: model },
    "kms-emulator: key material imported",
  );
  return { KeyId: ctx.store.keyArn(key.region, key.keyId), KeyMaterialId: materialId };
}

function deleteImportedKeyMaterial(ctx: RequestContext, input: Input) {
  const key = importableKey(ctx, input);
  if (!key.material)
    throw invalidState(`${ctx.store.keyArn(key.region, key.keyId)} has no key material to delete.`);
  const materialId = keyMaterialId(key.keyId, key.material);
  const requestedId = optionalString(input, "KeyMaterialId", { min: 1, max: 64 });
  if (requestedId !== undefined && requestedId !== materialId)
    throw notFound(
      `Key material ${requestedId} is not associated with ${ctx.store.keyArn(key.region, key.keyId)}.`,
    );
  key.material = undefined;
  key.validTo = undefined;
  key.expirationModel = undefined;
  key.keyState = "PendingImport";
  key.pendingChange = undefined;
  return { KeyId: ctx.store.keyArn(key.region, key.keyId), KeyMaterialId: materialId };
}

export const importOperations: Record<string, OperationDefinition> = {
  GetParametersForImport: { mutates: true, run: getParametersForImport },
  ImportKeyMaterial: { mutates: true, run: importKeyMaterial },
  DeleteImportedKeyMaterial: { mutates: true, run: deleteImportedKeyMaterial },
};
