import { describe, expect, it } from "vitest";
import { MAX_RECORD_CHARS } from "../../src/manifest/read.js";
import { fileErrorOf, readAll, summarise } from "./manifest-helpers.js";

const VALID =
  "valid columns: source_label, source_id, key_spec, key_usage, alias, description, tags, region, multi_region, expires_at, replica_regions, key_policy, account";
const a = (n: number) => "a".repeat(n);

const utf8Invalid = Buffer.concat([
  Buffer.from("source_label\nk1\nk"),
  Buffer.from([0xc3, 0x28]),
  Buffer.from("\n"),
]);
const FILE_CASES: Array<[name: string, input: string | Buffer, message: string]> = [
  [
    "empty",
    "",
    "the file is empty; expected a header row such as source_label,key_spec,alias and one row per key",
  ],
  [
    "only blank lines",
    "\n\r\n  \n",
    "the file is empty; expected a header row such as source_label,key_spec,alias and one row per key",
  ],
  [
    "no header",
    "k1,RSA_2048\n",
    `line 1 is not a header: none of its 2 fields is a column name; expected column names such as source_label,key_spec,alias (${VALID})`,
  ],
  [
    "header typo",
    "source_lable\n",
    `line 1: unknown column "source_lable" (did you mean source_label?); ${VALID}`,
  ],
  ["header case", "source_label,Alias\n", `line 1: unknown column "Alias" (did you mean alias?); ${VALID}`],
  [
    "two unknown columns",
    "source_label,label,foo\n",
    `line 1: unknown columns "label" (did you mean source_label?), "foo"; ${VALID}`,
  ],
  ["empty column name", "source_label,,alias\n", `line 1: unknown column an empty column name; ${VALID}`],
  [
    "duplicate column",
    "source_label,alias,alias\n",
    "line 1: column alias appears twice (fields 2 and 3); expected each column once",
  ],
  [
    "no source column",
    "alias,key_spec\n",
    "line 1: no source_label or source_id column; expected at least one of them to find each key in the HSM",
  ],
  [
    "quote never closed",
    'source_label\nk1\n"k2\nk3\n',
    'line 3: a quoted field starts in this record and is never closed; expected a closing "',
  ],
  [
    "quote inside unquoted field",
    'source_label\nk1\nab"c\n',
    'line 3: a " inside an unquoted field; expected the whole field in quotes with inner quotes doubled, e.g. "my ""key"""',
  ],
  [
    "text after closing quote",
    'source_label\n"ab"c\n',
    'line 2: a quoted field is followed by other characters; expected a comma or the end of the line after the closing "',
  ],
  [
    "NUL character",
    "source_label\nk1\nk\0\n",
    "line 3: holds a NUL character; expected CSV text (is this a binary or UTF-16 file?)",
  ],
  [
    "invalid UTF-8",
    utf8Invalid,
    "line 3: not UTF-8 text (byte 0xc3 at offset 17 starts a character the bytes after it do not complete); expected a CSV file saved as UTF-8",
  ],
  [
    "UTF-16",
    Buffer.from("\ufeffsource_label\n", "utf16le"),
    "the file is UTF-16 text; expected UTF-8 (save it as CSV UTF-8)",
  ],
  [
    "truncated UTF-8 at the end",
    Buffer.from([0x73, 0x0a, 0xe2, 0x82]),
    "line 2: ends inside a UTF-8 character (byte 0xe2 at offset 2 starts a character the end of the file cuts short); expected a CSV file saved as UTF-8",
  ],
  [
    "CR-only line ends",
    "source_label,alias\rk1,alias/a\r",
    "line 1: lines end with CR only; expected LF or CRLF line endings (save the file as CSV UTF-8)",
  ],
  [
    "record too long",
    `source_label\nk1\n${a(MAX_RECORD_CHARS + 10)}\n`,
    `line 3: a record longer than ${MAX_RECORD_CHARS} characters; expected manifest rows (is a quote left open?)`,
  ],
];

describe("manifest: unusable files", () => {
  it.each(FILE_CASES)("%s", async (_name, input, message) => {
    expect(await fileErrorOf(input)).toBe(message);
  });

  it("names the byte that breaks UTF-8 and its own offset, however the file is split into chunks", async () => {
    // "k" then a 3-byte character (0xe2 0x82 0xac) whose last byte is replaced by "(" (0x28).
    const bytes = Buffer.concat([
      Buffer.from("source_label\nk"),
      Buffer.from([0xe2, 0x82, 0x28]),
      Buffer.from("\n"),
    ]);
    const expected =
      "line 2: not UTF-8 text (byte 0xe2 at offset 14 starts a character the bytes after it do not complete); expected a CSV file saved as UTF-8";
    expect(await fileErrorOf(bytes)).toBe(expected);
    for (let cut = 1; cut < bytes.length; cut++)
      expect(await fileErrorOf([bytes.subarray(0, cut), bytes.subarray(cut)])).toBe(expected);
    expect(await fileErrorOf([...bytes].map((byte) => Buffer.from([byte])))).toBe(expected);
    // A byte that can start no character is itself the bad one.
    expect(
      await fileErrorOf(Buffer.concat([Buffer.from("source_label\nab"), Buffer.from([0xff, 0x41])])),
    ).toBe(
      "line 2: not UTF-8 text (byte 0xff at offset 15 cannot start a character); expected a CSV file saved as UTF-8",
    );
  });

  it("yields the rows before a CSV error, then throws", async () => {
    const { entries, error } = await readAll('source_label\nk1\nk2\n"k3\n');
    expect(summarise(entries)).toEqual([
      { line: 2, label: "k1" },
      { line: 3, label: "k2" },
    ]);
    expect((error as Error).message).toMatch(/^line 4: a quoted field/);
  });
});
