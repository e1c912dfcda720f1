import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { runCli } from "../helpers/cli.js";
import { cliEnvironment } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { deletePrefix, randomPrefix } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * `hsm2kms keymap` through the real CLI after a real campaign (one multi-Region EC key with a replica, one
 * HMAC key, one row whose key the HSM does not hold): each format parsed the way its consumer reads it.
 */
let token: TestToken;
let emulator: KmsEmulator;
let env: Record<string, string>;
const prefix = randomPrefix("keymap");

interface KeyJson {
  source_label: string;
  source_id: string;
  region: string;
  kms_key_id: string;
  kms_key_arn: string;
  alias?: string;
  key_spec: string;
  key_state: string;
  signing_algorithms?: string[];
  mac_algorithms?: string[];
  replicas: KeyJson[];
}

beforeAll(async () => {
  token = await createTestToken({ keys: ["sample-ec-p256", "sample-hmac-256"] });
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true });
  env = cliEnvironment(token.env, emulator.url, prefix);
  const manifest = join(token.dir, "keymap.csv");
  await writeFile(
    manifest,
    "source_label,multi_region,replica_regions,alias,region\n" +
      "sample-ec-p256,true,us-west-2,alias/keymap/ec,us-east-1\n" +
      "sample-hmac-256,false,,alias/keymap/mac,us-east-1\n" +
      "keymap-not-in-hsm,false,,,us-east-1\n",
  );
  expect((await runCli(["enqueue", manifest], env)).code).toBe(0);
  const worked = await runCli(["worker", "--until-idle"], env);
  expect(worked.code, worked.output).toBe(1); // the row whose key the HSM does not hold
}, 120_000);

afterAll(async () => {
  await emulator?.close();
  await deletePrefix(prefix);
  await deletePrefix(`{${prefix}.ledger}`);
  await token?.cleanup();
});

/** The JSON keymap, read once (each CLI run costs seconds on a loaded machine). */
let jsonKeys: KeyJson[] | undefined;
async function keysFromJson(): Promise<KeyJson[]> {
  jsonKeys ??= (JSON.parse((await keymap("json")).text) as { keys: KeyJson[] }).keys;
  return jsonKeys;
}

async function keymap(format: string): Promise<{ code: number | string; output: string; text: string }> {
  const out = join(token.dir, `keymap.${format}`);
  const run = await runCli(["keymap", "--format", format, "--out", out], env);
  return { ...run, text: await readFile(out, "utf8") };
}

