import { fatal, tokenExpired } from "../../shared/errors.js";
import { describeSource, type MigrationRecord } from "../../shared/migration.js";
import type { Phase } from "./context.js";
import { usableTokenMs } from "./token-margin.js";

/** ImportKeyMaterial itself takes milliseconds: a quarter of the wrap margin is enough here. */
const IMPORT_MARGIN_SHARE = 0.25;

/** The secrets the ledger drops once the material is in KMS. */
export const DROP_IMPORT_SECRETS: Partial<MigrationRecord> = {
  importParams: undefined,
  wrappedMaterialB64: undefined,
  wrappedForParams: undefined,
};

/**
 * import (any host): ImportKeyMaterial with the token the material was wrapped for, ExpirationModel and
 * ValidTo from the manifest (KEY_MATERIAL_DOES_NOT_EXPIRE when none); then drop the ciphertext and the
 * token from the ledger. A repeat after a lost success finds the key Enabled and moves on.
 */
export const importMaterial: Phase = async (ctx, record) => {
  const who = describeSource(record.source);
  const importParams = record.importParams;
  if (!record.kmsKeyId || !importParams || !record.wrappedMaterialB64)
    throw fatal("PHASE_ORDER", `${who}: import ran before wrap`);
  const kms = ctx.kms(record.region, record.account);

  if (record.importStartedAt) {
    const key = await kms.describeKey(record.kmsKeyId);
    if (key?.keyState === "Enabled")
      return { patch: { ...DROP_IMPORT_SECRETS, importedAt: ctx.now().toISOString() }, next: "verify" };
  }
  if (record.wrappedForParams !== importParams.fetchedAt)
    throw tokenExpired(
      "WRAPPED_FOR_OTHER_TOKEN",
      `${who}: the wrapped material belongs to other import parameters; wrapping again`,
    );
  if (usableTokenMs(importParams, ctx.now(), ctx.settings.tokenSafetyMarginMs * IMPORT_MARGIN_SHARE) <= 0)
    throw tokenExpired(
      "IMPORT_TOKEN_NEAR_EXPIRY",
      `${who}: the import token is valid only until ${importParams.validTo}; fetching new parameters`,
    );

  const startedAt = ctx.now().toISOString();
  await ctx.checkpoint({ importStartedAt: startedAt, kmsChangedAt: startedAt });
  await kms.importKeyMaterial({
    keyId: record.kmsKeyId,
    importToken: Buffer.from(importParams.importTokenB64, "base64"),
    encryptedKeyMaterial: Buffer.from(record.wrappedMaterialB64, "base64"),
    validTo: record.request.expiresAt ? new Date(record.request.expiresAt) : undefined,
  });
  return { patch: { ...DROP_IMPORT_SECRETS, importedAt: ctx.now().toISOString() }, next: "verify" };
};
