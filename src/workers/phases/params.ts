import { fatal } from "../../shared/errors.js";
import { describeSource } from "../../shared/migration.js";
import type { Phase } from "./context.js";
import { usableTokenMs } from "./token-margin.js";

/**
 * params (any host): GetParametersForImport just in time, for the algorithm preflight chose. Stores the
 * wrapping public key, the token and its validity. A still-usable set from an interrupted attempt is kept:
 * GetParametersForImport is the scarcest KMS quota (1/s per Region by default).
 */
export const params: Phase = async (ctx, record) => {
  const who = describeSource(record.source);
  if (!record.kmsKeyId || !record.wrapPlan) throw fatal("PHASE_ORDER", `${who}: params ran before create`);
  const current = record.importParams;
  if (
    current &&
    usableTokenMs(current, ctx.now(), ctx.settings.tokenSafetyMarginMs) > 0 &&
    !record.wrappedMaterialB64
  )
    return { patch: {}, next: "wrap" };

  const kms = ctx.kms(record.region);
  const key = await kms.describeKey(record.kmsKeyId);
  if (!key) throw fatal("KMS_KEY_MISSING", `${who}: KMS key ${record.kmsKeyId} no longer exists`);
  // Material already imported (an import whose success was lost): nothing to fetch, prove it.
  if (key.keyState === "Enabled")
    return { patch: { importParams: undefined, wrappedMaterialB64: undefined }, next: "verify" };

  const fresh = await kms.getParametersForImport(
    record.kmsKeyId,
    record.wrapPlan.wrappingAlgorithm,
    ctx.settings.wrappingKeySpec,
  );
  return {
    patch: {
      importParams: {
        wrappingAlgorithm: fresh.wrappingAlgorithm,
        wrappingKeySpec: fresh.wrappingKeySpec,
        wrappingPublicKeyB64: fresh.wrappingPublicKeyDer.toString("base64"),
        importTokenB64: fresh.importToken.toString("base64"),
        validTo: fresh.validTo.toISOString(),
        fetchedAt: ctx.now().toISOString(),
      },
      wrappedMaterialB64: undefined,
      wrappedForParams: undefined,
    },
    next: "wrap",
  };
};
