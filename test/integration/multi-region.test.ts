import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  GetPublicKeyCommand,
  KMSClient,
} from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { runCli } from "../helpers/cli.js";
import { cliEnvironment, testLedger } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { TEST_CREDENTIALS } from "../helpers/pipeline.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

const REGIONS = ["us-east-1", "us-west-2", "eu-west-1"];
let token: TestToken;
let emulator: KmsEmulator;
const prefix = randomPrefix("mrk");

beforeAll(async () => {
  token = await createTestToken({ keys: ["sample-ec-p256", "sample-hmac-256", "sample-aes-256"] });
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true });
});

afterAll(async () => {
  await emulator?.close();
  await wipeCampaign(prefix);
  await token?.cleanup();
});

async function records(): Promise<MigrationRecord[]> {
  const { redis, ledger } = testLedger(prefix);
  const all: MigrationRecord[] = [];
  for await (const record of ledger.records()) all.push(record);
  redis.disconnect();
  return all;
}

const kms = (region: string) =>
  new KMSClient({ region, endpoint: emulator.url, credentials: TEST_CREDENTIALS, maxAttempts: 1 });

describe("multi-Region keys", () => {
  it("imports the same HSM key into the primary and every replica, each with its own token and wrap, and verifies each", async () => {
    // eu-west-1 already has alias/mrk/ec for another key: that replica fails, the others must not be undone.
    const eu = kms("eu-west-1");
    const squatter = await eu.send(
      new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }),
    );
    await eu.send(
      new CreateAliasCommand({ AliasName: "alias/mrk/ec", TargetKeyId: squatter.KeyMetadata?.KeyId }),
    );

    const manifest = join(token.dir, "mrk.csv");
    await writeFile(
      manifest,
      "source_label,multi_region,replica_regions,alias,region\n" +
        "sample-ec-p256,true,us-west-2;eu-west-1,alias/mrk/ec,us-east-1\n" +
        "sample-hmac-256,true,us-west-2;eu-west-1,alias/mrk/mac,us-east-1\n" +
        "sample-aes-256,true,us-west-2;eu-west-1,alias/mrk/aes,us-east-1\n",
    );
    const env = cliEnvironment(token.env, emulator.url, prefix);
    const enqueued = await runCli(["enqueue", manifest], env);
    expect(enqueued.output).toContain("3 rows accepted (9 queued, 0 already known), 0 rejected");

    const first = await runCli(["worker", "--until-idle"], env);
    expect(first.code).toBe(1); // the one replica whose alias is taken
    const afterFirst = await records();
    expect(
      afterFirst
        .filter((record) => record.status === "failed")
        .map((record) => [record.source.label, record.region, record.error?.code]),
    ).toEqual([["sample-ec-p256", "eu-west-1", "ALIAS_TAKEN"]]);
    expect(afterFirst.filter((record) => record.status === "migrated")).toHaveLength(8);

    // Fix the cause; retry re-queues only what is missing.
    await eu.send(new DeleteAliasCommand({ AliasName: "alias/mrk/ec" }));
    const retried = await runCli(["retry", "--failed"], env);
    expect(retried.output).toContain("1 failed keys re-queued, 0 left alone");
    expect((await runCli(["worker", "--until-idle"], env)).code).toBe(0);

    const all = await records();
    expect(all.map((record) => record.status)).toEqual(Array(9).fill("migrated"));
    for (const label of ["sample-ec-p256", "sample-hmac-256", "sample-aes-256"]) {
      const family = all.filter((record) => record.source.label === label);
      expect(family.map((record) => record.region).sort()).toEqual([...REGIONS].sort());
      const primary = family.find((record) => !record.replicaOf)!;
      expect(primary.region).toBe("us-east-1");
      for (const replica of family.filter((record) => record.replicaOf)) {
        expect(replica.replicaOf).toBe(primary.id);
        expect(replica.kmsKeyId).toBe(primary.kmsKeyId);
        expect(replica.kmsKeyArn).toContain(`:${replica.region}:`);
        expect(replica.verified).toBe(primary.verified);
      }
    }
    // The EC replicas hold the HSM's key: their public key is the HSM's, Region by Region.
    const ec = all.filter((record) => record.source.label === "sample-ec-p256");
    for (const record of ec) {
      const client = kms(record.region);
      const publicKey = await client.send(new GetPublicKeyCommand({ KeyId: record.kmsKeyId }));
      expect(Buffer.from(publicKey.PublicKey ?? []).toString("base64")).toBe(
        record.sourceKey?.publicKeySpkiB64,
      );
      client.destroy();
    }
    // Each Region fetched its own import parameters, one set per key (the failed replica never got as far).
    for (const region of REGIONS)
      expect(emulator.stats().regions[region]?.["GetParametersForImport"]?.calls, region).toBe(3);
    const report = await runCli(["report"], env);
    expect(report.output.trim().split("\n").slice(1)).toHaveLength(9);
    eu.destroy();
  }, 180_000);
});
