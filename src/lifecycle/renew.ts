import { toMigrationError } from "../shared/errors.js";
import { type Ledger, LedgerConflictError } from "../shared/ledger/index.js";
import type { MigrationRecord } from "../shared/migration.js";
import { runMigrationInProcess } from "../workers/in-process-runner.js";
import type { RetryLimits } from "../workers/outcomes.js";
import type { PhaseContext } from "../workers/phases/index.js";

/** The longest ValidTo KMS accepts: 365 days from the request (AWS KMS API Reference, ImportKeyMaterial, ValidTo). */
export const MAX_VALID_FOR_MS = 365 * 86_400_000;

/** What `renew` is asked to do. */
export interface RenewRequest {
  /** Renew material that expires within this long from now (or has expired). */
  beforeMs: number;
  /** The new ValidTo is now + this; undefined: the period the key was first imported for (capped at 365 days). */
  renewForMs?: number | undefined;
  /** List what is due without changing anything. */
  dryRun: boolean;
}

/** One expiring key renew looked at. */
export interface RenewLine {
  source: string;
  region: string;
  keyId: string;
  /** ValidTo before this run (ISO-8601). */
  validTo: string;
  /** When the next renewal falls due: ValidTo less `beforeMs` (ISO-8601). */
  nextRenewal: string;
  newValidTo?: string | undefined;
  result: "renewed" | "would-renew" | "not-due" | "failed";
  /** A failure that needs someone now: the HSM key is gone, or the material has already expired. */
  urgent: boolean;
  detail: string;
}

const source = (record: MigrationRecord) =>
  `${record.sourceKey?.label ?? record.source.label ?? "(no label)"} (CKA_ID ${record.sourceKey?.idHex ?? record.source.idHex ?? "unknown"})`;

/** The period the key was first imported for: its ValidTo less the time of its first import. */
function firstPeriodMs(record: MigrationRecord, validTo: number): number {
  const start = Date.parse(record.importedAt ?? record.completedAt ?? record.createdAt);
  return Math.max(60_000, validTo - start);
}

/** Saves a patch to a record, re-reading it on a conflict (a worker may touch it meanwhile). */
async function patchRecord(
  ledger: Ledger,
  id: string,
  patch: Partial<MigrationRecord>,
  now: Date,
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await ledger.get(id);
    if (!stored) return;
    try {
      await ledger.save(
        { ...stored.record, ...patch, updatedAt: now.toISOString() },
        stored.rev,
        now.getTime(),
      );
      return;
    } catch (error) {
      if (!(error instanceof LedgerConflictError)) throw error;
    }
  }
  throw new Error(`the ledger record ${id} kept changing under renew; run it again`);
}

/**
 * Renews one key: the migration's own phases from params on (GetParametersForImport, wrap in the HSM with the
 * SAME HSM key, whose fingerprint wrap checks against preflight's, ImportKeyMaterial with the new ValidTo,
 * verify against the HSM's public key or MAC), on a copy of the record; the ledger keeps the migrated record,
 * with the new ValidTo on success or the reason on failure. AWS KMS API Reference, ImportKeyMaterial: only the
 * same key material may be imported again, and a new import is how ValidTo changes.
 */