describe("hsm2kms keymap", () => {
  it("maps each HSM key to its KMS key in JSON and YAML, replicas under their primary", async () => {
    const json = await keymap("json");
    expect(json.code, json.output).toBe(1);
    expect(json.output).toContain(
      "keymap: 2 keys (1 replicas) written; 1 not migrated (left out), 0 problems",
    );
    const keys = (JSON.parse(json.text) as { keys: KeyJson[] }).keys;
    jsonKeys = keys;
    expect(keys.map((key) => key.source_label)).toEqual(["sample-ec-p256", "sample-hmac-256"]);
    const [ec, mac] = keys as [KeyJson, KeyJson];
    expect(ec).toMatchObject({ region: "us-east-1", alias: "alias/keymap/ec", key_spec: "ECC_NIST_P256" });
    expect(ec.source_id).toMatch(/^[0-9a-f]+$/);
    expect(ec.kms_key_arn).toBe(`arn:aws:kms:us-east-1:111122223333:key/${ec.kms_key_id}`);
    expect(ec.signing_algorithms).toEqual(["ECDSA_SHA_256"]);
    expect(ec.replicas).toHaveLength(1);
    expect(ec.replicas[0]).toMatchObject({
      region: "us-west-2",
      kms_key_id: ec.kms_key_id,
      kms_key_arn: `arn:aws:kms:us-west-2:111122223333:key/${ec.kms_key_id}`,
      alias: "alias/keymap/ec",
      key_state: "Enabled",
    });
    expect(mac).toMatchObject({ key_spec: "HMAC_256", mac_algorithms: ["HMAC_SHA_256"], replicas: [] });
    expect(mac.signing_algorithms).toBeUndefined();

    const yaml = await keymap("yaml");
    expect(yaml.code).toBe(1);
    expect(parseYaml(yaml.text)).toEqual(JSON.parse(json.text));
  }, 60_000);

  it("writes env lines bash can source, with the same values", async () => {
    const keys = await keysFromJson();
    const env = await keymap("env");
    const file = join(token.dir, "keymap.env");
    const { stdout } = await promisify(execFile)("bash", [
      "-c",
      'set -eu; source "$1"; printf "%s\\n" "$KMS_KEY_SAMPLE_EC_P256_ARN" "$KMS_KEY_SAMPLE_EC_P256_US_WEST_2_ARN" "$KMS_KEY_SAMPLE_EC_P256_ALIAS" "$KMS_KEY_SAMPLE_HMAC_256_MAC_ALGORITHMS"',
      "bash",
      file,
    ]);
    expect(env.text).not.toMatch(/^[^#A-Z]/m);
    expect(stdout.trim().split("\n")).toEqual([
      keys[0]?.kms_key_arn,
      keys[0]?.replicas[0]?.kms_key_arn,
      "alias/keymap/ec",
      "HMAC_SHA_256",
    ]);
  }, 60_000);

  it("writes Terraform import blocks and resources whose addresses and references all resolve", async () => {
    const keys = await keysFromJson();
    const { text } = await keymap("terraform");
    // Every line is a comment, a blank, a block opening, a closing brace or `name = value`.
    for (const line of text.split("\n"))
      expect(line).toMatch(
        /^(\s*#.*|\s*|import \{|resource "[a-z_]+" "[a-z_][a-z0-9_-]*" \{|\s*(lifecycle |tags = )\{|\s*\}|\s*("[^"]+"|[a-z_]+)\s+= ("(?:[^"\\]|\\.)*"|true|false|\[[a-z_, ]*\]|[a-z_]+\.[a-z0-9_]+(?:\.[a-z_]+)?))$/,
      );
    let depth = 0;
    for (const char of text.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
      if (char === "{") depth++;
      if (char === "}") depth--;
      expect(depth).toBeGreaterThanOrEqual(0);
    }
    expect(depth).toBe(0);
    const declared = [...text.matchAll(/^resource "([a-z_]+)" "([a-z0-9_]+)"/gm)].map(
      (m) => `${m[1]}.${m[2]}`,
    );
    expect(declared.sort()).toEqual(
      [
        "aws_kms_alias.sample_ec_p256",
        "aws_kms_alias.sample_ec_p256_us_west_2",
        "aws_kms_alias.sample_hmac_256",
        "aws_kms_external_key.sample_ec_p256",
        "aws_kms_external_key.sample_hmac_256",
        "aws_kms_replica_external_key.sample_ec_p256_us_west_2",
      ].sort(),
    );
    const imported = [...text.matchAll(/^ {2}to = (\S+)$/gm)].map((m) => m[1]);
    expect(imported.sort()).toEqual(declared.sort());
    for (const [, address] of text.matchAll(/= ([a-z_]+\.[a-z0-9_]+)\.(?:arn|key_id)$/gm))
      expect(declared).toContain(address);
    expect(text).toContain(`id = "${keys[0]?.kms_key_id}@us-west-2"`);
    expect(text).toContain('id = "alias/keymap/mac@us-east-1"');
    expect(text).toMatch(/"hsm2kms:migration-id" = "[^"]+"/);
    expect(text).not.toContain("key_material_base64");
  }, 60_000);

  it("refuses an unknown format (exit 2)", async () => {
    const run = await runCli(["keymap", "--format", "xml"], env);
    expect(run.code).toBe(2);
    expect(run.output).toContain('--format "xml" is invalid: expected json, yaml, env, terraform');
  });
});
