import { decodeUtf8, readFileBounded } from "../shared/bounded-read.js";
import { lineAndColumn, parseJsonText } from "../shared/json-syntax.js";
import { show } from "./text.js";

/** KMS's limit on a key policy document: "up to 32 kilobytes (32,768 bytes)" (AWS KMS Developer Guide, "Creating a key policy", Key policy format). */
export const MAX_POLICY_BYTES = 32_768;

/**
 * "A key policy document can include only the following characters: printable ASCII characters; printable
 * characters in the Basic Latin and Latin-1 Supplement character set; the tab, line feed, and carriage
 * return special characters" (AWS KMS Developer Guide, "Creating a key policy", Key policy format).
 */
const POLICY_CHARS_OUTSIDE = /[^\t\n\r\x20-\x7e\xa0-\xff]/u;

const EXPECTED = 'expected a JSON key policy such as {"Version": "2012-10-17", "Statement": [...]}';

/**
 * Reads and checks a key policy file: readable, at most 32 KiB (read with that cap, whatever the file
 * claims), UTF-8, a JSON object with a `Statement` and, if it says so, Version 2012-10-17. Returns the
 * policy minified, or what is wrong with it: naming the file and, for bad JSON, the line and column, never
 * the file's content. Done before anything is enqueued, so a bad policy never reaches CreateKey.
 */
export async function readKeyPolicy(path: string): Promise<{ policy: string } | { problem: string }> {
  const read = await readFileBounded(path, MAX_POLICY_BYTES, "a key policy (KMS accepts 32 KB)");
  if ("problem" in read) return { problem: `key policy ${path} ${read.problem}; ${EXPECTED}` };
  const decoded = decodeUtf8(read.bytes);
  if ("problem" in decoded) return { problem: `key policy ${path} ${decoded.problem}; ${EXPECTED}` };
  const outside = POLICY_CHARS_OUTSIDE.exec(decoded.text);
  if (outside) {
    const { line, column } = lineAndColumn(decoded.text, outside.index);
    return {
      problem: `key policy ${path} holds a character KMS does not allow in key policies at line ${line}, column ${column}; expected printable ASCII or Latin-1 characters, tab, line feed and carriage return`,
    };
  }
  const parsed = parseJsonText(decoded.text);
  if ("problem" in parsed) return { problem: `key policy ${path} ${parsed.problem}; ${EXPECTED}` };
  const document = parsed.value;
  if (typeof document !== "object" || document === null || Array.isArray(document))
    return { problem: `key policy ${path} is not a JSON object; ${EXPECTED}` };
  const policy = document as Record<string, unknown>;
  if (!("Statement" in policy)) return { problem: `key policy ${path} has no "Statement"; ${EXPECTED}` };
  if ("Version" in policy && policy["Version"] !== "2012-10-17")
    return {
      problem: `key policy ${path} has Version ${typeof policy["Version"] === "string" ? show(policy["Version"]) : "of another type"}; expected "2012-10-17"`,
    };
  return { policy: JSON.stringify(policy) };
}