async function renewOne(
  ledger: Ledger,
  context: Omit<PhaseContext, "checkpoint">,
  limits: RetryLimits,
  record: MigrationRecord,
  newValidTo: Date,
): Promise<{ ok: true } | { ok: false; code: string; message: string }> {
  const renewal: MigrationRecord = {
    ...record,
    status: "in_progress",
    phase: "params",
    request: { ...record.request, expiresAt: newValidTo.toISOString() },
    renewingTo: newValidTo.toISOString(),
    phaseAttempts: 0,
    tokenRefreshes: 0,
    importParams: undefined,
    wrappedMaterialB64: undefined,
    wrappedForParams: undefined,
    // Without these the import phase would take the key's Enabled state for an import it already made.
    importStartedAt: undefined,
    importedAt: undefined,
    checks: undefined,
    error: undefined,
  };
  let result: MigrationRecord;
  try {
    result = await runMigrationInProcess(context, renewal, limits);
  } catch (thrown) {
    const error = toMigrationError(thrown);
    result = {
      ...renewal,
      status: "failed",
      error: {
        code: error.code,
        kind: error.kind,
        phase: "params",
        message: error.message,
        at: new Date().toISOString(),
      },
    };
  }
  const now = context.now();
  if (result.status === "migrated") {
    // The phases skip an import they take for done; only KMS's ValidTo proves this renewal took effect.
    const after = await context.kms(record.region, record.account).describeKey(record.kmsKeyId ?? "");
    if (Math.floor((after?.validTo?.getTime() ?? 0) / 1000) !== Math.floor(newValidTo.getTime() / 1000))
      result = {
        ...result,
        status: "failed",
        error: {
          code: "RENEWAL_NOT_APPLIED",
          kind: "fatal",
          phase: "import",
          message: `KMS shows ValidTo ${after?.validTo?.toISOString() ?? "none"} after the renewal, not ${newValidTo.toISOString()}`,
          at: now.toISOString(),
        },
      };
  }
  if (result.status === "migrated") {
    await patchRecord(
      ledger,
      record.id,
      {
        request: renewal.request,
        renewedAt: now.toISOString(),
        renewalError: undefined,
        checks: result.checks,
        verified: result.verified,
      },
      now,
    );
    return { ok: true };
  }
  const code = result.error?.code ?? "RENEWAL_FAILED";
  const message = result.error?.message ?? "the renewal did not finish";
  await patchRecord(ledger, record.id, { renewalError: { code, message, at: now.toISOString() } }, now);
  return { ok: false, code, message };
}

/**
 * Finds the migrated keys whose material expires within `beforeMs` (ValidTo from KMS DescribeKey; the
 * ledger's when KMS gives none because the material already expired) and renews each in turn.
 */
export async function renewExpiringMaterial(
  ledger: Ledger,
  context: Omit<PhaseContext, "checkpoint">,
  limits: RetryLimits,
  request: RenewRequest,
  onLine: (line: RenewLine) => void,
): Promise<RenewLine[]> {
  const lines: RenewLine[] = [];
  for await (const record of ledger.records()) {
    if (record.status !== "migrated" || !record.kmsKeyId || !record.request.expiresAt) continue;
    const now = context.now();
    const info = await context.kms(record.region, record.account).describeKey(record.kmsKeyId);
    const validTo = info?.validTo?.getTime() ?? Date.parse(record.request.expiresAt);
    const expired = info?.keyState === "PendingImport" || validTo <= now.getTime();
    const base = {
      source: source(record),
      region: record.region,
      keyId: record.kmsKeyId,
      validTo: new Date(validTo).toISOString(),
      nextRenewal: new Date(validTo - request.beforeMs).toISOString(),
    };
    const push = (line: RenewLine) => {
      lines.push(line);
      onLine(line);
    };
    if (!info) {
      push({
        ...base,
        result: "failed",
        urgent: true,
        detail: "KMS no longer holds the key; run `hsm2kms audit`",
      });
      continue;
    }
    if (!expired && validTo - now.getTime() > request.beforeMs) {
      push({ ...base, result: "not-due", urgent: false, detail: `expires ${base.validTo}` });
      continue;
    }
    const period = Math.min(request.renewForMs ?? firstPeriodMs(record, validTo), MAX_VALID_FOR_MS);
    const newValidTo = new Date(now.getTime() + period);
    if (request.dryRun) {
      push({
        ...base,
        newValidTo: newValidTo.toISOString(),
        result: "would-renew",
        urgent: expired,
        detail: expired
          ? "the material has EXPIRED: the key is unusable until it is renewed"
          : `expires ${base.validTo}`,
      });
      continue;
    }
    const outcome = await renewOne(ledger, context, limits, record, newValidTo);
    if (outcome.ok) {
      push({
        ...base,
        newValidTo: newValidTo.toISOString(),
        nextRenewal: new Date(newValidTo.getTime() - request.beforeMs).toISOString(),
        result: "renewed",
        urgent: false,
        detail: `same HSM key imported again, valid to ${newValidTo.toISOString()}, verified`,
      });
      continue;
    }
    const hsmKeyGone = outcome.code === "SOURCE_KEY_NOT_FOUND" || outcome.code === "SOURCE_KEY_CHANGED";
    push({
      ...base,
      result: "failed",
      urgent: hsmKeyGone || expired,
      detail: hsmKeyGone
        ? `${outcome.code}: the HSM key this KMS key holds is gone or changed (${outcome.message}); KMS deletes the material at ${base.validTo} and the key becomes unusable: restore the HSM key (from a backup) and run hsm2kms renew before then`
        : `${outcome.code}: ${outcome.message}`,
    });
  }
  return lines;
}
