import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIT_COLUMNS } from "../../src/assurance/audit.js";
import { formatManifestCsv } from "../../src/manifest/read.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { runCli } from "../helpers/cli.js";
import { addMixedKeys, cliEnvironment, manifestFor, testLedger } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * `hsm2kms audit` compares each migrated key in the HSM and in KMS directly: first a clean campaign, then one
 * whose ledger was changed the ways a hostile or broken Redis could change it.
 */
let token: TestToken;
let emulator: KmsEmulator;
const prefix = randomPrefix("audit");

beforeAll(async () => {
  token = await createTestToken();
  emulator = await startKmsEmulator({ acceptKwpZeroPadding: true, quotas: false });
});

afterAll(async () => {
  await emulator?.close();
  await wipeCampaign(prefix);
  await token?.cleanup();
});

/** The audit CSV as results per source label (a label may have several rows: its key, and an orphan). */
async function auditResults(file: string): Promise<Map<string, string>> {
  const [header, ...lines] = (await readFile(file, "utf8")).trim().split("\n");
  expect(header).toBe(AUDIT_COLUMNS.join(","));
  const resultAt = AUDIT_COLUMNS.indexOf("result");
  const results = new Map<string, string>();
  for (const line of lines) {
    const [label = ""] = line.split(",");
    const result = line.split(",")[resultAt] ?? "";
    results.set(label, results.has(label) ? `${results.get(label)}+${result}` : result);
  }
  return results;
}

describe("hsm2kms audit", () => {
  it("finds every key identical (AES not comparable), then names each key whose ledger entry was tampered with", async () => {
    // audit-0 RSA-2048, audit-1 P-384, audit-2 secp256k1, audit-3 HMAC-256, audit-4 AES-256, audit-5 HMAC-224.
    const keys = await addMixedKeys(token.env, "audit", 6, 1);
    const manifest = join(token.dir, "audit.csv");
    await writeFile(manifest, manifestFor(keys));
    const env = cliEnvironment(token.env, emulator.url, prefix);
    expect((await runCli(["enqueue", manifest], env)).code).toBe(0);
    const worked = await runCli(["worker", "--until-idle"], env);
    expect(worked.code, worked.output).toBe(0);

    const clean = join(token.dir, "audit-clean.csv");
    const first = await runCli(["audit", "--out", clean], env);
    expect(first.output).toContain(
      "audit: 5 keys identical in the HSM and KMS, 1 not comparable outside KMS (AES), 0 problems; 0 keys not migrated",
    );
    expect(first.code, first.output).toBe(0);
    expect(Object.fromEntries(await auditResults(clean))).toEqual({
      "audit-0": "identical",
      "audit-1": "identical",
      "audit-2": "identical",
      "audit-3": "identical",
      "audit-4": "not-comparable",
      "audit-5": "identical",
    });

    // Against the manifest: every row is in the ledger. A row never enqueued and a row enqueue would reject are not.
    const withManifest = await runCli(["audit", "--manifest", manifest, "--out", clean], env);
    expect(withManifest.code, withManifest.output).toBe(0);
    const larger = join(token.dir, "audit-larger.csv");
    await writeFile(
      larger,
      formatManifestCsv([
        ...keys.map((key) => ({ source_label: key.label, source_id: key.idHex, region: "us-east-1" })),
        { source_label: "audit-never", source_id: "ff00", region: "us-east-1" },
        { source_label: "audit-bad", key_spec: "NOT_A_SPEC", region: "us-east-1" },
      ]),
    );
    const missing = await runCli(["audit", "--manifest", larger, "--out", clean], env);
    expect(missing.code, missing.output).toBe(1);
    expect(missing.output).toContain(
      "not-in-ledger: audit-never (us-east-1): manifest line 8: no migration record under this prefix",
    );
    expect(missing.output).toMatch(/not-in-ledger: a manifest row: manifest line 9, column key_spec: /);
    expect(missing.output).toContain("2 problems");
    const noFile = await runCli(["audit", "--manifest", join(token.dir, "nowhere.csv")], env);
    expect(noFile.code).toBe(2);
    expect(noFile.output).toContain("nowhere.csv cannot be read");

    // Change the ledger: swap two EC keys' KMS keys, point AES at a KMS key that does not exist, point an HMAC
    // key at another's KMS key, and rename the RSA key to one the token does not hold.
    const { redis, ledger } = testLedger(prefix);
    try {
      const byLabel = new Map<string, { record: MigrationRecord; rev: number }>();
      for await (const record of ledger.records()) {
        const stored = await ledger.get(record.id);
        if (stored) byLabel.set(record.source.label ?? "", stored);
      }
      const entry = (label: string) => byLabel.get(label) ?? expect.fail(`no record for ${label}`);
      const change = async (label: string, patch: Partial<MigrationRecord>) =>
        ledger.save({ ...entry(label).record, ...patch }, entry(label).rev);
      await change("audit-1", { kmsKeyId: entry("audit-2").record.kmsKeyId });
      await change("audit-2", { kmsKeyId: entry("audit-1").record.kmsKeyId });
      await change("audit-4", { kmsKeyId: "1234abcd-12ab-34cd-56ef-1234567890ab" });
      await change("audit-5", { kmsKeyId: entry("audit-3").record.kmsKeyId });
      const rsa = entry("audit-0").record;
      if (!rsa.sourceKey) expect.fail("the RSA key has no preflight facts");
      await change("audit-0", { sourceKey: { ...rsa.sourceKey, label: "audit-gone" } });
    } finally {
      redis.disconnect();
    }

    const tampered = join(token.dir, "audit-tampered.csv");
    const second = await runCli(["audit", "--out", tampered], env);
    expect(second.code, second.output).toBe(1);
    const results = await auditResults(tampered);
    expect(results.get("audit-gone")).toBe("missing-in-hsm");
    expect(results.get("audit-1")).toBe("mismatch");
    expect(results.get("audit-2")).toBe("mismatch");
    expect(results.get("audit-3")).toBe("identical");
    // The KMS keys audit-4 and audit-5 were made with are held by no record now: orphans. The keys audit-1 and
    // audit-2 swapped are each held by the other's record: tracked, not orphans (abandon --orphans would destroy
    // a key in use).
    expect(results.get("audit-4")).toBe("missing-in-kms+orphan");
    expect(results.get("audit-5")).toBe("duplicate+orphan");
    expect(second.output).toMatch(
      /mismatch: audit-1 \(us-east-1, KMS key [0-9a-f-]+\): KMS GetPublicKey differs/,
    );
    expect(second.output).toContain("missing-in-hsm: audit-gone");
    expect(second.output).toContain(
      "1 key identical in the HSM and KMS, 0 not comparable outside KMS (AES), 7 problems",
    );
    // Both orphans hold the material they were migrated with: audit says so and does not send them to abandon.
    expect(second.output).toMatch(/orphan: audit-4 .*it holds imported key material/);
    expect(second.output).not.toMatch(/orphan: audit-[45] .*remove it with hsm2kms abandon/);
  }, 120_000);
});
