/**
 * RFC 4180 field quoting, shared by the manifest writer (`inventory`) and the report writer. Lines end with
 * LF: every CSV reader we target (csv-parse, spreadsheets, pandas) accepts it, and Unix tools prefer it.
 */

/** Line terminator of every CSV this tool writes. */
export const CSV_EOL = "\n";

const NEEDS_QUOTES = /[",\r\n]/;

/** One field, quoted when it holds a comma, quote, CR or LF; inner quotes doubled. */
export function quoteCsvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One record: fields quoted and joined, with the line terminator. */
export function formatCsvLine(fields: readonly string[]): string {
  return fields.map(quoteCsvField).join(",") + CSV_EOL;
}
