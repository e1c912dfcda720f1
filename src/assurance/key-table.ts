import type { Ledger } from "../shared/ledger/index.js";

/** One line per key for people: what happened, the KMS key, how it was wrapped and proven. */
export async function printKeyTable(ledger: Ledger, out: NodeJS.WritableStream): Promise<void> {
  const rows: string[][] = [
    ["source_label", "status", "kms_key_id", "wrapping_algorithm", "verified", "detail"],
  ];
  for await (const record of ledger.records()) {
    rows.push([
      record.sourceKey?.label ?? record.source.label ?? record.source.idHex ?? "",
      record.status,
      record.kmsKeyId ?? "-",
      record.wrapPlan?.wrappingAlgorithm ?? "-",
      record.status === "migrated" ? (record.verified ?? "false") : "-",
      record.error
        ? `${record.error.code}: ${record.error.message}`
        : (record.checks?.map((check) => check.name).join(", ") ?? ""),
    ]);
  }
  const widths = rows[0]!
    .slice(0, -1)
    .map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows)
    out.write(
      `${row.map((cell, column) => (column < widths.length ? cell.padEnd(widths[column]!) : cell)).join("  ")}\n`,
    );
}
