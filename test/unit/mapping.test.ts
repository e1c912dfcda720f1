import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inventoryManifest } from "../../src/inventory/inventory.js";
import { applyMapping, loadMapping } from "../../src/inventory/mapping.js";
import type { SourceKeyDescription } from "../../src/shared/hsm/types.js";

const dir = mkdtempSync(join(tmpdir(), "h2k-mapping-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(content: unknown): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

const MAPPING = {
  rules: [
    {
      match: { label: "^payments-" },
      alias: "alias/payments/{label|slug}",
      description: "Payments key {label}",
      tags: { team: "payments", "source-id": "{id}" },
    },
    {
      match: { keySpec: ["HMAC_256", "HMAC_512"] },
      alias: "alias/mac/{label|lower|slug}-{id|short}",
      tags: { kind: "{keyType|lower}" },
    },
  ],
  default: { alias: "alias/migrated/{label|slug}", tags: { spec: "{keySpec}" } },
};
const vars = (label: string, keySpec = "ECC_NIST_P256") => ({
  label,
  id: "0a0b0c0d0e0f1011",
  keyType: "EC",
  keySpec,
  keyUsage: "SIGN_VERIFY",
  region: "us-east-1",
});

describe("mapping files", () => {
  const mapping = loadMapping(file(MAPPING));

  it("the first matching rule wins, else the default", () => {
    expect(applyMapping(mapping, vars("payments-EU card#1"))).toEqual({
      alias: "alias/payments/payments-EU-card-1",
      description: "Payments key payments-EU card#1",
      tags: { team: "payments", "source-id": "0a0b0c0d0e0f1011" },
    });
    expect(applyMapping(mapping, { ...vars("Session MAC", "HMAC_256"), keyType: "GENERIC_SECRET" })).toEqual({
      alias: "alias/mac/session-mac-0a0b0c0d",
      tags: { kind: "generic_secret" },
    });
    expect(applyMapping(mapping, vars("other"))).toEqual({
      alias: "alias/migrated/other",
      tags: { spec: "ECC_NIST_P256" },
    });
  });

  it.each([
    [{ default: { alias: "alias/{name}" } }, /default\.alias: unknown variable \{name\}/],
    [{ rules: [{ alias: "alias/{label|kebab}" }] }, /rules\[0\]\.alias: unknown filter \|kebab/],
    [{ rules: [{}, { match: { label: "([" } }] }, /rules\[1\]\.match\.label: Invalid regular expression/],
    [{ rules: [{ tags: { team: 7 } }] }, /rules\[0\]\.tags\.team: expected a template string/],
  ])("a bad mapping is a usage error naming the rule and field (%#)", (content, message) => {
    expect(() => loadMapping(file(content))).toThrow(message);
  });

  it("reads YAML too (.yaml, .yml), with the same rules as JSON", () => {
    const path = join(dir, "mapping.yaml");
    writeFileSync(
      path,
      [
        "rules:",
        "  - match: { label: '^payments-' }",
        "    alias: 'alias/payments/{label|slug}'",
        "    description: 'Payments key {label}'",
        "    tags: { team: payments, source-id: '{id}' }",
        "default:",
        "  alias: 'alias/migrated/{label|slug}'",
        "",
      ].join("\n"),
    );
    const yaml = loadMapping(path);
    expect(applyMapping(yaml, vars("payments-EU card#1"))).toEqual(
      applyMapping(mapping, vars("payments-EU card#1")),
    );
    expect(applyMapping(yaml, vars("other"))).toEqual({ alias: "alias/migrated/other", tags: {} });
  });

  it.each([
    [
      "broken.yml",
      "rules: [\n  - alias: x\n",
      /--mapping .*broken\.yml is not valid YAML: line \d+, column \d+/,
    ],
    ["list.json", "[1, 2]", /expected an object with "rules"/],
    ["rules.yaml", "rules: payments\n", /"rules" must be a list of rules/],
    [
      "broken.json",
      "{",
      /--mapping .*broken\.json is not valid JSON: line 1, column 2: expected a property name/,
    ],
  ])("a mapping file that is not a mapping says so (%s)", (name, text, message) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    expect(() => loadMapping(path)).toThrow(message);
  });

  it("inventory refuses aliases that collide or that KMS does not allow", async () => {
    const key = (label: string): SourceKeyDescription => ({
      label,
      idHex: "01",
      objectClass: "private",
      keyType: "EC",
      keySpec: "ECC_NIST_P256",
      extractable: true,
      wrapWithTrusted: false,
      fingerprint: "x",
    });
    const same = loadMapping(file({ default: { alias: "alias/all" } }));
    await expect(inventoryManifest([key("a"), key("b")], undefined, same)).rejects.toThrow(
      '--mapping gives alias/all to both "a" and "b"',
    );
    const unsafe = loadMapping(file({ default: { alias: "alias/{label}" } }));
    await expect(inventoryManifest([key("a b")], undefined, unsafe)).rejects.toThrow(
      /which KMS does not allow.*\|slug/,
    );
  });
});
