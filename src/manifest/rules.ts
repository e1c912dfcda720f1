import { isRegionName } from "../shared/config.js";
import { isKeySpec, isKeyUsage, KEY_SPECS, KEY_USAGES, keySpecInfo } from "../shared/key-specs.js";
import { parseExpiry } from "./expiry.js";
import { parseTags } from "./tags.js";
import { didYouMean, show } from "./text.js";
import type { ManifestRow, ReadColumn, RowProblem } from "./types.js";

export const MAX_LABEL_CHARS = 256;
export const MAX_ID_HEX_DIGITS = 128;
export const MAX_ALIAS_NAME_CHARS = 250;
export const MAX_DESCRIPTION_CHARS = 8192;

/** The values of one record by column; a column the file does not have is absent. */
export type ManifestCells = Partial<Record<ReadColumn, string>>;

export interface RowContext {
  /** Region for rows with an empty region cell (AWS_REGION). */
  defaultRegion: string | undefined;
  now: Date;
}

/** Every problem of one row, with the column it concerns. */
class Problems {
  readonly list: RowProblem[] = [];
  constructor(private readonly line: number) {}
  add(column: ReadColumn | undefined, message: string): undefined {
    this.list.push({ line: this.line, column, message });
    return undefined;
  }
}

// Bidi overrides and isolates too: they make a label read differently in logs and reports.
const CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
const DESCRIPTION_CONTROL = /[^\P{Cc}\t\n\r]/u;
const ALIAS = /^alias\/[A-Za-z0-9/_-]+$/;
const chars = (value: string) => [...value].length;

// Values are trimmed at the end (spreadsheets pad them); a description is kept as written.
function cell(cells: ManifestCells, column: ReadColumn): string {
  const value = cells[column] ?? "";
  if (column === "description") return value;
  return column === "source_label" ? value.trimEnd() : value.trim();
}

function sourceLabel(text: string, problems: Problems): string | undefined {
  if (text === "") return undefined;
  if (chars(text) > MAX_LABEL_CHARS)
    return problems.add(
      "source_label",
      `${show(text)} is ${chars(text)} characters long; expected at most ${MAX_LABEL_CHARS}`,
    );
  if (CONTROL.test(text))
    return problems.add("source_label", `${show(text)} holds a control character; expected printable text`);
  return text;
}

function sourceId(text: string, problems: Problems): string | undefined {
  if (text === "") return undefined;
  const hex = text.replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]+$/.test(hex))
    return problems.add(
      "source_id",
      `${show(text)} is not hex; expected the CKA_ID as hex digits, e.g. 0a1b2c`,
    );
  if (hex.length % 2 !== 0)
    return problems.add(
      "source_id",
      `${show(text)} has an odd number of hex digits; expected whole bytes (an even number)`,
    );
  if (hex.length > MAX_ID_HEX_DIGITS)
    return problems.add(
      "source_id",
      `${show(text)} is ${hex.length} hex digits long; expected at most ${MAX_ID_HEX_DIGITS}`,
    );
  return hex.toLowerCase();
}

function keySpec(text: string, problems: Problems) {
  if (text === "" || isKeySpec(text)) return text === "" ? undefined : text;
  return problems.add(
    "key_spec",
    `${show(text)} is not a KMS key spec${didYouMean(text, KEY_SPECS)}; expected one of ${KEY_SPECS.join(", ")}`,
  );
}

function keyUsage(text: string, spec: string | undefined, problems: Problems) {
  if (text === "") return undefined;
  if (!isKeyUsage(text))
    return problems.add(
      "key_usage",
      `${show(text)} is not a KMS key usage${didYouMean(text, KEY_USAGES)}; expected one of ${KEY_USAGES.join(", ")}`,
    );
  if (spec !== undefined && isKeySpec(spec) && !keySpecInfo(spec).usages.includes(text))
    return problems.add(
      "key_usage",
      `${text} is not a usage of ${spec}; expected ${keySpecInfo(spec).usages.join(" or ")}`,
    );
  return text;
}

function alias(text: string, problems: Problems): string | undefined {
  if (text === "") return undefined;
  if (!ALIAS.test(text))
    return problems.add(
      "alias",
      `${show(text)} is not an alias name; expected alias/<name> with letters, digits, /_-`,
    );
  if (text.length - "alias/".length > MAX_ALIAS_NAME_CHARS)
    return problems.add(
      "alias",
      `${show(text)} is ${text.length} characters long; expected alias/ and at most ${MAX_ALIAS_NAME_CHARS} more`,
    );
  if (text.startsWith("alias/aws/"))
    return problems.add(
      "alias",
      `${show(text)} is reserved for AWS managed keys; expected a name not starting with alias/aws/`,
    );
  return text;
}

