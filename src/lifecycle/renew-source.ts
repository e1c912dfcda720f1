import { isMigrationError } from "../shared/errors.js";
import type { MigrationRecord } from "../shared/migration.js";
import type { PhaseContext } from "../workers/phases/index.js";

/** Why a renewal cannot go on without calling KMS: the HSM key it would import again is gone. */
export interface SourceKeyGone {
  ok: false;
  code: "SOURCE_KEY_NOT_FOUND";
  message: string;
}

/**
 * Looks the record's HSM key up before a renewal spends a GetParametersForImport on it (the token index makes
 * this cheap). Only a key the HSM says is not there stops the renewal: a host without an HSM
 * (HSM_NOT_CONFIGURED) or any other HSM error leaves the decision to the wrap phase, as before; a key that is
 * there but changed is still found by wrap's fingerprint check (SOURCE_KEY_CHANGED).
 */
export async function sourceKeyGone(
  context: Pick<PhaseContext, "hsm">,
  record: MigrationRecord,
): Promise<SourceKeyGone | undefined> {
  const key = record.sourceKey;
  if (!key) return undefined;
  try {
    await context.hsm().describeKey({ label: key.label, idHex: key.idHex });
    return undefined;
  } catch (error) {
    if (isMigrationError(error) && error.code === "SOURCE_KEY_NOT_FOUND")
      return { ok: false, code: "SOURCE_KEY_NOT_FOUND", message: error.message };
    return undefined;
  }
}
