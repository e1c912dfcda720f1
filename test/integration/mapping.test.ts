import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { cliEnvironment, testLedger } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { emulatorKms } from "../helpers/pipeline.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

let token: TestToken;
let emulator: KmsEmulator;
const prefix = randomPrefix("mapping");

beforeAll(async () => {
  token = await createTestToken({ keys: ["sample-ec-p256", "sample-hmac-256"] });
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true });
});

afterAll(async () => {
  await emulator?.close();
  await wipeCampaign(prefix);
  await token?.cleanup();
});

describe("inventory --mapping", () => {
  it("names, describes and tags every key from its HSM attributes, and the KMS keys carry them after migrate", async () => {
    const mappingPath = join(token.dir, "mapping.json");
    await writeFile(
      mappingPath,
      JSON.stringify({
        rules: [
          {
            match: { keySpec: "HMAC_256" },
            alias: "alias/mac/{label|slug}",
            tags: { kind: "{keyType|lower}", "hsm-id": "{id}" },
          },
        ],
        default: {
          alias: "alias/signing/{label|slug}",
          description: "{keySpec} key {label}",
          tags: { kind: "{keyType|lower}" },
        },
      }),
    );
    const env = cliEnvironment(token.env, emulator.url, prefix);
    const manifest = join(token.dir, "mapped.csv");
    const inventory = await runCli(["inventory", "--mapping", mappingPath, "--out", manifest], env);
    expect(inventory.code, inventory.output).toBe(0);
    const text = await readFile(manifest, "utf8");
    expect(text).toContain("alias/signing/sample-ec-p256,ECC_NIST_P256 key sample-ec-p256,kind=ec");
    expect(text).toMatch(/alias\/mac\/sample-hmac-256,,kind=generic_secret;hsm-id=[0-9a-f]+/);

    expect((await runCli(["migrate", manifest], env)).code).toBe(0);
    const { redis, ledger } = testLedger(prefix);
    const kms = emulatorKms(emulator.url);
    try {
      for await (const record of ledger.records()) {
        const key = await kms.describeKey(record.request.alias ?? "");
        expect(key?.keyId, record.request.alias).toBe(record.kmsKeyId);
        const tags = await kms.listResourceTags(record.kmsKeyId ?? "");
        expect(tags["kind"]).toBe(record.source.label === "sample-ec-p256" ? "ec" : "generic_secret");
      }
    } finally {
      kms.close();
      redis.disconnect();
    }
  });
});
