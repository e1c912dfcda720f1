/** Text helpers for manifest messages: safe echo of user values and "did you mean" suggestions. */

/** Longest part of a user value a message repeats. */
export const MAX_ECHO_CHARS = 80;

// Control characters, line/paragraph separators and bidi overrides could forge or hide message text.
const UNSAFE = /[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * A user value as it may appear in a message: in double quotes, at most MAX_ECHO_CHARS characters (then
 * `...`), control and bidi characters escaped as `\n`, `\t` or `\u{...}`.
 */
export function show(value: string): string {
  const chars = [...value];
  const cut = chars.length > MAX_ECHO_CHARS ? `${chars.slice(0, MAX_ECHO_CHARS - 3).join("")}...` : value;
  const escaped = cut.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replace(UNSAFE, escapeChar);
  return `"${escaped}"`;
}

function escapeChar(char: string): string {
  if (char === "\n") return "\\n";
  if (char === "\r") return "\\r";
  if (char === "\t") return "\\t";
  return `\\u{${char.codePointAt(0)!.toString(16)}}`;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

const squash = (value: string) => value.toUpperCase().replace(/[^A-Z0-9]/g, "");
const tokens = (value: string) =>
  value
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .filter(Boolean);

/**
 * The candidates a mistyped value most likely meant, best first (at most 3, often none): the same name
 * spelt with other case or separators; else every candidate holding all of the value's words
 * (`ECC_P256` -> ECC_NIST_P256); else the closest by edit distance, within a third of the length.
 */
export function nearest(value: string, candidates: readonly string[]): string[] {
  const input = value.slice(0, 64);
  if (squash(input) === "") return [];
  const same = candidates.filter((candidate) => squash(candidate) === squash(input));
  if (same.length > 0) return same.slice(0, 3);
  const words = tokens(input);
  const holding = candidates.filter((candidate) => {
    const own = tokens(candidate);
    return words.every((word) => own.includes(word));
  });
  if (holding.length > 0) return holding.slice(0, 3);
  const limit = Math.max(2, Math.floor(input.length / 3));
  const scored = candidates
    .map((candidate) => ({ candidate, distance: levenshtein(input.toUpperCase(), candidate.toUpperCase()) }))
    .filter(({ distance }) => distance <= limit)
    .sort((a, b) => a.distance - b.distance);
  return scored.slice(0, 1).map(({ candidate }) => candidate);
}

/** ` (did you mean X?)` / ` (did you mean X or Y?)` for the nearest candidates, or "" when there is none. */
export function didYouMean(value: string, candidates: readonly string[]): string {
  const found = nearest(value, candidates);
  if (found.length === 0) return "";
  const list = found.length === 1 ? found[0] : `${found.slice(0, -1).join(", ")} or ${found.at(-1)}`;
  return ` (did you mean ${list}?)`;
}
