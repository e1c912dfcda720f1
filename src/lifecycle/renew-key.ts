import { setTimeout as sleep } from "node:timers/promises";
import { formatDuration } from "../shared/durations.js";
import { toMigrationError } from "../shared/errors.js";
import { type Ledger, LedgerConflictError } from "../shared/ledger/index.js";
import type { MigrationRecord } from "../shared/migration.js";
import { describeTarget, targetOf } from "../shared/targets.js";
import { runMigrationInProcess } from "../workers/in-process-runner.js";
import type { RetryLimits } from "../workers/outcomes.js";
import type { PhaseContext } from "../workers/phases/index.js";
import { sourceKeyGone } from "./renew-source.js";

/** The longest ValidTo KMS accepts: 365 days from the request (AWS KMS API Reference, ImportKeyMaterial, ValidTo). */
export const MAX_VALID_FOR_MS = 365 * 86_400_000;

/**
 * How long a renewal's claim keeps other hosts off a key. A holder that died is taken over after this (its own
 * job, run again after a crash, takes it over at once); a renewal still running past it may meet a second one,
 * which imports the same material with the same ValidTo: wasted quota, no harm.
 */
export const RENEWAL_CLAIM_MS = 10 * 60_000;

/** What a renewal is asked to do. */
export interface RenewRequest {
  /** Renew material that expires within this long from now (or has expired). */
  beforeMs: number;
  /** The new ValidTo is now + this; undefined: the period the key was last imported for (capped at 365 days). */
  renewForMs?: number | undefined;
  /** List what is due without changing anything. */
  dryRun: boolean;
}

/** One expiring key a renewal looked at. */
export interface RenewLine {
  source: string;
  region: string;
  /** The 12-digit account of a key in another account; undefined: the caller's own. */
  account?: string | undefined;
  keyId: string;
  /** ValidTo before this run (ISO-8601). */
  validTo: string;
  /** When the next renewal falls due: ValidTo less `beforeMs` (ISO-8601). */
  nextRenewal: string;
  newValidTo?: string | undefined;
  /** `busy`: another host's renewal holds the key (its claim in the ledger). */
  result: "renewed" | "would-renew" | "not-due" | "busy" | "failed";
  /** A failure that needs someone now: the HSM key is gone, or the material has already expired. */
  urgent: boolean;
  detail: string;
}

/** What a renewal runs with: the ledger, the phases' context (HSM, KMS, clock) and their retry caps. */
export interface RenewalDeps {
  ledger: Ledger;
  context: Omit<PhaseContext, "checkpoint">;
  limits: RetryLimits;
}

/**
 * What a renewal adds to its line when the new ValidTo is itself within the renewal window: every run would
 * renew the key again (a key imported for a shorter period than HSM2KMS_RENEW_BEFORE, renewed for that period).
 */
function dueAgainNote(newValidTo: Date, now: Date, beforeMs: number): string {
  if (newValidTo.getTime() - now.getTime() > beforeMs) return "";
  return `; the new ValidTo is within the renewal window (${formatDuration(beforeMs)}), so every run renews it again: renew for longer than that (--renew-for, HSM2KMS_RENEW_FOR), or shorten the window (--before, HSM2KMS_RENEW_BEFORE)`;
}

/** A migrated key whose material expires: what renewals look after. */
export function hasExpiringMaterial(record: MigrationRecord): boolean {
  return (
    record.status === "migrated" && !record.abandonedAt && !!record.kmsKeyId && !!record.request.expiresAt
  );
}

const source = (record: MigrationRecord) =>
  `${record.sourceKey?.label ?? record.source.label ?? "(no label)"} (CKA_ID ${record.sourceKey?.idHex ?? record.source.idHex ?? "unknown"})`;

/** The period the key was last imported for: its ValidTo less the time of its last import or renewal. */
function lastPeriodMs(record: MigrationRecord, validTo: number): number {
  const start = Date.parse(record.renewedAt ?? record.importedAt ?? record.completedAt ?? record.createdAt);
  return Math.max(60_000, validTo - start);
}

/** Saves a patch to a record while `holder` still holds its claim (re-read on a conflict); false otherwise. */
async function patchClaimed(
  ledger: Ledger,
  id: string,
  holder: string,
  patch: Partial<MigrationRecord>,
  now: Date,
): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await ledger.get(id);
    // Taken over after the claim ran out: the new holder renews to the same ValidTo and writes the outcome.
    if (!stored || stored.record.renewalClaim?.holder !== holder) return false;
    try {
      const record = { ...stored.record, ...patch, renewalClaim: undefined, updatedAt: now.toISOString() };
      await ledger.save(record, stored.rev, now.getTime());
      return true;
    } catch (error) {
      if (!(error instanceof LedgerConflictError)) throw error;
    }
  }
  throw new Error(`the ledger record ${id} kept changing under renew; run it again`);
}

