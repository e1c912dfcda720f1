import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, runCli } from "../helpers/cli.js";
import { randomPrefix, TEST_REDIS_URL, wipeCampaign } from "../helpers/redis.js";

// The README's first command, `bash scripts/demo.sh`, ends in `hsm2kms sandbox demo`: run it as a user would.
let dir: string;
const prefix = randomPrefix("demo");
const env = { REDIS_URL: TEST_REDIS_URL, HOME: tmpdir() };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "h2k-demo-"));
});

afterAll(async () => {
  await wipeCampaign(prefix);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("hsm2kms sandbox demo", () => {
  it("migrates every sample key but the non-extractable one, writes the report, a signed evidence pack that verifies and a clean audit", async () => {
    const demo = await runCli(["sandbox", "demo", "--dir", dir, "--prefix", prefix], env, { bin: BIN });
    expect(demo.code, demo.output).toBe(0);
    expect(demo.output).toContain("13 keys migrated and verified");
    expect(demo.output).toContain("0 unexpected outcomes");
    // The one expiring key renewed: its ValidTo an hour away, then 90 days (the report keeps the new one).
    const renewal =
      /renew: sample-ec-p256 \(CKA_ID 5a0001\) \(us-east-1, KMS key [-0-9a-f]+\): ValidTo (\S+) -> (\S+): renewed: /.exec(
        demo.output,
      );
    expect(renewal, demo.output).not.toBeNull();
    const [oldValidTo, newValidTo] = [Date.parse(renewal?.[1] ?? ""), Date.parse(renewal?.[2] ?? "")];
    expect(newValidTo - oldValidTo).toBeGreaterThan(80 * 86_400_000);
    expect(demo.output).toMatch(
      /signature verified \(key arn:aws:kms:us-east-1:\d{12}:key\/[0-9a-f-]+, .*pinned\)/,
    );
    expect(demo.output).toMatch(/13 records, 1 key without a record, .*: OK/);
    expect(demo.output).toContain(
      "audit: 12 keys identical in the HSM and KMS, 1 not comparable outside KMS (AES), 0 problems; 1 key not migrated",
    );
    const audit = (await readFile(join(dir, "audit.csv"), "utf8")).trim().split("\n");
    expect(audit.slice(1).filter((line) => line.includes(",identical,"))).toHaveLength(12);
    expect(demo.output).toContain(`export HSM2KMS_QUEUE_PREFIX=${prefix}`);

    const report = (await readFile(join(dir, "report.csv"), "utf8")).trim().split("\n");
    expect(report).toHaveLength(15);
    expect(report.filter((line) => line.includes(",migrated,"))).toHaveLength(13);
    expect(report.find((line) => line.startsWith("sample-ec-p256,"))).toContain(`,${renewal?.[2]},`);

    // The pack stands on its own: checked again offline with the signer's public key the demo saved.
    const verified = await runCli(
      ["evidence", "verify", join(dir, "evidence"), "--public-key", join(dir, "evidence-signer.der")],
      {},
    );
    expect(verified.code, verified.output).toBe(0);
  });

  it("runs again on the same directory: the token is reused, the campaign starts over", async () => {
    const again = await runCli(["sandbox", "demo", "--dir", dir, "--prefix", prefix], env, { bin: BIN });
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain("13 keys migrated and verified");
  });
});
