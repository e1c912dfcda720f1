import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPORT_COLUMNS } from "../../src/assurance/report-csv.js";
import { SAMPLE_KEYS } from "../../src/testkit/sample-keys.js";
import { CLI_ENTRY, runCli } from "../helpers/cli.js";
import { cliEnvironment, testLedger } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

const KEYS = [
  "sample-ec-p256",
  "sample-hmac-256",
  "sample-aes-256",
  "sample-ec-p256-nonextractable",
] as const;
let token: TestToken;
let emulator: KmsEmulator;
const prefixes: string[] = [];

beforeAll(async () => {
  token = await createTestToken({ keys: [...KEYS] });
  emulator = await startKmsEmulator({ acceptKwpZeroPadding: true, quotas: false });
});

afterAll(async () => {
  await emulator?.close();
  for (const prefix of prefixes) {
    await wipeCampaign(prefix);
  }
  await token?.cleanup();
});

function environment(extra: Record<string, string> = {}): Record<string, string> {
  const prefix = randomPrefix("cli");
  prefixes.push(prefix);
  return cliEnvironment(token.env, emulator.url, prefix, extra);
}

describe("inventory, enqueue --dry-run/--preflight, migrate, retry", () => {
  let inventoryPath: string;

  it("inventory lists the migratable keys as a manifest and the others with the reason", async () => {
    inventoryPath = join(token.dir, "inventory.csv");
    const result = await runCli(["inventory", "--out", inventoryPath], environment());
    expect(result.code, result.output).toBe(0);
    const manifest = await readFile(inventoryPath, "utf8");
    const lines = manifest.trim().split("\n");
    expect(lines[0]).toContain("source_label,source_id,key_spec,key_usage,alias");
    expect(lines).toHaveLength(4);
    expect(manifest).toContain(
      `sample-ec-p256,${SAMPLE_KEYS["sample-ec-p256"].idHex},ECC_NIST_P256,SIGN_VERIFY,alias/sample-ec-p256`,
    );
    expect(manifest).toContain("sample-aes-256");
    expect(manifest).not.toContain("nonextractable");
    expect(result.output).toMatch(/cannot migrate: sample-ec-p256-nonextractable .*CKA_EXTRACTABLE is false/);
  });

  it("enqueue --dry-run validates without touching Redis; --preflight says what each key would become", async () => {
    const env = environment();
    const dry = await runCli(["enqueue", "--dry-run", inventoryPath], env);
    expect(dry.code, dry.output).toBe(0);
    expect(dry.output).toContain("3 rows valid, 0 rejected (dry run: nothing enqueued)");
    const { redis, ledger } = testLedger(env["HSM2KMS_QUEUE_PREFIX"] ?? "");
    expect(await ledger.size()).toBe(0);
    redis.disconnect();

    const manifest = join(token.dir, "preflight.csv");
    await writeFile(
      manifest,
      "source_label,key_usage\nsample-hmac-256,\nsample-ec-p256-nonextractable,\nmissing-key,\nsample-aes-256,SIGN_VERIFY\n",
    );
    const preflight = await runCli(["enqueue", "--preflight", manifest], env);
    expect(preflight.code).toBe(1);
    expect(preflight.output).toContain(
      "line 2, sample-hmac-256: HMAC_256 GENERATE_VERIFY_MAC, wrapped as RSAES_OAEP_SHA_1 (oaep-direct)",
    );
    expect(preflight.output).toMatch(
      /line 3, sample-ec-p256-nonextractable: cannot be migrated: SOURCE_KEY_NOT_EXTRACTABLE/,
    );
    expect(preflight.output).toMatch(/line 4, missing-key: cannot be migrated: SOURCE_KEY_NOT_FOUND/);
    expect(preflight.output).toMatch(
      /line 5, sample-aes-256: cannot be migrated: KEY_USAGE_INVALID: .*expected one of ENCRYPT_DECRYPT/,
    );
  });

  it("migrate runs everything on one host and ends with one line per key and the report", async () => {
    const env = environment();
    const out = join(token.dir, "report.csv");
    const result = await runCli(["migrate", inventoryPath, "--out", out], env);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/sample-ec-p256\s+migrated\s+\S+\s+RSA_AES_KEY_WRAP_SHA_1\s+true/);
    expect(result.output).toMatch(/sample-aes-256\s+migrated\s+\S+\s+RSAES_OAEP_SHA_1\s+roundtrip/);
    const report = (await readFile(out, "utf8")).trim().split("\n");
    expect(report[0]).toBe(REPORT_COLUMNS.join(","));
    expect(report.slice(1).every((line) => line.includes(",migrated,"))).toBe(true);

    const audit = await runCli(["audit", "--json"], env);
    expect(audit.code, audit.output).toBe(0);
    const summary = JSON.parse(audit.output.slice(audit.output.indexOf("{"))) as {
      audited: number;
      problems: number;
      keys: Array<{ source_label: string; result: string }>;
    };
    expect(summary).toMatchObject({ audited: 3, problems: 0, notMigrated: 0 });
    expect(summary.keys.find((key) => key.source_label === "sample-aes-256")?.result).toBe("not-comparable");
  });

  it("keys that failed on a KMS outage are re-queued by retry --failed and migrate; permanent failures are left alone", async () => {
    const broken = await startKmsEmulator({ quotas: false, faultRate: 1 });
    try {
      const env = environment({ HSM2KMS_KMS_ENDPOINT: broken.url, HSM2KMS_MAX_ATTEMPTS: "2" });
      const manifest = join(token.dir, "outage.csv");
      await writeFile(manifest, "source_label\nsample-ec-p256\nsample-ec-p256-nonextractable\n");
      const failed = await runCli(["migrate", manifest], { ...env, HSM2KMS_LOG_LEVEL: "info" });
      expect(failed.code).toBe(1);
      expect(failed.output).toMatch(/sample-ec-p256\s+failed.*KMS_UNAVAILABLE/);
      // The retry's log line says which key, which call, where to and why: not only a code and an id.
      const retrying = failed.output
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((entry) => String(entry["msg"]).startsWith("retrying"));
      expect(retrying).toMatchObject({
        label: "sample-ec-p256",
        region: "us-east-1",
        code: "KMS_UNAVAILABLE",
        endpoint: broken.url,
      });
      expect(String(retrying?.["operation"])).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(String(retrying?.["msg"])).toMatch(
        /^retrying source key label "sample-ec-p256" \(\w+, us-east-1\) in \d+s: KMS_UNAVAILABLE from [A-Za-z]+ at http:\/\/\S+: .*\S/,
      );

      const healthy = { ...env, HSM2KMS_KMS_ENDPOINT: emulator.url };
      const retry = await runCli(["retry", "--failed", "--json"], healthy);
      const retried = JSON.parse(retry.output.slice(retry.output.indexOf("{"))) as unknown;
      expect(retried).toMatchObject({
        requeued: 1,
        leftAlone: [{ region: "us-east-1", code: "SOURCE_KEY_NOT_EXTRACTABLE" }],
      });
      expect(retry.output).toMatch(/left alone: sample-ec-p256-nonextractable .*SOURCE_KEY_NOT_EXTRACTABLE/);
      const rerun = await runCli(["worker", "--until-idle"], healthy);
      expect(rerun.code).toBe(1); // the non-extractable key stays failed
      const status = await runCli(["status"], healthy);
      expect(status.output).toContain("2 keys in us-east-1: 1 migrated, 1 failed");
      expect(status.output).toContain("SOURCE_KEY_NOT_EXTRACTABLE");
    } finally {
      await broken.close();
    }
  });

  it("enqueue --json, readable logs on a terminal, and a closed pipe ends a command quietly", async () => {
    const env = environment({ HSM2KMS_LOG_LEVEL: "info" });
    const manifest = join(token.dir, "one-key.csv");
    await writeFile(manifest, "source_label\nsample-hmac-256\n");
    const enqueued = await runCli(["enqueue", "--json", manifest], env);
    expect(enqueued.code, enqueued.output).toBe(0);
    expect(JSON.parse(enqueued.output.slice(enqueued.output.indexOf("{\n")))).toEqual({
      dryRun: false,
      accepted: 1,
      rejected: 0,
      queued: 1,
      alreadyKnown: 0,
    });
    // The test Redis keeps nothing on disk: enqueue warns about it, in JSON where stderr is a pipe...
    expect(enqueued.output).toMatch(/^\{"level":40,.*"msg":"Redis can lose the ledger /m);

    const shell = (command: string, extra: Record<string, string> = {}) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          "bash",
          ["--norc", "--noprofile", "-c", command],
          {
            env: {
              PATH: process.env["PATH"] ?? "",
              NODE_NO_WARNINGS: "1",
              NODE_BIN: process.execPath,
              CLI: CLI_ENTRY,
              MANIFEST: manifest,
              ...env,
              ...extra,
            },
          },
          (error, stdout, stderr) => resolve({ code: Number(error?.code ?? 0), stdout, stderr }),
        );
      });
    // ...and as readable lines on a terminal (a pseudo-terminal from util-linux's script).
    const onTerminal = await shell(`script -qec '"$NODE_BIN" "$CLI" enqueue "$MANIFEST"' /dev/null`);
    expect(onTerminal.code, onTerminal.stdout).toBe(0);
    expect(onTerminal.stdout).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} \S*WARN\b.* producer: Redis can lose the ledger /m,
    );
    expect(onTerminal.stdout).not.toContain('"level"');
    expect(onTerminal.stdout).toContain("1 rows accepted (0 queued, 1 already known), 0 rejected");
    // HSM2KMS_LOG_FORMAT forces either format.
    const forced = await shell(`"$NODE_BIN" "$CLI" enqueue "$MANIFEST"`, { HSM2KMS_LOG_FORMAT: "pretty" });
    expect(forced.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}producer: Redis can lose the ledger /m);

    // `| true` closes the pipe before the CLI (a few hundred ms to start) writes: EPIPE on every write.
    for (const args of ["report", "config"]) {
      const piped = await shell(`set -o pipefail; "$NODE_BIN" "$CLI" ${args} | true`);
      expect({ args, code: piped.code, stderr: piped.stderr }).toEqual({ args, code: 0, stderr: "" });
    }
  });
});
