import { PROVENANCE_TAGS } from "../workers/phases/provenance.js";
import { show } from "./text.js";

/** KMS limits on tags (TagResource). */
export const MAX_TAGS = 50;

/** Tag keys hsm2kms sets itself on every KMS key it creates: a manifest may not set them. */
const OWN_TAG_KEYS = new Set<string>(Object.values(PROVENANCE_TAGS));

/**
 * Tags a manifest row may give: KMS's 50 per key, less the provenance tags hsm2kms adds to every key at
 * CreateKey. A row over this would only fail there (KMS_TAG), after its key was queued.
 */
export const MAX_MANIFEST_TAGS = MAX_TAGS - OWN_TAG_KEYS.size;
export const MAX_TAG_KEY_CHARS = 128;
export const MAX_TAG_VALUE_CHARS = 256;

const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const TAG_CHARS_TEXT = "letters, digits, spaces and _ . : / = + - @";
const FIRST_BAD_CHAR = /[^\p{L}\p{Z}\p{N}_.:/=+\-@]/u;

export type TagsResult = { tags: Record<string, string>; problems: string[] };

/**
 * Parses `key=value;key=value` (spaces around keys and values ignored, empty segments skipped, the value
 * is everything after the first `=`). Returns the tags and every problem found, one message each.
 */
export function parseTags(text: string): TagsResult {
  const tags: Record<string, string> = Object.create(null);
  const problems: string[] = [];
  const segments = text.split(";").filter((segment) => segment.trim() !== "");
  for (const segment of segments) {
    const equals = segment.indexOf("=");
    if (equals < 0) {
      problems.push(`${show(segment.trim())} is not key=value; expected tags as key=value;key=value`);
      continue;
    }
    const key = segment.slice(0, equals).trim();
    const value = segment.slice(equals + 1).trim();
    const problem = tagKeyProblem(key) ?? tagValueProblem(key, value);
    if (problem !== undefined) problems.push(problem);
    else if (Object.hasOwn(tags, key))
      problems.push(`tag key ${show(key)} appears twice; expected each key once`);
    else tags[key] = value;
  }
  if (segments.length > MAX_MANIFEST_TAGS)
    problems.push(
      `${segments.length} tags; expected at most ${MAX_MANIFEST_TAGS} (KMS allows ${MAX_TAGS} per key and hsm2kms adds ${OWN_TAG_KEYS.size} provenance tags of its own)`,
    );
  return { tags: { ...tags }, problems };
}

function tagKeyProblem(key: string): string | undefined {
  if (key === "") return `a tag has an empty key; expected 1-${MAX_TAG_KEY_CHARS} characters before "="`;
  const length = [...key].length;
  if (length > MAX_TAG_KEY_CHARS)
    return `tag key ${show(key)} is ${length} characters long; expected at most ${MAX_TAG_KEY_CHARS}`;
  if (key.toLowerCase().startsWith("aws:"))
    return `tag key ${show(key)} starts with aws:, which AWS reserves; expected another key`;
  if (OWN_TAG_KEYS.has(key))
    return `tag key ${show(key)} is a provenance tag hsm2kms sets itself; expected another key`;
  if (!TAG_CHARS.test(key))
    return `tag key ${show(key)} holds ${show(key.match(FIRST_BAD_CHAR)![0])}; expected ${TAG_CHARS_TEXT}`;
  return undefined;
}

function tagValueProblem(key: string, value: string): string | undefined {
  const length = [...value].length;
  if (length > MAX_TAG_VALUE_CHARS)
    return `tag ${show(key)} has a value ${length} characters long; expected at most ${MAX_TAG_VALUE_CHARS}`;
  if (!TAG_CHARS.test(value))
    return `tag ${show(key)} has a value holding ${show(value.match(FIRST_BAD_CHAR)![0])}; expected ${TAG_CHARS_TEXT}`;
  return undefined;
}

/** Tags as the manifest writes them: `key=value;key=value`, in insertion order. */
export function formatTags(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([key, value]) => `${key}=${value}`)
    .join(";");
}
