/**
 * Parsing JSON from a file the user named without ever repeating the file: JSON.parse's own messages quote
 * the input (Node 20: `Unexpected token 'c', "cu1:Pa55w0rd!" is not valid JSON`), so they are dropped and
 * the first syntax error is located here instead (RFC 8259 grammar), as a line, a column, what was expected
 * and what kind of character was found.
 */

/** The parsed value, or `line 3, column 7: expected ... , found ...`. */
export function parseJsonText(text: string): { value: unknown } | { problem: string } {
  if (text.trim() === "") return { problem: "is empty" };
  try {
    return { value: JSON.parse(text) };
  } catch {
    const found = locateJsonError(text);
    if (!found) return { problem: "is not valid JSON" };
    const { line, column } = lineAndColumn(text, found.offset);
    return {
      problem: `is not valid JSON: line ${line}, column ${column}: expected ${found.expected}, found ${describeAt(text, found.offset)}`,
    };
  }
}

/** 1-based line and column (in characters) of `offset`. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let index = text.indexOf("\n"); index >= 0 && index < offset; index = text.indexOf("\n", index + 1)) {
    line++;
    lineStart = index + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

const STRUCTURAL = new Set(["{", "}", "[", "]", ",", ":", '"']);

/** What kind of character is at `offset`, naming only JSON punctuation itself. */
function describeAt(text: string, offset: number): string {
  const char = text[offset];
  if (char === undefined) return "the end of the file";
  if (STRUCTURAL.has(char)) return `'${char}'`;
  if (/\p{L}/u.test(char)) return "a letter";
  if (/\p{N}/u.test(char)) return "a digit";
  if (/[\p{Cc}\p{Cf}]/u.test(char)) return "a control character";
  if (/\s/u.test(char)) return "a space";
  return "another character";
}

interface JsonError {
  offset: number;
  expected: string;
}

const VALUE = "a JSON value (object, array, string, number, true, false or null)";
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * The first syntax error of `text`, or undefined when there is none. Iterative (an explicit stack), so a
 * file of a million `[` cannot overflow the call stack.
 */
export function locateJsonError(text: string): JsonError | undefined {
  const stack: Array<"{" | "["> = [];
  let at = 0;
  const skipSpace = () => {
    while (at < text.length && " \t\n\r".includes(text[at]!)) at++;
  };
  const string = (): JsonError | undefined => {
    at++;
    while (at < text.length) {
      const char = text[at]!;
      if (char === '"') {
        at++;
        return undefined;
      }
      if (char === "\\") {
        const next = text[at + 1] ?? "";
        if (next !== "" && '"\\/bfnrt'.includes(next)) at += 2;
        else if (next === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) at += 6;
        else return { offset: at, expected: 'an escape such as \\n, \\" or \\u0041' };
      } else if (char < " ")
        return { offset: at, expected: "a closing '\"' (control characters must be escaped)" };
      else at++;
    }
    return { offset: at, expected: "a closing '\"'" };
  };
  const propertyName = (): JsonError | undefined => {
    skipSpace();
    if (text[at] !== '"') return { offset: at, expected: "a property name in double quotes" };
    const problem = string();
    if (problem) return problem;
    skipSpace();
    if (text[at] !== ":") return { offset: at, expected: "':' after the property name" };
    at++;
    return undefined;
  };
  const scalar = (): JsonError | undefined => {
    const char = text[at];
    if (char === '"') return string();
    if (char === "-" || (char !== undefined && char >= "0" && char <= "9")) {
      NUMBER.lastIndex = at;
      const match = NUMBER.exec(text);
      if (!match) return { offset: at, expected: "a number" };
      at += match[0].length;
      return undefined;
    }
    for (const literal of ["true", "false", "null"])
      if (text.startsWith(literal, at)) {
        at += literal.length;
        return undefined;
      }
    return { offset: at, expected: VALUE };
  };

  for (;;) {
    // A value is expected here.
    skipSpace();
    const open = text[at];
    if (open === "{" || open === "[") {
      at++;
      skipSpace();
      if (text[at] === (open === "{" ? "}" : "]")) at++;
      else {
        stack.push(open);
        const problem = open === "{" ? propertyName() : undefined;
        if (problem) return problem;
        continue;
      }
    } else {
      const problem = scalar();
      if (problem) return problem;
    }
    // After a value: close containers, or a comma and the next member.
    for (;;) {
      skipSpace();
      const top = stack.at(-1);
      if (top === undefined)
        return at < text.length ? { offset: at, expected: "the end of the file after the value" } : undefined;
      const close = top === "{" ? "}" : "]";
      if (text[at] === close) {
        at++;
        stack.pop();
        continue;
      }
      if (text[at] !== ",") return { offset: at, expected: `',' or '${close}'` };
      at++;
      if (top === "{") {
        const problem = propertyName();
        if (problem) return problem;
      }
      break;
    }
  }
}
