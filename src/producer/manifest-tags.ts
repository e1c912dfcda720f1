import { show } from "./manifest-text.js";

/** KMS limits on tags (TagResource). */
export const MAX_TAGS = 50;
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
  if (segments.length > MAX_TAGS) problems.push(`${segments.length} tags; expected at most ${MAX_TAGS}`);
  return { tags: { ...tags }, problems };
}

function tagKeyProblem(key: string): string | undefined {
  if (key === "") return `a tag has an empty key; expected 1-${MAX_TAG_KEY_CHARS} characters before "="`;
  const length = [...key].length;
  if (length > MAX_TAG_KEY_CHARS)
    return `tag key ${show(key)} is ${length} characters long; expected at most ${MAX_TAG_KEY_CHARS}`;
  if (key.toLowerCase().startsWith("aws:"))
    return `tag key ${show(key)} starts with aws:, which AWS reserves; expected another key`;
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