/**
 * Imports the same HSM key again with a new ValidTo: the migration's own phases from params on
 * (GetParametersForImport, wrap in the HSM with the SAME HSM key, whose fingerprint wrap checks against
 * preflight's, ImportKeyMaterial, verify against the HSM's public key or MAC), on a copy of the record. AWS KMS
 * API Reference, ImportKeyMaterial: only the same key material may be imported again, and a new import is how
 * ValidTo changes. KMS showing the new ValidTo already (a holder that died after its import) skips the import.
 */
async function importAgain(
  deps: RenewalDeps,
  record: MigrationRecord,
  newValidTo: Date,
): Promise<{ ok: true } | { ok: false; code: string; message: string }> {
  const { context } = deps;
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
    result = await runMigrationInProcess(context, renewal, deps.limits);
  } catch (thrown) {
    const error = toMigrationError(thrown);
    return { ok: false, code: error.code, message: error.message };
  }
  if (result.status !== "migrated")
    return {
      ok: false,
      code: result.error?.code ?? "RENEWAL_FAILED",
      message: result.error?.message ?? "the renewal did not finish",
    };
  // The phases skip an import they take for done; only KMS's ValidTo proves this renewal took effect.
  const shown = await validToShown(deps, record, newValidTo);
  if (shown !== true)
    return {
      ok: false,
      code: "RENEWAL_NOT_APPLIED",
      message: `KMS shows ValidTo ${shown ?? "none"} after the renewal, not ${newValidTo.toISOString()}`,
    };
  // The ledger keeps the new ValidTo and what verify proved again.
  const now = context.now();
  const outcome = {
    request: result.request,
    renewedAt: now.toISOString(),
    renewalError: undefined,
    checks: result.checks,
    verified: result.verified,
  };
  await patchClaimed(deps.ledger, record.id, record.renewalClaim?.holder ?? "", outcome, now);
  return { ok: true };
}

/**
 * Whether DescribeKey shows the new ValidTo (to the second): true, or the ValidTo KMS still shows once
 * HSM2KMS_KMS_CONSISTENCY_WINDOW has passed. AWS KMS Developer Guide, "AWS KMS eventual consistency": a change
 * such as an import may show in other calls only after a while, so a ValidTo still old right after the import
 * is looked at again (soon at first, then less often) before it counts as not applied.
 */
async function validToShown(
  deps: RenewalDeps,
  record: MigrationRecord,
  newValidTo: Date,
): Promise<true | string | undefined> {
  const kms = deps.context.kms(record.region, record.account);
  const deadline = Date.now() + (deps.limits.consistencyWindowMs ?? 300_000);
  for (let waitMs = 250; ; waitMs = Math.min(waitMs * 2, 10_000)) {
    const shown = (await kms.describeKey(record.kmsKeyId ?? ""))?.validTo;
    if (Math.floor((shown?.getTime() ?? 0) / 1000) === Math.floor(newValidTo.getTime() / 1000)) return true;
    if (Date.now() + waitMs > deadline) return shown?.toISOString();
    await sleep(waitMs);
  }
}

/**
 * Renews one key if its material is due (ValidTo from KMS DescribeKey; the ledger's when KMS gives none because
 * the material already expired), or finishes a renewal whose holder died. The key is claimed in the ledger first
 * (compare-and-set), so two hosts never renew it at once. Returns undefined for a key without expiring material.
 */
