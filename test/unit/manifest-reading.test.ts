import { describe, expect, it } from "vitest";
import { formatManifestCsv, formatProblem, type ManifestRow, readManifest } from "../../src/manifest/read.js";
import { MAX_MANIFEST_TAGS } from "../../src/manifest/tags.js";
import { ALL_COLUMNS, NOW, readAll, summarise } from "./manifest-helpers.js";

const rows = (entries: Awaited<ReturnType<typeof readAll>>["entries"]): ManifestRow[] =>
  entries.flatMap((entry) => (entry.kind === "row" ? [entry.row] : []));

describe("manifest: reading", () => {
  it("normalises a full row", async () => {
    const csv = `${ALL_COLUMNS}\n  k1  ,0X0A1B,ECC_NIST_P256,KEY_AGREEMENT, alias/app/k1 ,"  two\n lines  ", owner = team a ; env=prod ;,us-east-1,TRUE,2026-07-01T12:00:00+02:00, us-west-2;eu-west-1 , policies/app.json\n`;
    const { entries, error } = await readAll(csv);
    expect(error).toBeUndefined();
    expect(rows(entries)).toEqual([
      {
        line: 2,
        sourceLabel: "  k1",
        sourceIdHex: "0a1b",
        keySpec: "ECC_NIST_P256",
        keyUsage: "KEY_AGREEMENT",
        alias: "alias/app/k1",
        description: "  two\n lines  ",
        tags: { owner: "team a", env: "prod" },
        region: "us-east-1",
        multiRegion: true,
        expiresAt: new Date("2026-07-01T10:00:00Z"),
        replicaRegions: ["us-west-2", "eu-west-1"],
        keyPolicyPath: "policies/app.json",
      },
    ]);
  });

  it("fills defaults: region from the option, usage and spec left to the HSM, date-only expiry at midnight UTC", async () => {
    const { entries } = await readAll("source_id,expires_at,multi_region\nab,2026-06-02,\n");
    expect(rows(entries)[0]).toMatchObject({
      sourceLabel: undefined,
      keySpec: undefined,
      keyUsage: undefined,
      region: "eu-west-1",
      multiRegion: false,
      tags: {},
      expiresAt: new Date("2026-06-02T00:00:00Z"),
    });
  });

  it("accepts columns in any order and trims header names", async () => {
    const { entries } = await readAll(" alias , source_label \nalias/x,k1\n");
    expect(rows(entries)[0]).toMatchObject({ sourceLabel: "k1", alias: "alias/x", line: 2 });
  });

  it("strips a BOM, from bytes and from text", async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("source_label\nk1\n")]);
    expect(summarise((await readAll(bytes)).entries)).toEqual([{ line: 2, label: "k1" }]);
    expect(summarise((await readAll("\ufeffsource_label\nk1\n")).entries)).toEqual([
      { line: 2, label: "k1" },
    ]);
  });

  it("reads CRLF files, mixed line ends and a last line without a line end", async () => {
    const { entries } = await readAll("source_label,alias\r\nk1,alias/a\r\n\r\nk2,alias/b\nk3,alias/c");
    expect(summarise(entries)).toEqual([
      { line: 2, label: "k1" },
      { line: 4, label: "k2" },
      { line: 5, label: "k3" },
    ]);
    expect(rows(entries)[0]?.alias).toBe("alias/a");
  });

  it("keeps line numbers right after quoted values that span lines (LF and CRLF) and blank lines", async () => {
    const csv =
      'source_label,description\r\nk1,"one\r\ntwo\r\nthree"\r\n\r\n,\r\nk2,x\r\n"k\n3","a,""b"""\nbad label\u0001,\nk4,\n';
    const { entries } = await readAll(csv);
    expect(summarise(entries)).toEqual([
      { line: 2, label: "k1" },
      { line: 7, label: "k2" },
      { line: 8, problems: [["source_label", '"k\\n3" holds a control character; expected printable text']] },
      {
        line: 10,
        problems: [["source_label", '"bad label\\u{1}" holds a control character; expected printable text']],
      },
      { line: 11, label: "k4" },
    ]);
    expect(rows(entries)[0]?.description).toBe("one\r\ntwo\r\nthree");
  });

  it("reads unicode labels, and labels with quotes and commas", async () => {
    const labels = ["clé-签名-🔑", 'say "hi", ok', "Ünïcödé ключ", "=cmd|' /C calc'!A0"];
    const csv = formatManifestCsv(labels.map((source_label) => ({ source_label })));
    expect(rows((await readAll(csv)).entries).map((row) => row.sourceLabel)).toEqual(labels);
  });

  it("accepts values at their limits", async () => {
    const cells = {
      source_label: "é".repeat(256),
      source_id: "ab".repeat(64),
      alias: `alias/${"a".repeat(250)}`,
      description: "d".repeat(8192),
      // KMS's 50 tags per key less the provenance tags hsm2kms adds at create.
      tags: Array.from(
        { length: MAX_MANIFEST_TAGS },
        (_, i) => `${"k".repeat(125)}${i}=${"v".repeat(256)}`,
      ).join(";"),
    };
    const { entries, error } = await readAll(formatManifestCsv([cells]));
    expect(error).toBeUndefined();
    const [row] = rows(entries);
    expect(row?.sourceLabel).toBe(cells.source_label);
    expect(row?.description).toBe(cells.description);
    expect(Object.keys(row?.tags ?? {})).toHaveLength(MAX_MANIFEST_TAGS);
  });

  it("never echoes more than 80 characters of a value", async () => {
    const { entries } = await readAll(`source_label,key_spec\nk,${"X".repeat(5000)}\n`);
    const problem = entries[0]?.kind === "rejected" ? entries[0].problems[0] : undefined;
    expect(problem?.message.startsWith(`"${"X".repeat(77)}..." is not a KMS key spec`)).toBe(true);
  });

  it("reads the same input split into any chunks, even inside a UTF-8 character", async () => {
    const text = `${ALL_COLUMNS}\nclé-🔑,0a,,,alias/a,"multi\nline",a=b,us-east-1,,,,\n\nk2,0b,,,,,,,,,,\n`;
    const bytes = Buffer.from(text);
    const whole = await readAll(bytes);
    const oneByOne = await readAll([...bytes].map((byte) => Buffer.from([byte])));
    const asStrings = await readAll([...text]);
    expect(oneByOne).toEqual(whole);
    expect(asStrings).toEqual(whole);
    expect(summarise(whole.entries)).toEqual([
      { line: 2, label: "clé-🔑" },
      { line: 5, label: "k2" },
    ]);
  });

  it("stops reading its input when the caller stops early", async () => {
    let pulled = 0;
    async function* endless() {
      yield "source_label\n";
      for (;;) {
        pulled++;
        yield `k${pulled}\n`;
      }
    }
    const seen: number[] = [];
    for await (const entry of readManifest(endless(), { defaultRegion: "eu-west-1", now: NOW })) {
      if (entry.kind === "row") seen.push(entry.row.line);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([2, 3, 4]);
    expect(pulled).toBeLessThan(10);
  });

  it("yields nothing for a header alone", async () => {
    expect(await readAll("source_label,alias\n")).toEqual({ entries: [], error: undefined });
  });
});

describe("formatProblem", () => {
  it("names the line and the column", () => {
    expect(formatProblem({ line: 7, column: "alias", message: "bad" })).toBe("line 7, column alias: bad");
    expect(formatProblem({ line: 7, column: undefined, message: "bad" })).toBe("line 7: bad");
  });
});

describe("formatManifestCsv", () => {
  it("writes every column, quoting what needs it and leaving absent values empty", () => {
    expect(formatManifestCsv([{ source_label: 'a,"b"', description: "x\ny", alias: "alias/a" }])).toBe(
      `${ALL_COLUMNS}\n"a,""b""",,,,alias/a,"x\ny",,,,,,\n`,
    );
  });
});
