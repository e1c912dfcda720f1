import { errorCodeEntry } from "../shared/error-codes.js";
import type { Ledger } from "../shared/ledger/index.js";
import type { MigrationRecord } from "../shared/migration.js";
import { createReportCsvStream, type ReportRow } from "./report-csv.js";

/**
 * What the error column says: why a key failed, or why a migrated key is `verified=unproven` (the evidence that
 * was missing), since such a key needs a look even though it did not fail.
 */
function problem(record: MigrationRecord): string {
  if (record.status === "failed" && record.error) return `${record.error.code}: ${record.error.message}`;
  if (record.status !== "migrated" || record.verified !== "unproven") return "";
  const missing = (record.checks ?? []).filter((check) => check.result === "unproven");
  return `VERIFICATION_UNPROVEN: ${missing.map((check) => `${check.name}: ${check.detail ?? ""}`).join("; ")}`;
}

/** When the scheduled renewal renews a key unless told otherwise (HSM2KMS_RENEW_BEFORE's default). */
const DEFAULT_RENEW_BEFORE_MS = 14 * 86_400_000;

/** ValidTo of a migrated key's expiring material, and when its renewal falls due (ValidTo less `renewBeforeMs`). */
function expiry(record: MigrationRecord, renewBeforeMs: number) {
  const validTo = record.status === "migrated" ? record.request.expiresAt : undefined;
  if (!validTo || record.abandonedAt) return { material_expires_at: "", next_renewal: "" };
  return {
    material_expires_at: validTo,
    next_renewal: new Date(Date.parse(validTo) - renewBeforeMs).toISOString(),
  };
}

/** The report's view of a key (README: report columns). */
export function reportRow(record: MigrationRecord, renewBeforeMs = DEFAULT_RENEW_BEFORE_MS): ReportRow {
  return {
    source_label: record.sourceKey?.label ?? record.source.label ?? "",
    source_id: record.sourceKey?.idHex ?? record.source.idHex ?? "",
    key_spec: record.sourceKey?.keySpec ?? record.request.keySpec ?? "",
    key_usage: record.sourceKey?.keyUsage ?? record.request.keyUsage ?? "",
    region: record.region,
    kms_key_id: record.kmsKeyId ?? "",
    kms_key_arn: record.kmsKeyArn ?? "",
    alias: record.request.alias ?? "",
    status: record.status,
    verified: record.status === "migrated" ? (record.verified ?? "false") : "false",
    attempts: String(record.attempts),
    error: problem(record),
    account: record.account ?? "",
    ...expiry(record, renewBeforeMs),
    renewal_error: record.renewalError ? `${record.renewalError.code}: ${record.renewalError.message}` : "",
  };
}

/** JSON report entry: the CSV columns plus the evidence a script may want. */
export function reportJson(record: MigrationRecord, renewBeforeMs?: number) {
  return {
    ...reportRow(record, renewBeforeMs),
    migration_id: record.id,
    manifest_line: record.manifestLine,
    phase: record.phase,
    wrapping_algorithm: record.wrapPlan?.wrappingAlgorithm,
    source_fingerprint: record.sourceKey?.fingerprint,
    token_refreshes: record.tokenRefreshes,
    checks: record.checks,
    error_code: record.error?.code,
    // The operator's fix for a failed key, from the error-code table (README, "Error codes").
    error_hint:
      record.status === "failed" && record.error ? errorCodeEntry(record.error.code)?.hint : undefined,
    completed_at: record.completedAt,
    renewed_at: record.renewedAt,
  };
}

/** The first bytes of a report: the CSV header, or JSON's opening bracket. */
export function reportStart(format: "csv" | "json"): string {
  return format === "json" ? "[" : createReportCsvStream().header;
}

/**
 * Writes the report (one row per key) and returns how many keys are not migrated. `header: false` leaves
 * out its first bytes (the CSV header, or JSON's `[`: `reportStart(format)`), for a caller that wrote them
 * already to check its destination early.
 */
export async function writeReport(
  ledger: Ledger,
  format: "csv" | "json",
  out: NodeJS.WritableStream,
  options: { header?: boolean; renewBeforeMs?: number } = {},
): Promise<{ keys: number; notMigrated: number }> {
  const write = (text: string) =>
    new Promise<void>((resolve, reject) => out.write(text, (error) => (error ? reject(error) : resolve())));
  const csv = createReportCsvStream();
  let keys = 0;
  let notMigrated = 0;
  if (options.header !== false) await write(reportStart(format));
  for await (const record of ledger.records()) {
    if (record.status !== "migrated") notMigrated++;
    await write(
      format === "csv"
        ? csv.line(reportRow(record, options.renewBeforeMs))
        : `${keys === 0 ? "\n" : ",\n"}  ${JSON.stringify(reportJson(record, options.renewBeforeMs))}`,
    );
    keys++;
  }
  if (format === "json") await write(keys === 0 ? "]\n" : "\n]\n");
  return { keys, notMigrated };
}
