import { formatCsvLine } from "../shared/csv.js";

/**
 * The report's columns, in order: a user-facing contract (README.md#report). New columns go at the end, so
 * that scripts reading columns by position keep working.
 */
export const REPORT_COLUMNS = [
  "source_label",
  "source_id",
  "key_spec",
  "key_usage",
  "region",
  "kms_key_id",
  "kms_key_arn",
  "alias",
  "status",
  "verified",
  "attempts",
  "error",
  // The 12-digit target account; empty for the caller's own.
  "account",
  "material_expires_at",
  "next_renewal",
  "renewal_error",
] as const;

export type ReportColumn = (typeof REPORT_COLUMNS)[number];

/** One key's line of the report; every value already a string (empty when unknown). */
export type ReportRow = Record<ReportColumn, string>;

// OWASP CSV injection: a cell a spreadsheet would read as a formula (or that hides one behind tab/CR).
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * Neutralises a value against spreadsheet formula injection, OWASP style: a value starting with `=`, `+`,
 * `-`, `@`, tab or CR gets a leading single quote. Other values are returned unchanged.
 */
export function neutraliseFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

function reportLine(row: ReportRow): string {
  return formatCsvLine(REPORT_COLUMNS.map((column) => neutraliseFormula(row[column] ?? "")));
}

/**
 * The whole report as CSV: the header, then one line per row, columns in REPORT_COLUMNS order, RFC 4180
 * quoting, every value neutralised. Lines end with LF. Holds the whole text: for large reports use
 * createReportCsvStream.
 */
export function formatReportCsv(rows: Iterable<ReportRow>): string {
  const stream = createReportCsvStream();
  let text = stream.header;
  for (const row of rows) text += stream.line(row);
  return text;
}

/**
 * The report writer for streaming: write `header` once, then `line(row)` per key. Each string ends with LF.
 */
export function createReportCsvStream(): { header: string; line(row: ReportRow): string } {
  return { header: formatCsvLine(REPORT_COLUMNS), line: reportLine };
}
