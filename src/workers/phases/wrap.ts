import { fatal, tokenExpired } from "../../shared/errors.js";
import type { SourceKeyRef } from "../../shared/hsm/types.js";
import { describeSource, type MigrationRecord, type StoredImportParameters } from "../../shared/migration.js";
import type { Phase, PhaseContext, PhaseOutcome } from "./context.js";
import { hmacChallenge } from "./hsm-challenge.js";
import { DROP_IMPORT_SECRETS } from "./import.js";
import { fetchImportParameters } from "./params.js";
import { usableTokenMs } from "./token-margin.js";

/**
 * wrap (HSM host): refuse a token with less than the safety margin left (back to params); check the HSM
 * key is still the one preflight saw; wrap it inside the HSM under the KMS wrapping key. With
 * `HSM2KMS_PARAMS_ON_HSM_HOST` it fetches the wrapping key itself instead (wrapUnderOwnParameters).
 */
export const wrap: Phase = async (ctx, record) => {
  if (ctx.settings.paramsOnHsmHost) return wrapUnderOwnParameters(ctx, record);
  const who = describeSource(record.source);
  const importParams = record.importParams;
  if (!importParams || !record.wrapPlan || !record.sourceKey)
    throw fatal("PHASE_ORDER", `${who}: wrap ran before params`);
  if (usableTokenMs(importParams, ctx.now(), ctx.settings.tokenSafetyMarginMs) <= 0)
    throw tokenExpired(
      "IMPORT_TOKEN_NEAR_EXPIRY",
      `${who}: the import token is valid only until ${importParams.validTo}, inside the safety margin; fetching new parameters`,
    );
  if (record.wrappedMaterialB64 && record.wrappedForParams === importParams.fetchedAt)
    return { patch: {}, next: "import" };

  const material = await wrapInHsm(
    ctx,
    record,
    importParams,
    Buffer.from(importParams.wrappingPublicKeyB64, "base64"),
  );
  return { patch: { ...material, wrappedForParams: importParams.fetchedAt }, next: "import" };
};

/**
 * The wrap when the HSM host fetches the import parameters (`HSM2KMS_PARAMS_ON_HSM_HOST`): the wrapping
 * public key comes from KMS in this process, over TLS, and the HSM wraps under nothing else. Whatever the
 * ledger holds is never used as a wrapping key, so whoever can write to Redis cannot have a key wrapped for
 * them. Material already wrapped for a still-usable token is handed to import as is: it was wrapped under
 * KMS's key, or it is not the HSM's key at all (what verify is for).
 */
async function wrapUnderOwnParameters(ctx: PhaseContext, record: MigrationRecord): Promise<PhaseOutcome> {
  const who = describeSource(record.source);
  if (!record.kmsKeyId || !record.wrapPlan || !record.sourceKey)
    throw fatal("PHASE_ORDER", `${who}: wrap ran before create`);
  const held = record.importParams;
  if (
    held &&
    record.wrappedMaterialB64 &&
    record.wrappedForParams === held.fetchedAt &&
    usableTokenMs(held, ctx.now(), ctx.settings.tokenSafetyMarginMs) > 0
  )
    return { patch: {}, next: "import" };
  if (held && !record.wrappedMaterialB64)
    ctx.logger.warn(
      { migrationId: record.id },
      "the ledger held import parameters that this host did not fetch: ignored, fetching its own (set HSM2KMS_PARAMS_ON_HSM_HOST on every worker, or each key costs two GetParametersForImport calls)",
    );

  const fetched = await fetchImportParameters(ctx, record);
  if (fetched.alreadyImported) return { patch: { ...DROP_IMPORT_SECRETS }, next: "verify" };
  const material = await wrapInHsm(ctx, record, fetched.params, fetched.wrappingPublicKeyDer);
  return {
    patch: { ...material, importParams: fetched.params, wrappedForParams: fetched.params.fetchedAt },
    next: "import",
  };
}

/**
 * Wraps the source key under the wrapping public key of a set of import parameters; the HSM checks, in the
 * wrap's session, that the key is still the one preflight saw (SOURCE_KEY_CHANGED). Preflight answers an HMAC
 * key's challenge; a record preflighted by a version that did not gets its answer here.
 */
async function wrapInHsm(
  ctx: PhaseContext,
  record: MigrationRecord,
  importParams: StoredImportParameters,
  wrappingPublicKeyDer: Buffer,
): Promise<Pick<MigrationRecord, "wrappedMaterialB64" | "hsmChallenge">> {
  const { sourceKey, wrapPlan } = record;
  if (!sourceKey || !wrapPlan)
    throw fatal("PHASE_ORDER", `${describeSource(record.source)}: wrap ran before preflight`);
  const hsm = ctx.hsm();
  const ref: SourceKeyRef = { label: sourceKey.label, idHex: sourceKey.idHex };
  const ciphertext = await hsm.wrapKey(ref, {
    wrappingPublicKeyDer,
    plan: { ...wrapPlan, wrappingAlgorithm: importParams.wrappingAlgorithm },
    expectedFingerprint: sourceKey.fingerprint,
  });
  return {
    wrappedMaterialB64: ciphertext.toString("base64"),
    hsmChallenge: record.hsmChallenge ?? (await hmacChallenge(ctx, hsm, ref, sourceKey)),
  };
}
