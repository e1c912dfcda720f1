import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatManifestCsv,
  type ManifestEntry,
  ManifestFileError,
  type ManifestRow,
} from "../../src/manifest/read.js";
import type { ManifestColumn } from "../../src/manifest/types.js";
import { KEY_SPECS, KEY_USAGES, keySpecInfo } from "../../src/shared/key-specs.js";
import { ALL_COLUMNS, NOW, readAll } from "./manifest-helpers.js";

/** Whatever the input, the reader ends with entries whose lines make sense, or a ManifestFileError. */
function expectOnlyEntriesOrFileError({ entries, error }: { entries: ManifestEntry[]; error: unknown }) {
  if (error !== undefined && !(error instanceof ManifestFileError)) throw error;
  let previous = 1;
  for (const entry of entries) {
    const line = entry.kind === "row" ? entry.row.line : entry.line;
    expect(line).toBeGreaterThan(previous);
    previous = line;
    if (entry.kind === "rejected") {
      expect(entry.problems.length).toBeGreaterThan(0);
      for (const problem of entry.problems) expect(problem.line).toBe(line);
    }
  }
}

/** Cuts a string or bytes into chunks at the given sizes (the rest in one last chunk). */
function chunked<T extends string | Buffer>(input: T, sizes: number[]): T[] {
  const chunks: T[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= input.length) break;
    chunks.push(input.slice(at, at + size) as T);
    at += size;
  }
  if (at < input.length) chunks.push(input.slice(at) as T);
  return chunks;
}

const TOKENS = [
  ...ALL_COLUMNS.split(","),
  ",",
  ",",
  '"',
  '""',
  "\n",
  "\r\n",
  "\r",
  " ",
  "\ufeff",
  "\0",
  "k1",
  "RSA_2048",
  "SIGN_VERIFY",
  "alias/x",
  "alias/aws/x",
  "0x0a",
  "abc",
  "2026-07-01",
  "2026-07-01T00:00:00Z",
  "true",
  "us-east-1",
  "a=b;c=d",
  "aws:x=1",
  "é",
  "🔑",
  "\u202e",
  "=1+2",
];
const csvish = fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }).map((tokens) => tokens.join(""));
const sizes = fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 10 });

describe("manifest: any input", () => {
  it("any bytes give entries or a ManifestFileError, in any chunking", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), sizes, async (bytes, cuts) => {
        expectOnlyEntriesOrFileError(await readAll(chunked(Buffer.from(bytes), cuts)));
      }),
      { numRuns: 300 },
    );
  });

  it("any string gives entries or a ManifestFileError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 300 }), sizes, async (text, cuts) => {
        expectOnlyEntriesOrFileError(await readAll(chunked(text, cuts)));
      }),
      { numRuns: 300 },
    );
  });

  it("CSV-like noise, with or without a valid header, gives entries or a ManifestFileError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), csvish, sizes, async (withHeader, text, cuts) => {
        const input = withHeader ? `${ALL_COLUMNS}\n${text}` : text;
        expectOnlyEntriesOrFileError(await readAll(chunked(Buffer.from(input), cuts)));
      }),
      { numRuns: 400 },
    );
  });
});

const printable = (chars: string[]) => fc.constantFrom(...chars);
const ascii = fc
  .string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 })
  .filter((c) => !/\p{Cc}/u.test(c));
const labelArb = fc.string({
  unit: fc.oneof(ascii, printable([" ", ",", '"', ";", "'", "é", "签", "🔑", "\u00a0"])),
  maxLength: 30,
});
const tagChar = fc.oneof(printable([..."abcXYZ019 _.:/+-@"]), printable(["é", "ß", "日"]));
const tagKey = fc
  .string({ unit: tagChar, minLength: 1, maxLength: 20 })
  .filter((key) => key.trim() === key && !key.toLowerCase().startsWith("aws:"));
const tagValue = fc
  .string({ unit: fc.oneof(tagChar, printable(["="])), maxLength: 20 })
  .filter((v) => v.trim() === v);
const descriptionArb = fc.string({
  unit: fc.oneof(ascii, printable(["\n", "\r\n", "\t", " ", "é", "🔑"])),
  minLength: 1,
  maxLength: 60,
});
const specAndUsage = fc.option(fc.constantFrom(...KEY_SPECS), { nil: undefined }).chain((spec) =>
  fc.record({
    spec: fc.constant(spec),
    usage: fc.option(fc.constantFrom(...(spec ? keySpecInfo(spec).usages : KEY_USAGES)), { nil: undefined }),
  }),
);
const rowArb = fc.record({
  source: fc.constantFrom("label", "id", "both"),
  label: labelArb,
  idBytes: fc.uint8Array({ maxLength: 30 }),
  specAndUsage,
  alias: fc.option(fc.string({ unit: printable([..."abXY09/_-"]), minLength: 1, maxLength: 30 }), {
    nil: undefined,
  }),
  description: fc.option(descriptionArb, { nil: undefined }),
  tags: fc.dictionary(tagKey, tagValue, { maxKeys: 5 }),
  region: fc.constantFrom("us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"),
  multiRegion: fc.constantFrom("true", "false", "TRUE", ""),
  expiresInMs: fc.option(fc.integer({ min: 1000, max: 365 * 86_400_000 }), { nil: undefined }),
});

type Generated = typeof rowArb extends fc.Arbitrary<infer T> ? T : never;

// The index keeps keys and aliases unique, so no row is a duplicate of another.
function toCellsAndRow(g: Generated, index: number): [Partial<Record<ManifestColumn, string>>, ManifestRow] {
  const suffix = index.toString(16).padStart(4, "0");
  const label = g.source === "id" ? undefined : `${g.label}-${suffix}`;
  const id = g.source === "label" ? undefined : Buffer.from(g.idBytes).toString("hex") + suffix;
  const alias = g.alias === undefined ? undefined : `alias/k${suffix}/${g.alias}`;
  const expiresAt = g.expiresInMs === undefined ? undefined : new Date(NOW.getTime() + g.expiresInMs);
  const tags = Object.entries(g.tags)
    .map(([key, value]) => `${key}=${value}`)
    .join(";");
  const cells = {
    source_label: label,
    source_id: id === undefined ? undefined : `0x${id.toUpperCase()}`,
    key_spec: g.specAndUsage.spec,
    key_usage: g.specAndUsage.usage,
    alias,
    description: g.description,
    tags,
    region: g.region,
    multi_region: g.multiRegion,
    expires_at: expiresAt?.toISOString(),
  };
  const row: ManifestRow = {
    line: 0,
    sourceLabel: label,
    sourceIdHex: id,
    keySpec: g.specAndUsage.spec,
    keyUsage: g.specAndUsage.usage,
    alias,
    description: g.description,
    tags: { ...g.tags },
    region: g.region,
    multiRegion: g.multiRegion.toLowerCase() === "true",
    expiresAt,
    replicaRegions: [],
    keyPolicyPath: undefined,
  };
  return [cells, row];
}

describe("manifest: round trip", () => {
  it("rows written by formatManifestCsv read back as the same values, on the right lines", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { maxLength: 8 }), async (generated) => {
        const pairs = generated.map(toCellsAndRow);
        const csv = formatManifestCsv(pairs.map(([cells]) => cells));
        const { entries, error } = await readAll(csv);
        expect(error).toBeUndefined();
        let line = 2;
        const expected = pairs.map(([cells, row]) => {
          const at = line;
          line += Object.values(cells).reduce((n, v) => n + (v ?? "").split("\n").length - 1, 0) + 1;
          return { kind: "row", row: { ...row, line: at } };
        });
        expect(entries).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});