function description(text: string, problems: Problems): string | undefined {
  if (text === "") return undefined;
  if (chars(text) > MAX_DESCRIPTION_CHARS)
    return problems.add(
      "description",
      `is ${chars(text)} characters long; expected at most ${MAX_DESCRIPTION_CHARS}`,
    );
  if (DESCRIPTION_CONTROL.test(text))
    return problems.add(
      "description",
      `${show(text)} holds a control character; expected text (tabs and line breaks are fine)`,
    );
  return text;
}

function region(text: string, context: RowContext, problems: Problems): string | undefined {
  if (text === "") {
    if (context.defaultRegion === undefined || context.defaultRegion === "")
      return problems.add("region", "no region: set the region column or AWS_REGION");
    return context.defaultRegion;
  }
  if (!isRegionName(text))
    return problems.add("region", `${show(text)} is not an AWS Region name; expected e.g. us-east-1`);
  return text;
}

function multiRegion(text: string, problems: Problems): boolean {
  const lower = text.toLowerCase();
  if (lower === "" || lower === "false") return false;
  if (lower === "true") return true;
  problems.add("multi_region", `${show(text)} is not true or false; expected true, false or empty (false)`);
  return false;
}

/** A key policy file's path: any printable text; the file itself is read at enqueue. */
function keyPolicyPath(text: string, problems: Problems): string | undefined {
  if (text === "") return undefined;
  if (CONTROL.test(text))
    return problems.add("key_policy", `${show(text)} holds a control character; expected a file path`);
  return text;
}

/** `us-west-2;eu-west-1`: Regions for replicas of a multi-Region key. */
function replicaRegions(text: string, multi: boolean, ownRegion: string, problems: Problems): string[] {
  if (text === "") return [];
  const regions = text
    .split(";")
    .map((part) => part.trim())
    .filter(Boolean);
  const bad = regions.filter((name) => !isRegionName(name));
  if (bad.length > 0)
    problems.add(
      "replica_regions",
      `${show(bad[0]!)} is not an AWS Region name; expected Region names separated by ';', e.g. us-west-2;eu-west-1`,
    );
  else if (!multi)
    problems.add(
      "replica_regions",
      "replicas need a multi-Region key; expected multi_region=true on this row",
    );
  else if (regions.includes(ownRegion))
    problems.add("replica_regions", `${ownRegion} is the primary's own Region; expected only other Regions`);
  else if (new Set(regions).size !== regions.length)
    problems.add("replica_regions", "a Region is listed twice; expected each Region once");
  else return regions;
  return [];
}

/** `account`: an AWS account id, 12 digits. */
function account(text: string, problems: Problems): string | undefined {
  if (text === "") return undefined;
  if (!/^\d{12}$/.test(text))
    return problems.add(
      "account",
      `${show(text)} is not an AWS account id; expected 12 digits, e.g. 123456789012`,
    );
  return text;
}

/**
 * Validates one data record: the row (a field that has a problem is undefined in it) and every problem.
 * The row is valid only when `problems` is empty. Checks the row alone; duplicates across rows are the
 * reader's job.
 */
export function checkRow(
  cells: ManifestCells,
  line: number,
  context: RowContext,
): { row: ManifestRow; problems: RowProblem[] } {
  const problems = new Problems(line);
  const label = sourceLabel(cell(cells, "source_label"), problems);
  const id = sourceId(cell(cells, "source_id"), problems);
  if (cell(cells, "source_label") === "" && cell(cells, "source_id") === "")
    problems.add(undefined, "no source key: expected a source_label or a source_id");
  const spec = keySpec(cell(cells, "key_spec"), problems);
  const usage = keyUsage(cell(cells, "key_usage"), spec, problems);
  const aliasName = alias(cell(cells, "alias"), problems);
  const text = description(cell(cells, "description"), problems);
  const tagResult = parseTags(cell(cells, "tags"));
  for (const message of tagResult.problems) problems.add("tags", message);
  const targetRegion = region(cell(cells, "region"), context, problems) ?? "";
  const multi = multiRegion(cell(cells, "multi_region"), problems);
  const expiresText = cell(cells, "expires_at");
  const expiry = expiresText === "" ? undefined : parseExpiry(expiresText, context.now);
  if (expiry && "problem" in expiry) problems.add("expires_at", expiry.problem);
  const row: ManifestRow = {
    line,
    sourceLabel: label,
    sourceIdHex: id,
    keySpec: spec,
    keyUsage: usage,
    alias: aliasName,
    description: text,
    tags: tagResult.tags,
    region: targetRegion,
    multiRegion: multi,
    expiresAt: expiry && "expiresAt" in expiry ? expiry.expiresAt : undefined,
    replicaRegions: replicaRegions(cell(cells, "replica_regions"), multi, targetRegion, problems),
    keyPolicyPath: keyPolicyPath(cell(cells, "key_policy"), problems),
  };
  if (cells.account !== undefined) row.account = account(cell(cells, "account"), problems);
  return { row, problems: problems.list };
}
