import { parse } from "csv-parse/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createReportCsvStream,
  formatReportCsv,
  neutraliseFormula,
  REPORT_COLUMNS,
  type ReportRow,
} from "../../src/assurance/report-csv.js";

const HEADER =
  "source_label,source_id,key_spec,key_usage,region,kms_key_id,kms_key_arn,alias,status,verified,attempts,error,account,material_expires_at,next_renewal,renewal_error";

function reportRow(values: Partial<ReportRow> = {}): ReportRow {
  const row = Object.fromEntries(REPORT_COLUMNS.map((column) => [column, ""])) as ReportRow;
  return { ...row, ...values };
}

const migrated = reportRow({
  source_label: "app-signing",
  source_id: "0a1b",
  key_spec: "ECC_NIST_P256",
  key_usage: "SIGN_VERIFY",
  region: "eu-west-1",
  kms_key_id: "1234abcd-12ab-34cd-56ef-1234567890ab",
  kms_key_arn: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  alias: "alias/app-signing",
  status: "migrated",
  verified: "true",
  attempts: "1",
  account: "222222222222",
});

describe("report CSV", () => {
  it("writes the contract's columns in order, then one line per row", () => {
    expect(formatReportCsv([migrated])).toBe(
      `${HEADER}\napp-signing,0a1b,ECC_NIST_P256,SIGN_VERIFY,eu-west-1,1234abcd-12ab-34cd-56ef-1234567890ab,arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab,alias/app-signing,migrated,true,1,,222222222222,,,\n`,
    );
    expect(formatReportCsv([])).toBe(`${HEADER}\n`);
  });

  it.each([
    ["=1+2", "'=1+2"],
    ["+1", "'+1"],
    ["-1", "'-1"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tx", "'\tx"],
    ["\rx", "'\rx"],
    ["a=b", "a=b"],
    ["", ""],
    ["'quoted", "'quoted"],
  ])("neutralises %j as %j", (value, expected) => {
    expect(neutraliseFormula(value)).toBe(expected);
  });

  it("neutralises every column and quotes commas, quotes and line breaks", () => {
    const row = reportRow({
      source_label: '=HYPERLINK("x")',
      error: 'KMS said: "no", try\nagain',
      alias: "-a,b",
    });
    const line = createReportCsvStream().line(row);
    expect(line).toBe(`"'=HYPERLINK(""x"")",,,,,,,"'-a,b",,,,"KMS said: ""no"", try\nagain",,,,\n`);
  });

  it("streams the same text as formatReportCsv", () => {
    const rows = [migrated, reportRow({ source_label: "x,y", status: "failed", error: "@boom" })];
    const stream = createReportCsvStream();
    expect(stream.header + rows.map(stream.line).join("")).toBe(formatReportCsv(rows));
  });

  it("reads back through csv-parse as the neutralised values", () => {
    const value = fc.string({
      unit: fc.oneof(fc.string({ maxLength: 1 }), fc.constantFrom(",", '"', "\n", "\r", "=", "-")),
    });
    fc.assert(
      fc.property(
        fc.array(fc.record(Object.fromEntries(REPORT_COLUMNS.map((c) => [c, value]))), { maxLength: 5 }),
        (rows) => {
          const typed = rows as ReportRow[];
          const records = parse(formatReportCsv(typed), {
            columns: true,
            record_delimiter: "\n",
          }) as ReportRow[];
          expect(records).toEqual(
            typed.map((row) => Object.fromEntries(REPORT_COLUMNS.map((c) => [c, neutraliseFormula(row[c])]))),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
