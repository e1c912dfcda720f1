import { type Parser, parse } from "csv-parse";
import { formatCsvLine } from "../shared/csv.js";
import { decodeManifestText } from "./decode.js";
import { ManifestFileError } from "./file-error.js";
import { parseHeader } from "./header.js";
import { aliasDigest, sourceKeyDigest } from "./migration-id.js";
import { checkRow, type ManifestCells } from "./rules.js";
import { show } from "./text.js";
import {
  MANIFEST_COLUMNS,
  type ManifestColumn,
  type ManifestEntry,
  type ManifestRow,
  type ReadColumn,
  type RowProblem,
} from "./types.js";

export { ManifestFileError } from "./file-error.js";
export { migrationId } from "./migration-id.js";
export { MANIFEST_COLUMNS, type ManifestColumn, type ManifestEntry, type ManifestRow, type RowProblem };

/** Longest record (characters) before the file is refused: far above any valid row, bounds memory. */
export const MAX_RECORD_CHARS = 128_000;

export interface ReadManifestOptions {
  /** Region of rows with an empty region cell (AWS_REGION); undefined: such rows are rejected. */
  defaultRegion: string | undefined;
  /** The time expires_at is checked against. @defaultValue the time of the call */
  now?: Date;
}

const newlines = (fields: readonly string[]) => fields.reduce((n, f) => n + f.split("\n").length - 1, 0);
const isBlank = (fields: readonly string[]) => fields.every((field) => field.trim() === "");

/**
 * Streams a manifest CSV: yields one entry per data record, in file order — a valid row, or every problem
 * of a rejected one — and goes on after bad rows. Throws ManifestFileError when the file itself is
 * unusable (empty, bad header, broken quoting, not UTF-8 text); rows already yielded stay valid.
 *
 * Blank records (empty lines, or only commas and spaces) are skipped. Line numbers count LF characters, so
 * they stay right for CRLF files and for quoted values that span lines.
 *
 * Memory: flat in the file size except for duplicate detection, which keeps a 12-byte digest and a line
 * number per accepted row and per alias: about 60 bytes each, ~120 MB for a million rows with aliases.
 */
export async function* readManifest(
  input: NodeJS.ReadableStream | AsyncIterable<Buffer | string>,
  options: ReadManifestOptions,
): AsyncGenerator<ManifestEntry> {
  const context = { defaultRegion: options.defaultRegion, now: options.now ?? new Date() };
  const parsed: string[][] = [];
  // on_record runs synchronously per record, so every record before a CSV error is in hand (and gets
  // its entry) before the error: the stream's own buffer would be dropped when it is destroyed.
  const parser = parse({
    relax_column_count: true,
    record_delimiter: ["\r\n", "\n"],
    max_record_size: MAX_RECORD_CHARS,
    on_record: (record: string[]) => {
      parsed.push(record);
      return null;
    },
  });
  parser.on("error", () => {}); // reported through write/end below
  parser.resume();
  const duplicates = new DuplicateIndex();
  let columns: ReadColumn[] | undefined;
  let line = 1;
  function* entries(): Generator<ManifestEntry> {
    for (const fields of parsed.splice(0)) {
      const first = line;
      line += newlines(fields) + 1;
      if (isBlank(fields)) continue;
      if (columns === undefined) columns = parseHeader(fields, first);
      else yield duplicates.check(entryFor(fields, columns, first, context));
    }
  }
  try {
    for await (const text of decodeManifestText(input as AsyncIterable<Buffer | string>)) {
      const error = await write(parser, text);
      yield* entries();
      if (error !== undefined) throw asFileError(error, line);
    }
    const error = await end(parser);
    yield* entries();
    if (error !== undefined) throw asFileError(error, line);
  } finally {
    parser.destroy();
  }
  if (columns === undefined)
    throw new ManifestFileError(
      "the file is empty; expected a header row such as source_label,key_spec,alias and one row per key",
    );
}

function write(parser: Parser, text: string): Promise<unknown> {
  return new Promise((resolve) => parser.write(text, (error) => resolve(error ?? undefined)));
}

function end(parser: Parser): Promise<unknown> {
  return new Promise((resolve) => {
    parser.once("error", resolve);
    parser.once("finish", () => resolve(undefined));
    parser.end();
  });
}

