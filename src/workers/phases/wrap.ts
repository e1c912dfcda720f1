import { fatal, tokenExpired } from "../../shared/errors.js";
import type { HsmPort, SourceKeyRef } from "../../shared/hsm/types.js";
import { describeSource, type HsmChallenge, type MigrationRecord } from "../../shared/migration.js";
import type { Phase, PhaseContext } from "./context.js";
import { usableTokenMs } from "./token-margin.js";

/**
 * An HMAC key can only be proven by comparing KMS's MAC with the HSM's over the same message. The HSM
 * answers now, while the wrap runs on an HSM host; verify, which may run anywhere, compares.
 */
async function hsmChallenge(
  ctx: PhaseContext,
  hsm: HsmPort,
  ref: SourceKeyRef,
  record: MigrationRecord,
): Promise<HsmChallenge | undefined> {
  if (record.sourceKey?.keyUsage !== "GENERATE_VERIFY_MAC") return undefined;
  const message = ctx.randomBytes(32);
  return {
    kind: "hmac",
    messageB64: message.toString("base64"),
    expectedB64: (await hsm.hmac(ref, message, record.sourceKey.keySpec)).toString("base64"),
  };
}

/**
 * wrap (HSM host): refuse a token with less than the safety margin left (back to params); check the HSM
 * key is still the one preflight saw; wrap it inside the HSM under the KMS wrapping key.
 */
export const wrap: Phase = async (ctx, record) => {
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

  const hsm = ctx.hsm();
  const ref: SourceKeyRef = { label: record.sourceKey.label, idHex: record.sourceKey.idHex };
  // The HSM checks, in the wrap's session, that the key is still the one preflight saw (SOURCE_KEY_CHANGED).
  const ciphertext = await hsm.wrapKey(ref, {
    wrappingPublicKeyDer: Buffer.from(importParams.wrappingPublicKeyB64, "base64"),
    plan: { ...record.wrapPlan, wrappingAlgorithm: importParams.wrappingAlgorithm },
    expectedFingerprint: record.sourceKey.fingerprint,
  });
  return {
    patch: {
      wrappedMaterialB64: ciphertext.toString("base64"),
      wrappedForParams: importParams.fetchedAt,
      hsmChallenge: record.hsmChallenge ?? (await hsmChallenge(ctx, hsm, ref, record)),
    },
    next: "import",
  };
};
