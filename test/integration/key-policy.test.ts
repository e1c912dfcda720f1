import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GetKeyPolicyCommand, KMSClient } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readKeyPolicy } from "../../src/manifest/key-policy.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { runCli } from "../helpers/cli.js";
import { cliEnvironment, testLedger } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { TEST_CREDENTIALS } from "../helpers/pipeline.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

const policy = (sid: string) => ({
  Version: "2012-10-17",
  Statement: [
    {
      Sid: sid,
      Effect: "Allow",
      Principal: { AWS: "arn:aws:iam::111122223333:root" },
      Action: "kms:*",
      Resource: "*",
    },
  ],
});

let token: TestToken;
let emulator: KmsEmulator;
let dir: string;
const prefix = randomPrefix("policy");

beforeAll(async () => {
  token = await createTestToken({ keys: ["sample-ec-p256", "sample-hmac-256"] });
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true });
  dir = join(token.dir, "campaign");
  await mkdir(join(dir, "policies"), { recursive: true });
  await writeFile(join(dir, "policies/default.json"), JSON.stringify(policy("Default"), null, 2));
  await writeFile(join(dir, "policies/payments.json"), JSON.stringify(policy("Payments"), null, 2));
  await writeFile(join(dir, "policies/broken.json"), '{"Version": "2012-10-17", "Statement": [}');
  await writeFile(
    join(dir, "policies/old.json"),
    JSON.stringify({ ...policy("Old"), Version: "2008-10-17" }),
  );
});

afterAll(async () => {
  await emulator?.close();
  await wipeCampaign(prefix);
  await token?.cleanup();
});

describe("key policies", () => {
  it("readKeyPolicy checks the file and says what is wrong", async () => {
    expect(await readKeyPolicy(join(dir, "policies/default.json"))).toEqual({
      policy: JSON.stringify(policy("Default")),
    });
    expect(await readKeyPolicy(join(dir, "policies/broken.json"))).toMatchObject({
      // Where and what was expected: never JSON.parse's own message, which quotes the file.
      problem: expect.stringMatching(
        /broken\.json is not valid JSON: line 1, column 41: expected a JSON value/,
      ),
    });
    expect(await readKeyPolicy(join(dir, "policies/old.json"))).toMatchObject({
      problem: expect.stringContaining('Version "2008-10-17"; expected "2012-10-17"'),
    });
    expect(await readKeyPolicy(join(dir, "policies/none.json"))).toMatchObject({
      problem: expect.stringContaining("cannot be read (ENOENT: no such file)"),
    });
  });

  it("a bad --key-policy stops enqueue before anything is written (exit 2)", async () => {
    const env = cliEnvironment(token.env, emulator.url, prefix);
    const manifest = join(dir, "one.csv");
    await writeFile(manifest, "source_label\nsample-ec-p256\n");
    const result = await runCli(
      ["enqueue", manifest, "--key-policy", join(dir, "policies/broken.json")],
      env,
    );
    expect(result.code).toBe(2);
    expect(result.output).toContain("--key-policy: key policy");
    const { redis, ledger } = testLedger(prefix);
    expect(await ledger.size()).toBe(0);
    redis.disconnect();
  });

  it("CreateKey gets the row's key_policy, or --key-policy; a row naming a bad policy is rejected by line", async () => {
    const env = cliEnvironment(token.env, emulator.url, prefix);
    const manifest = join(dir, "keys.csv");
    await writeFile(
      manifest,
      "source_label,key_policy\nsample-ec-p256,policies/payments.json\nsample-hmac-256,\nsample-hmac-256-copy,policies/broken.json\n",
    );
    const enqueued = await runCli(
      ["enqueue", manifest, "--key-policy", join(dir, "policies/default.json")],
      env,
    );
    expect(enqueued.code).toBe(1);
    expect(enqueued.output).toMatch(/line 4, column key_policy: key policy .*broken\.json is not valid JSON/);
    expect(enqueued.output).toContain("2 rows accepted (2 queued, 0 already known), 1 rejected");
    expect((await runCli(["worker", "--until-idle"], env)).code).toBe(0);

    const { redis, ledger } = testLedger(prefix);
    const records: MigrationRecord[] = [];
    for await (const record of ledger.records()) records.push(record);
    redis.disconnect();
    const client = new KMSClient({
      region: "us-east-1",
      endpoint: emulator.url,
      credentials: TEST_CREDENTIALS,
      maxAttempts: 1,
    });
    const sidOf = async (label: string) => {
      const keyId = records.find((record) => record.source.label === label)?.kmsKeyId;
      const out = await client.send(new GetKeyPolicyCommand({ KeyId: keyId }));
      return (JSON.parse(out.Policy ?? "{}") as ReturnType<typeof policy>).Statement[0]?.Sid;
    };
    expect(await sidOf("sample-ec-p256")).toBe("Payments");
    expect(await sidOf("sample-hmac-256")).toBe("Default");
    client.destroy();
  });
});
