import { ManifestFileError } from "./file-error.js";
import { didYouMean, nearest, show } from "./text.js";
import { ACCOUNT_COLUMN, isManifestColumn, MANIFEST_COLUMNS, type ReadColumn } from "./types.js";

/** Every column a manifest may have: the inventory's, then `account` (a campaign over several accounts). */
const READ_COLUMNS: readonly ReadColumn[] = [...MANIFEST_COLUMNS, ACCOUNT_COLUMN];
const VALID = `valid columns: ${READ_COLUMNS.join(", ")}`;

/**
 * Checks the header record (names trimmed, case-sensitive) and returns the column of each field position.
 * Throws ManifestFileError naming every unknown column (with the nearest valid name), a duplicate, or the
 * lack of both source_label and source_id.
 */
export function parseHeader(fields: readonly string[], line: number): ReadColumn[] {
  const names = fields.map((field) => field.trim());
  const known = (name: string) => isManifestColumn(name) || name === ACCOUNT_COLUMN;
  if (names.some((name) => name.includes("\r")))
    throw new ManifestFileError(
      `line ${line}: lines end with CR only; expected LF or CRLF line endings (save the file as CSV UTF-8)`,
    );
  if (!names.some((name) => known(name) || nearest(name, READ_COLUMNS).length > 0))
    // Not repeated: a file that is no manifest at all (a PIN file, /etc/passwd) must not be echoed.
    throw new ManifestFileError(
      `line ${line} is not a header: none of its ${names.length === 1 ? "1 field is" : `${names.length} fields is`} a column name; expected column names such as source_label,key_spec,alias (${VALID})`,
    );
  const unknown = names.filter((name) => !known(name));
  if (unknown.length > 0) {
    const described = unknown.map((name) =>
      name === "" ? "an empty column name" : `${show(name)}${didYouMean(name, READ_COLUMNS)}`,
    );
    const noun = unknown.length === 1 ? "column" : "columns";
    throw new ManifestFileError(`line ${line}: unknown ${noun} ${described.join(", ")}; ${VALID}`);
  }
  const columns = names as ReadColumn[];
  const seen = new Map<ReadColumn, number>();
  for (const [index, column] of columns.entries()) {
    const first = seen.get(column);
    if (first !== undefined)
      throw new ManifestFileError(
        `line ${line}: column ${column} appears twice (fields ${first + 1} and ${index + 1}); expected each column once`,
      );
    seen.set(column, index);
  }
  if (!seen.has("source_label") && !seen.has("source_id"))
    throw new ManifestFileError(
      `line ${line}: no source_label or source_id column; expected at least one of them to find each key in the HSM`,
    );
  return columns;
}
