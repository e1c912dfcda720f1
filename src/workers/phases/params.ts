import { fatal, notVisible } from "../../shared/errors.js";
import { describeSource, type MigrationRecord, type StoredImportParameters } from "../../shared/migration.js";
import type { Phase, PhaseContext, PhaseSettings } from "./context.js";
import { usableTokenMs } from "./token-margin.js";

/** The phase that gets a key its import parameters: wrap itself with `HSM2KMS_PARAMS_ON_HSM_HOST`. */
export function paramsPhase(settings: Pick<PhaseSettings, "paramsOnHsmHost">): "params" | "wrap" {
  return settings.paramsOnHsmHost ? "wrap" : "params";
}

/** Fresh import parameters, or the news that the key already holds its material. */
export type FetchedImportParameters =
  | { alreadyImported: true }
  | { alreadyImported: false; params: StoredImportParameters; wrappingPublicKeyDer: Buffer };

/**
 * GetParametersForImport for the key's KMS key, for the algorithm preflight chose, after DescribeKey: a key
 * already Enabled holds its material (an import whose success was lost). A key not found, or a replica still
 * Creating, waits for KMS to show it (the scheduler gives up after the consistency window), without spending
 * a GetParametersForImport request, the scarcest quota.
 */
export async function fetchImportParameters(
  ctx: PhaseContext,
  record: MigrationRecord,
): Promise<FetchedImportParameters> {
  const who = describeSource(record.source);
  if (!record.kmsKeyId || !record.wrapPlan) throw fatal("PHASE_ORDER", `${who}: params ran before create`);
  const kms = ctx.kms(record.region, record.account);
  const key = await kms.describeKey(record.kmsKeyId);
  if (!key)
    throw notVisible(
      "KMS_KEY_MISSING",
      `${who}: KMS key ${record.kmsKeyId} is not found in ${record.region} (DescribeKey: NotFoundException)`,
      { details: { operation: "DescribeKey", awsError: "NotFoundException" } },
    );
  // A renewal imports into a key that is Enabled on purpose: it is done only once KMS shows the new ValidTo.
  const renewed =
    !record.renewingTo ||
    Math.floor((key.validTo?.getTime() ?? 0) / 1000) === Math.floor(Date.parse(record.renewingTo) / 1000);
  if (key.keyState === "Enabled" && renewed) return { alreadyImported: true };
  if (key.keyState === "Creating")
    throw notVisible(
      "KMS_KEY_CREATING",
      `${who}: KMS key ${record.kmsKeyId} in ${record.region} is still Creating (ReplicateKey has not completed)`,
      { details: { operation: "DescribeKey", keyState: "Creating" } },
    );

  const fresh = await kms.getParametersForImport(
    record.kmsKeyId,
    record.wrapPlan.wrappingAlgorithm,
    ctx.settings.wrappingKeySpec,
  );
  return {
    alreadyImported: false,
    wrappingPublicKeyDer: fresh.wrappingPublicKeyDer,
    params: {
      wrappingAlgorithm: fresh.wrappingAlgorithm,
      wrappingKeySpec: fresh.wrappingKeySpec,
      wrappingPublicKeyB64: fresh.wrappingPublicKeyDer.toString("base64"),
      importTokenB64: fresh.importToken.toString("base64"),
      validTo: fresh.validTo.toISOString(),
      fetchedAt: ctx.now().toISOString(),
    },
  };
}

/**
 * params (any host): GetParametersForImport just in time, for the algorithm preflight chose. Stores the
 * wrapping public key, the token and its validity. A still-usable set from an interrupted attempt is kept:
 * GetParametersForImport is the scarcest KMS quota (1/s per Region by default). With
 * `HSM2KMS_PARAMS_ON_HSM_HOST` the wrap phase fetches its own parameters, and this phase only hands over.
 */
export const params: Phase = async (ctx, record) => {
  if (!record.kmsKeyId || !record.wrapPlan)
    throw fatal("PHASE_ORDER", `${describeSource(record.source)}: params ran before create`);
  if (ctx.settings.paramsOnHsmHost) return { patch: {}, next: "wrap" };
  const current = record.importParams;
  if (
    current &&
    usableTokenMs(current, ctx.now(), ctx.settings.tokenSafetyMarginMs) > 0 &&
    !record.wrappedMaterialB64
  )
    return { patch: {}, next: "wrap" };

  const fetched = await fetchImportParameters(ctx, record);
  if (fetched.alreadyImported)
    return { patch: { importParams: undefined, wrappedMaterialB64: undefined }, next: "verify" };
  return {
    patch: { importParams: fetched.params, wrappedMaterialB64: undefined, wrappedForParams: undefined },
    next: "wrap",
  };
};
