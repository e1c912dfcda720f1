import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROVENANCE_TAGS } from "../../src/workers/phases/provenance.js";
import { runCli } from "../helpers/cli.js";
import { randomPrefix, TEST_REDIS_URL, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * Files a user points hsm2kms at that are not what it expects: the PIN file by mistake, endless devices,
 * folders. Every case runs the real CLI process and checks the exit code, the message, and that the
 * secret in the PIN file never comes out. No KMS is needed, and no Redis: each case fails before them.
 */
const SECRET = "Pa55w0rd!";
const OWN_TAGS = Object.keys(PROVENANCE_TAGS).length;
let dir: string;
let pinFile: string;
const env = () => ({ REDIS_URL: TEST_REDIS_URL, AWS_REGION: "us-east-1", HSM2KMS_LOG_LEVEL: "warn" });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsm2kms-hostile-files-"));
  pinFile = join(dir, "user.pin");
  await writeFile(pinFile, `cu1:${SECRET}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI cases at once (each is its own process) and returns their results in order. */
function runAll(cases: Array<{ args: string[]; env?: Record<string, string> }>) {
  return Promise.all(cases.map((entry) => runCli(entry.args, entry.env ?? env())));
}

describe("files that are not what hsm2kms expects", () => {
  it("never echoes a file: a PIN file named in a key_policy cell or as --mapping", async () => {
    const manifest = join(dir, "policy-row.csv");
    await writeFile(manifest, `source_label,key_policy\nk1,${pinFile}\n`);
    const [cell, mapping] = await runAll([
      { args: ["enqueue", "--dry-run", manifest] },
      { args: ["inventory", "--mapping", pinFile] },
    ]);
    for (const result of [cell, mapping]) {
      expect(result!.output).not.toContain(SECRET);
      expect(result!.output).not.toContain("cu1");
    }
    const notJson = "is not valid JSON: line 1, column 1: expected a JSON value";
    expect(cell!.code, cell!.output).toBe(1);
    expect(cell!.output).toContain(`line 2, column key_policy: key policy ${pinFile} ${notJson}`);
    expect(mapping!.code, mapping!.output).toBe(2);
    expect(mapping!.output).toContain(`--mapping ${pinFile} ${notJson}`);
  });

  it("reads a PIN file with a cap and says it; a manifest that is a folder is exit 2", async () => {
    const [pin, folder] = await runAll([
      { args: ["config"], env: { ...env(), ...hsmEnv("/dev/zero") } },
      { args: ["enqueue", "--dry-run", dir] },
    ]);
    expect(pin!.code, pin!.output).toBe(2);
    expect(pin!.output).toContain('HSM2KMS_PKCS11_PIN_FILE="/dev/zero" is larger than 4 KiB');
    expect(folder!.code, folder!.output).toBe(2);
    expect(folder!.output).toContain(`manifest ${dir} is a folder`);
  });

  it("checks --out before any work: a missing folder, a full device (exit 2, no crash)", async () => {
    const missing = join(dir, "no-such-folder", "out.csv");
    const [audit, full] = await runAll([
      { args: ["audit", "--out", missing] },
      { args: ["report", "--out", "/dev/full"] },
    ]);
    for (const result of [audit, full]) expect(result!.output).not.toContain("Unhandled 'error' event");
    expect(audit!.code, audit!.output).toBe(2);
    expect(audit!.output).toContain(`--out ${missing} cannot be written (ENOENT: its folder does not exist)`);
    expect(full!.code, full!.output).toBe(2);
    expect(full!.output).toContain("--out /dev/full cannot be written (ENOSPC: no space left on the device)");
  });

  it("counts hsm2kms's provenance tags against KMS's 50; names a mapping rule that is null", async () => {
    const tags = (count: number) => Array.from({ length: count }, (_, i) => `t${i}=v`).join(";");
    const manifest = join(dir, "tags.csv");
    await writeFile(
      manifest,
      `source_label,tags\nfits,${tags(50 - OWN_TAGS)}\ntoo-many,${tags(51 - OWN_TAGS)}\n`,
    );
    const mapping = join(dir, "null-rule.json");
    await writeFile(mapping, JSON.stringify({ rules: [{ alias: "alias/a/{label|slug}" }, null] }));
    const [tagged, nullRule] = await runAll([
      { args: ["enqueue", "--dry-run", manifest] },
      { args: ["inventory", "--mapping", mapping] },
    ]);
    expect(tagged!.code, tagged!.output).toBe(1);
    expect(tagged!.output).toContain(
      `line 3, column tags: ${51 - OWN_TAGS} tags; expected at most ${50 - OWN_TAGS} (KMS allows 50 per key and hsm2kms adds ${OWN_TAGS} provenance tags of its own)`,
    );
    expect(tagged!.output).toContain("1 rows valid, 1 rejected");
    expect(nullRule!.code, nullRule!.output).toBe(2);
    expect(nullRule!.output).toContain("mapping rules[1] is null; expected an object");
    expect(nullRule!.output).not.toContain("Cannot read properties");
  });
});

describe("configuration problems are exit 2, naming what to fix", () => {
  let token: TestToken;
  const prefix = randomPrefix("hostile-files");
  beforeAll(async () => {
    token = await createTestToken({ keys: ["sample-ec-p256", "sample-hmac-256"] });
  });
  afterAll(async () => {
    await token?.cleanup();
    await wipeCampaign(prefix);
  });
  const tokenEnv = (change: Record<string, string | undefined>) => {
    const merged: Record<string, string | undefined> = { ...env(), ...token.env, ...change };
    return Object.fromEntries(
      Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined),
    );
  };

  it("a wrong inline PIN, an unknown slot, a library that is not PKCS#11, a missing SOFTHSM2_CONF, migrate without an HSM, a metrics port in use", async () => {
    const notALibrary = join(dir, "not-pkcs11.so");
    await writeFile(notALibrary, "this is not a shared library\n");
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const busyPort = String((busy.address() as { port: number }).port);
    const metricsEnv = {
      ...env(),
      HSM2KMS_QUEUE_PREFIX: prefix,
      HSM2KMS_METRICS_HOST: "127.0.0.1",
      HSM2KMS_METRICS_PORT: busyPort,
      // The test Redis keeps no ledger on disk: allowed here, where only the metrics port is at stake.
      HSM2KMS_ALLOW_VOLATILE_REDIS: "true",
    };
    const [pin, slot, library, conf, migrate, metrics] = await runAll([
      {
        args: ["inventory"],
        env: tokenEnv({ HSM2KMS_PKCS11_PIN_FILE: undefined, HSM2KMS_PKCS11_PIN: "wrong-pin-0000" }),
      },
      { args: ["inventory"], env: tokenEnv({ HSM2KMS_TOKEN_LABEL: undefined, HSM2KMS_PKCS11_SLOT: "4242" }) },
      { args: ["inventory"], env: tokenEnv({ HSM2KMS_PKCS11_LIB: notALibrary }) },
      { args: ["inventory"], env: tokenEnv({ SOFTHSM2_CONF: join(dir, "missing.conf") }) },
      { args: ["migrate", join(dir, "never-read.csv")], env: env() },
      { args: ["worker", "--until-idle", "--phases", "create"], env: metricsEnv },
    ]).finally(() => busy.close());
    expect(pin!.code, pin!.output).toBe(2);
    expect(pin!.output).toContain(
      "the HSM token refused the PIN from HSM2KMS_PKCS11_PIN (CKR_PIN_INCORRECT)",
    );
    expect(pin!.output).not.toContain("HSM2KMS_PKCS11_PIN_FILE");
    expect(pin!.output).not.toContain("wrong-pin-0000");
    expect(slot!.code, slot!.output).toBe(2);
    expect(slot!.output).toContain("no token with slot 4242");
    expect(slot!.output).toContain("check HSM2KMS_PKCS11_SLOT");
    expect(library!.code, library!.output).toBe(2);
    expect(library!.output).toContain(`cannot load the PKCS#11 library ${notALibrary}`);
    expect(conf!.code, conf!.output).toBe(2);
    expect(conf!.output).toMatch(/C_Initialize of .* failed .*SOFTHSM2_CONF/);
    expect(migrate!.code, migrate!.output).toBe(2);
    expect(migrate!.output).toContain("HSM2KMS_PKCS11_LIB is not set");
    expect(metrics!.code, metrics!.output).toBe(2);
    expect(metrics!.output).toContain(
      `cannot serve metrics on 127.0.0.1 port ${busyPort}: the port is in use`,
    );
  });

  it("inventory leaves out and names the rows enqueue would reject; what it writes enqueues cleanly", async () => {
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`t${i}`, "v"]));
    const mapping = join(dir, "bad-rows.json");
    await writeFile(
      mapping,
      JSON.stringify({
        rules: [
          { match: { keySpec: "HMAC_256" }, tags: many },
          { match: { label: "^sample-ec" }, tags: { "aws:team": "x", ok: "a*b" } },
        ],
      }),
    );
    const out = join(dir, "inventory.csv");
    const inventory = await runCli(["inventory", "--mapping", mapping, "--out", out], tokenEnv({}));
    expect(inventory.code, inventory.output).toBe(1);
    expect(inventory.output).toMatch(/left out: "sample-hmac-256" .*column tags: 60 tags; expected at most/);
    expect(inventory.output).toMatch(
      /left out: "sample-ec-p256" .*tag key "aws:team" starts with aws:.*tag "ok" has a value holding "\*"/,
    );
    expect(inventory.output).toContain("0 keys can be migrated, 0 cannot, 2 left out");
    const enqueued = await runCli(["enqueue", "--dry-run", out], env());
    expect(enqueued.code, enqueued.output).toBe(0);
    expect(enqueued.output).toContain("0 rows valid, 0 rejected");
  });
});

/** HSM settings where only the PIN file matters: it is read at start-up, before any library is loaded. */
function hsmEnv(pinFile: string): Record<string, string> {
  return {
    HSM2KMS_PKCS11_LIB: process.execPath,
    HSM2KMS_TOKEN_LABEL: "any",
    HSM2KMS_PKCS11_PIN_FILE: pinFile,
  };
}