export async function renewKey(
  deps: RenewalDeps,
  id: string,
  request: RenewRequest,
  holder: string,
): Promise<RenewLine | undefined> {
  const { ledger, context } = deps;
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await ledger.get(id);
    if (!stored || !hasExpiringMaterial(stored.record)) return undefined;
    const record = stored.record;
    const now = context.now();
    const info = await context.kms(record.region, record.account).describeKey(record.kmsKeyId ?? "");
    const validTo = info?.validTo?.getTime() ?? Date.parse(record.request.expiresAt ?? "");
    const expired = info?.keyState === "PendingImport" || validTo <= now.getTime();
    const base = {
      source: source(record),
      region: record.region,
      account: record.account,
      keyId: record.kmsKeyId ?? "",
      validTo: new Date(validTo).toISOString(),
      nextRenewal: new Date(validTo - request.beforeMs).toISOString(),
    };
    if (!info) {
      // Kept as the renewal error, so status, the report and the renewal-failures gauge see it too.
      const message = `KMS DescribeKey finds no key ${record.kmsKeyId} in ${describeTarget(targetOf(record))}: KMS no longer holds it; run \`hsm2kms audit\``;
      const renewalError = { code: "RENEWAL_KMS_KEY_GONE", message, at: now.toISOString() };
      if (!request.dryRun)
        try {
          await ledger.save(
            { ...record, renewalError, updatedAt: now.toISOString() },
            stored.rev,
            now.getTime(),
          );
        } catch (error) {
          if (error instanceof LedgerConflictError) continue;
          throw error;
        }
      return { ...base, result: "failed", urgent: true, detail: `RENEWAL_KMS_KEY_GONE: ${message}` };
    }
    const claim = record.renewalClaim;
    if (claim && claim.holder !== holder && Date.parse(claim.until) > now.getTime())
      return {
        ...base,
        result: "busy",
        urgent: false,
        detail: `another renewal holds it until ${claim.until}`,
      };
    // A claim left behind (its holder died, or this job runs again) is finished with the ValidTo it chose.
    const resumed = claim && Date.parse(claim.validTo) > now.getTime() ? new Date(claim.validTo) : undefined;
    if (!resumed && !expired && validTo - now.getTime() > request.beforeMs)
      return { ...base, result: "not-due", urgent: false, detail: `expires ${base.validTo}` };
    const period = Math.min(request.renewForMs ?? lastPeriodMs(record, validTo), MAX_VALID_FOR_MS);
    const newValidTo = resumed ?? new Date(now.getTime() + period);
    if (request.dryRun)
      return {
        ...base,
        newValidTo: newValidTo.toISOString(),
        result: "would-renew",
        urgent: expired,
        detail:
          (expired
            ? "the material has EXPIRED: the key is unusable until it is renewed"
            : `expires ${base.validTo}`) + dueAgainNote(newValidTo, now, request.beforeMs),
      };
    const renewalClaim = {
      holder,
      validTo: newValidTo.toISOString(),
      until: new Date(now.getTime() + RENEWAL_CLAIM_MS).toISOString(),
    };
    try {
      await ledger.save({ ...record, renewalClaim, updatedAt: now.toISOString() }, stored.rev, now.getTime());
    } catch (error) {
      if (error instanceof LedgerConflictError) continue;
      throw error;
    }
    return finish(deps, { ...record, renewalClaim }, base, newValidTo, expired, request);
  }
  throw new Error(`the ledger record ${id} kept changing under renew; run it again`);
}

/** Runs the claimed renewal and turns its outcome into the line and the ledger's renewal error. */
async function finish(
  deps: RenewalDeps,
  record: MigrationRecord,
  base: Pick<RenewLine, "source" | "region" | "account" | "keyId" | "validTo" | "nextRenewal">,
  newValidTo: Date,
  expired: boolean,
  request: RenewRequest,
): Promise<RenewLine> {
  // A key gone from the HSM fails here, before GetParametersForImport: each scheduled run would spend one.
  const outcome =
    (await sourceKeyGone(deps.context, record)) ?? (await importAgain(deps, record, newValidTo));
  if (outcome.ok)
    return {
      ...base,
      newValidTo: newValidTo.toISOString(),
      nextRenewal: new Date(newValidTo.getTime() - request.beforeMs).toISOString(),
      result: "renewed",
      urgent: false,
      detail: `same HSM key imported again, valid to ${newValidTo.toISOString()}, verified${dueAgainNote(newValidTo, deps.context.now(), request.beforeMs)}`,
    };
  const now = deps.context.now();
  const renewalError = { code: outcome.code, message: outcome.message, at: now.toISOString() };
  await patchClaimed(deps.ledger, record.id, record.renewalClaim?.holder ?? "", { renewalError }, now);
  const hsmKeyGone = outcome.code === "SOURCE_KEY_NOT_FOUND" || outcome.code === "SOURCE_KEY_CHANGED";
  return {
    ...base,
    result: "failed",
    urgent: hsmKeyGone || expired,
    detail: hsmKeyGone
      ? `${outcome.code}: the HSM key this KMS key holds is gone or changed (${outcome.message}); KMS deletes the material at ${base.validTo} and the key becomes unusable: restore the HSM key (from a backup) and run hsm2kms renew before then`
      : `${outcome.code}: ${outcome.message}`,
  };
}
