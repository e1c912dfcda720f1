import type { MigrationError } from "../shared/errors.js";
import { describeSource, type MigrationRecord, type PhaseName } from "../shared/migration.js";

/**
 * The log line of a key whose phase will be tried again: which key (label and id, as the manifest named
 * it), where (Region, and for a KMS call the operation and the endpoint), why (the error's own message, which
 * carries the cause: the AWS error name and text, or the network error) and when. Never a secret: the
 * error messages name keys and operations, not material, tokens or PINs.
 */
export function retryLogLine(
  record: MigrationRecord,
  phase: PhaseName,
  error: MigrationError,
  delayMs: number,
): { fields: Record<string, unknown>; message: string } {
  const operation = typeof error.details?.["operation"] === "string" ? error.details["operation"] : undefined;
  const endpoint = typeof error.details?.["endpoint"] === "string" ? error.details["endpoint"] : undefined;
  const fields: Record<string, unknown> = {
    migrationId: record.id,
    phase,
    region: record.region,
    label: record.source.label,
    code: error.code,
    ...(operation ? { operation } : {}),
    ...(endpoint ? { endpoint } : {}),
    delayMs,
  };
  const via = [operation, endpoint && `at ${endpoint}`].filter(Boolean).join(" ");
  const message = `retrying ${describeSource(record.source)} (${phase}, ${record.region}) in ${Math.round(delayMs / 1000)}s: ${error.code}${via ? ` from ${via}` : ""}: ${error.message}`;
  return { fields, message };
}