function entryFor(
  fields: readonly string[],
  columns: readonly ReadColumn[],
  line: number,
  context: { defaultRegion: string | undefined; now: Date },
): { row: ManifestRow | undefined; problems: RowProblem[] } {
  if (fields.length !== columns.length) {
    const count = fields.length === 1 ? "1 field" : `${fields.length} fields`;
    const message = `has ${count}; expected ${columns.length}, one per header column`;
    return { row: undefined, problems: [{ line, column: undefined, message }] };
  }
  const cells: ManifestCells = {};
  for (const [index, column] of columns.entries()) cells[column] = fields[index]!;
  return checkRow(cells, line, context);
}

/** Rows already accepted, as digests: the same source key, or the same alias, twice in one region. */
class DuplicateIndex {
  private readonly keys = new Map<string, number>();
  private readonly aliases = new Map<string, number>();

  check({ row, problems }: { row: ManifestRow | undefined; problems: RowProblem[] }): ManifestEntry {
    if (row === undefined) return { kind: "rejected", line: problems[0]!.line, problems };
    // A key whose identity or region is itself wrong cannot be compared with others.
    const identityKnown = !problems.some(
      (p) =>
        p.column === undefined ||
        p.column === "source_label" ||
        p.column === "source_id" ||
        p.column === "region" ||
        p.column === "account",
    );
    // The same key may go to the same Region of two accounts: they are different KMS keys.
    const scope = row.account === undefined ? row.region : `${row.account}/${row.region}`;
    const keyDigest = identityKnown ? sourceKeyDigest({ ...row, region: scope }) : undefined;
    const earlierKey = keyDigest === undefined ? undefined : this.keys.get(keyDigest);
    if (earlierKey !== undefined)
      problems.push({
        line: row.line,
        column: undefined,
        message: `duplicate of line ${earlierKey}: the same source key and region; expected each key once per region`,
      });
    const aliasKey = identityKnown && row.alias !== undefined ? aliasDigest(scope, row.alias) : undefined;
    const earlierAlias = aliasKey === undefined ? undefined : this.aliases.get(aliasKey);
    if (earlierAlias !== undefined)
      problems.push({
        line: row.line,
        column: "alias",
        message: `${show(row.alias!)} is already used in ${row.account === undefined ? "" : `account ${row.account}, `}${row.region} by line ${earlierAlias}; expected one key per alias and region`,
      });
    if (problems.length > 0) return { kind: "rejected", line: row.line, problems };
    this.keys.set(keyDigest!, row.line);
    if (aliasKey !== undefined) this.aliases.set(aliasKey, row.line);
    return { kind: "row", row };
  }
}

const CSV_MESSAGES: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field starts in this record and is never closed; expected a closing "',
  CSV_INVALID_CLOSING_QUOTE:
    'a quoted field is followed by other characters; expected a comma or the end of the line after the closing "',
  INVALID_OPENING_QUOTE:
    'a " inside an unquoted field; expected the whole field in quotes with inner quotes doubled, e.g. "my ""key"""',
  CSV_MAX_RECORD_SIZE: `a record longer than ${MAX_RECORD_CHARS} characters; expected manifest rows (is a quote left open?)`,
};

function asFileError(error: unknown, line: number): unknown {
  if (error instanceof ManifestFileError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string" || !(code.startsWith("CSV_") || code === "INVALID_OPENING_QUOTE"))
    return error;
  // csv-parse's own messages can quote the file: only its code is kept.
  const message = CSV_MESSAGES[code] ?? `not valid CSV (${code}); expected a CSV manifest`;
  return new ManifestFileError(`line ${line}: ${message}`);
}

/** `line 7, column alias: <message>`, or `line 7: <message>` for a problem of the whole row. */
export function formatProblem(problem: RowProblem): string {
  const where =
    problem.column === undefined ? `line ${problem.line}` : `line ${problem.line}, column ${problem.column}`;
  return `${where}: ${problem.message}`;
}

/**
 * A manifest as CSV text, for `inventory`: a header of every MANIFEST_COLUMNS column, then one line per row
 * (absent values empty), RFC 4180 quoting, LF line ends. Values are NOT neutralised against spreadsheet
 * formulas (unlike the report): a manifest is read back by hsm2kms, and a leading quote would change the
 * label it looks for in the HSM.
 */
export function formatManifestCsv(rows: Iterable<Partial<Record<ManifestColumn, string>>>): string {
  let text = formatCsvLine(MANIFEST_COLUMNS);
  for (const row of rows) text += formatCsvLine(MANIFEST_COLUMNS.map((column) => row[column] ?? ""));
  return text;
}
