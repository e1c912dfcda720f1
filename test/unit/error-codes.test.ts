import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { reportJson } from "../../src/assurance/report.js";
import { curableByRetry } from "../../src/campaign/retry.js";
import {
  codeOfAwsName,
  ERROR_CODES,
  type ErrorCodeEntry,
  errorCodeEntry,
} from "../../src/shared/error-codes.js";
import { fatal } from "../../src/shared/errors.js";
import { pkcs11Failure } from "../../src/shared/hsm/pkcs11-errors.js";
import { kmsErrorCode, mapKmsError } from "../../src/shared/kms/kms-errors.js";
import { newMigrationRecord } from "../../src/shared/migration.js";
import { FakeKms } from "../helpers/fake-kms.js";

const ROOT = join(import.meta.dirname, "..", "..");
const TABLE: Array<[string, ErrorCodeEntry]> = Object.entries(ERROR_CODES);
const KIND_OF_CONSTRUCTOR: Record<string, string> = {
  fatal: "fatal",
  retryable: "retryable",
  throttled: "throttled",
  deferred: "deferred",
  notVisible: "not-visible",
  tokenExpired: "token-expired",
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** The rows of README's "Error codes" table: code -> [kind, retry column]. */
function readmeCodes(): Map<string, [string, string]> {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Error codes"));
  const table = section.slice(0, section.indexOf("\n### ", 1));
  const rows = [...table.matchAll(/^\| `([A-Z0-9_]+)` \| ([a-z-]+) \| ([a-z -]+) \|/gm)];
  return new Map(rows.map((row) => [row[1] ?? "", [row[2] ?? "", row[3] ?? ""]]));
}

describe("the error-code table", () => {
  it("is documented in README, row for row, with the same kind and retry behaviour", () => {
    const documented = readmeCodes();
    expect([...documented.keys()].sort()).toEqual(TABLE.map(([code]) => code).sort());
    for (const [code, entry] of TABLE)
      expect(documented.get(code), code).toEqual([
        entry.kind,
        entry.curableByRetry ? "re-queued" : "left alone",
      ]);
  });

  it("gives every code an operator's fix, and never a secret's place", () => {
    for (const [code, entry] of TABLE) {
      expect(entry.hint.length, code).toBeGreaterThan(20);
      expect(entry.hint, code).not.toMatch(/\$\{|PIN is \S|password=/);
    }
  });

  it("a code outside the table, or of another kind, does not compile (tsc checks the expectations below)", () => {
    // @ts-expect-error a typo in a code
    expect(fatal("SOURCE_KEY_NOT_FOUNDD", "x").code).toBe("SOURCE_KEY_NOT_FOUNDD");
    // @ts-expect-error KMS_THROTTLED is raised as a throttle, never as a fatal error
    expect(fatal("KMS_THROTTLED", "x").kind).toBe("fatal");
  });

  it("every fatal()/retryable()/... call site in src names a table code of the constructor's kind", () => {
    const calls = /\b(fatal|retryable|throttled|deferred|notVisible|tokenExpired)\(\s*"([^"]*)"/g;
    let seen = 0;
    for (const file of sourceFiles(join(ROOT, "src"))) {
      for (const [, raise = "", code = ""] of readFileSync(file, "utf8").matchAll(calls)) {
        seen++;
        expect(errorCodeEntry(code)?.kind, `${file}: ${raise}("${code}")`).toBe(KIND_OF_CONSTRUCTOR[raise]);
      }
    }
    expect(seen).toBeGreaterThan(40);
  });

  it("maps each AWS name to one code, and the adapter raises that code with the table's kind", () => {
    const names = TABLE.flatMap(([, entry]) => entry.awsNames ?? []);
    expect(new Set(names).size).toBe(names.length);
    for (const [code, entry] of TABLE)
      for (const name of entry.awsNames ?? []) {
        expect(codeOfAwsName(name)).toBe(code);
        const error = mapKmsError(
          Object.assign(new Error("x"), { name }),
          "CreateKey",
          "CreateKey for key k",
        );
        expect([name, error.code, error.kind]).toEqual([name, code, entry.kind]);
      }
  });

  it("an AWS name the table does not list is KMS_UNEXPECTED_ERROR, keeping the name; a 5xx one is KMS_UNAVAILABLE", () => {
    const strange = mapKmsError(
      Object.assign(new Error("odd"), { name: "BrandNewException" }),
      "Sign",
      "Sign k",
    );
    expect(strange.code).toBe("KMS_UNEXPECTED_ERROR");
    expect(strange.kind).toBe("fatal");
    expect(strange.message).toContain("BrandNewException");
    const outage = Object.assign(new Error("down"), {
      name: "BrandNewException",
      $metadata: { httpStatusCode: 503 },
    });
    expect(mapKmsError(outage, "Sign", "Sign k").code).toBe("KMS_UNAVAILABLE");
  });

  it("classifies the PKCS#11 refusals a retry cannot cure, so retry --failed leaves them alone", () => {
    for (const [ckr, code] of [
      ["CKR_KEY_NOT_WRAPPABLE", "SOURCE_KEY_NOT_WRAPPABLE"],
      ["CKR_KEY_FUNCTION_NOT_PERMITTED", "SOURCE_KEY_FUNCTION_NOT_PERMITTED"],
      ["CKR_KEY_UNEXTRACTABLE", "SOURCE_KEY_NOT_EXTRACTABLE"],
    ] as const) {
      const error = pkcs11Failure(new Error(ckr), "C_WrapKey", 'key "k"');
      expect(error.code).toBe(code);
      expect(curableByRetry(error.code)).toBe(false);
    }
    expect(curableByRetry("KMS_UNAVAILABLE")).toBe(true);
    expect(curableByRetry("KMS_ACCESS_DENIED")).toBe(true);
    // A code another release wrote, unknown here: re-queued (every phase is idempotent).
    expect(curableByRetry("SOME_OLDER_CODE")).toBe(true);
  });

  it("the fake KMS raises the real adapter's codes", async () => {
    const fake = new FakeKms("us-east-1", () => new Date());
    const missing = await fake.getPublicKey("no-such-key").catch((error: unknown) => error);
    expect(missing).toMatchObject({ code: kmsErrorCode("NotFoundException"), kind: "not-visible" });
    const helper = readFileSync(join(ROOT, "test", "helpers", "fake-kms.ts"), "utf8");
    expect(helper).not.toMatch(/"KMS_[A-Z_]+"/);
  });

  it("the JSON report gives a failed key's fix from the table, and none for a key that did not fail", () => {
    const base = newMigrationRecord(
      "k1",
      "us-east-1",
      { label: "a" },
      { tags: {}, multiRegion: false },
      new Date(),
    );
    const error = {
      code: "SOURCE_KEY_NOT_WRAPPABLE",
      kind: "fatal",
      phase: "wrap" as const,
      message: "no",
      at: "",
    };
    expect(reportJson({ ...base, status: "failed", error }).error_hint).toBe(
      ERROR_CODES.SOURCE_KEY_NOT_WRAPPABLE.hint,
    );
    expect(reportJson({ ...base, status: "in_progress", error }).error_hint).toBeUndefined();
  });
});
