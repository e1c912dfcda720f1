import type { Ledger } from "../shared/ledger/index.js";
import { describeSource, type MigrationRecord } from "../shared/migration.js";
import { hasExpiringMaterial } from "./renew-key.js";

/** A key whose last renewal failed. */
export interface RenewalFailure {
  id: string;
  source: string;
  region: string;
  /** ValidTo as the ledger knows it (ISO-8601). */
  validTo: string;
  code: string;
  message: string;
  /** The HSM key is gone or changed, or the material already expired: someone must act now. */
  urgent: boolean;
}

/** What `status` shows about migrated keys whose material expires (KEY_MATERIAL_EXPIRES). */
export interface ExpiringMaterialStatus {
  /** Migrated keys whose material expires. */
  keys: number;
  /** The earliest ValidTo (ISO-8601) and its key; undefined when no key's material expires. */
  soonestValidTo: string | undefined;
  soonestKey: string | undefined;
  /** When the next renewal falls due: the earliest ValidTo less HSM2KMS_RENEW_BEFORE. */
  nextRenewal: string | undefined;
  /** Keys due now: ValidTo within HSM2KMS_RENEW_BEFORE. */
  due: number;
  /** Keys whose ValidTo has passed (KMS deleted their material: unusable until renewed). */
  expired: number;
  /** The latest successful renewal (ISO-8601). */
  lastRenewedAt: string | undefined;
  /** Keys whose last renewal failed, and the first 20 of them. */
  renewalFailures: number;
  urgentFailures: number;
  failures: RenewalFailure[];
  /** When the campaign's scheduled renewal runs next; undefined when no worker serving renew registered it. */
  nextScheduledRun?: string | undefined;
}

const URGENT_CODES = new Set(["SOURCE_KEY_NOT_FOUND", "SOURCE_KEY_CHANGED", "RENEWAL_KMS_KEY_GONE"]);

/**
 * True when a renewal failure needs someone now: the HSM key is gone or changed, the KMS key is gone, or
 * ValidTo has passed.
 */
export function isUrgentRenewalFailure(record: MigrationRecord, nowMs: number): boolean {
  const validTo = Date.parse(record.request.expiresAt ?? "");
  return !!record.renewalError && (URGENT_CODES.has(record.renewalError.code) || validTo <= nowMs);
}

/** Reads the ledger once for the keys whose material expires (ValidTo as the last import or renewal set it). */
export async function collectExpiringMaterial(
  ledger: Ledger,
  options: { beforeMs: number; now?: number },
): Promise<ExpiringMaterialStatus> {
  const now = options.now ?? Date.now();
  const status: ExpiringMaterialStatus = {
    keys: 0,
    soonestValidTo: undefined,
    soonestKey: undefined,
    nextRenewal: undefined,
    due: 0,
    expired: 0,
    lastRenewedAt: undefined,
    renewalFailures: 0,
    urgentFailures: 0,
    failures: [],
  };
  let soonest = Number.POSITIVE_INFINITY;
  for await (const record of ledger.records()) {
    if (!hasExpiringMaterial(record)) continue;
    const validTo = Date.parse(record.request.expiresAt ?? "");
    status.keys++;
    if (validTo <= now) status.expired++;
    if (validTo - now <= options.beforeMs) status.due++;
    if (validTo < soonest) {
      soonest = validTo;
      status.soonestKey = `${describeSource(record.source)} (${record.region})`;
    }
    if (record.renewedAt && (!status.lastRenewedAt || record.renewedAt > status.lastRenewedAt))
      status.lastRenewedAt = record.renewedAt;
    if (!record.renewalError) continue;
    const urgent = isUrgentRenewalFailure(record, now);
    status.renewalFailures++;
    if (urgent) status.urgentFailures++;
    if (status.failures.length < 20)
      status.failures.push({
        id: record.id,
        source: describeSource(record.source),
        region: record.region,
        validTo: new Date(validTo).toISOString(),
        code: record.renewalError.code,
        message: record.renewalError.message,
        urgent,
      });
  }
  if (status.keys > 0) {
    status.soonestValidTo = new Date(soonest).toISOString();
    status.nextRenewal = new Date(soonest - options.beforeMs).toISOString();
  }
  return status;
}
