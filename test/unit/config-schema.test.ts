import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/shared/config.js";
import { CONFIG_VARIABLES, describeConfig } from "../../src/shared/config-schema.js";

const ROOT = join(import.meta.dirname, "../..");
const names = CONFIG_VARIABLES.flatMap((variable) => [variable.name, ...(variable.aliases ?? [])]);

/** The README's Configuration table: first cell's variable names, second cell's default. */
function readmeRows(): Array<{ names: string[]; defaultText: string }> {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("\n## Configuration"), readme.indexOf("\n## Operations"));
  return section
    .split("\n")
    .filter((line) => /^\| `[A-Z]/.test(line))
    .map((line) => {
      const [, first = "", second = ""] = line.split("|");
      return {
        names: [...first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1]!),
        defaultText: second.replaceAll("`", "").trim(),
      };
    });
}

describe("the configuration schema", () => {
  it("names exactly the variables config.ts reads", () => {
    const source = readFileSync(join(ROOT, "src/shared/config.ts"), "utf8");
    // Read directly (env["X"]) or through a helper (integer(env, "X", ...)): a quoted whole name either way.
    const read = new Set(
      [...source.matchAll(/"((?:HSM2KMS|AWS)_[A-Z0-9_]+|REDIS_URL)"/g)].map((match) => match[1]!),
    );
    expect([...read].sort()).toEqual([...names].sort());
  });

  it("matches the README's Configuration table: every variable, and each default", () => {
    const rows = readmeRows();
    const documented = rows.flatMap((row) => row.names);
    for (const variable of CONFIG_VARIABLES) {
      expect(documented, `README lacks ${variable.name}`).toContain(variable.name);
      const row = rows.find((candidate) => candidate.names[0] === variable.name);
      if (row && row.names.length === 1) expect(row.defaultText, variable.name).toBe(variable.defaultText);
    }
    for (const name of documented) expect(names, `README documents unknown ${name}`).toContain(name);
  });

  it("shows where each value came from, and never a PIN", () => {
    const env = {
      HSM2KMS_PKCS11_LIB: process.execPath,
      HSM2KMS_TOKEN_LABEL: "payments",
      HSM2KMS_PKCS11_PIN: "user:s3cret-pin",
      HSM2KMS_JOB_LOCK: "2m",
    };
    const rows = describeConfig(loadConfig(env), env);
    const row = (name: string) => rows.find((candidate) => candidate.name === name);
    expect(row("HSM2KMS_PKCS11_PIN")).toMatchObject({ value: "[redacted]", source: "environment" });
    expect(row("HSM2KMS_JOB_LOCK")).toMatchObject({ value: "2m00s", source: "environment" });
    expect(row("HSM2KMS_QUEUE_PREFIX")).toMatchObject({ value: "hsm2kms", source: "default" });
    expect(row("AWS_REGION")).toMatchObject({ value: "", source: "unset" });
    expect(JSON.stringify(rows)).not.toContain("s3cret");
  });
});
