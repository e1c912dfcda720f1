import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ledger, ledgerHashTag } from "../../src/shared/ledger/index.js";
import { createRedisConnection } from "../../src/shared/redis.js";
import { type CliProcess, runCli, spawnCli } from "../helpers/cli.js";
import { addMixedKeys, cliEnvironment, manifestFor, waitFor } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { type LocalRedisCluster, startRedisCluster } from "../helpers/redis-cluster.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

let cluster: LocalRedisCluster;
let token: TestToken;
let emulator: KmsEmulator;
const spawned: CliProcess[] = [];
const clusters: LocalRedisCluster[] = [];

beforeAll(async () => {
  [cluster, token, emulator] = await Promise.all([
    startRedisCluster(3),
    createTestToken(),
    startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true }),
  ]);
});

afterAll(async () => {
  for (const worker of spawned) worker.child.kill("SIGKILL");
  for (const extra of clusters) await extra.stop();
  await emulator?.close();
  await cluster?.stop();
  await token?.cleanup();
});

describe("Redis Cluster", () => {
  it("runs the whole pipeline on a 3-master cluster, queues spread over slots, ledger in one", async () => {
    const env = cliEnvironment(token.env, emulator.url, undefined, { REDIS_URL: cluster.url });
    // The cluster's nodes keep nothing on disk: a worker refuses it at start-up naming every master (checked
    // while the keys are made, so it costs the test no time).
    const [refused, keys] = await Promise.all([
      runCli(["worker", "--until-idle"], { ...env, HSM2KMS_ALLOW_VOLATILE_REDIS: "false" }),
      addMixedKeys(token.env, "cluster", 6),
    ]);
    expect(refused.code, refused.output).toBe(2);
    expect(refused.output.match(/the master 127\.0\.0\.1:\d+: it has no AOF/g)).toHaveLength(3);
    const manifest = join(token.dir, "cluster.csv");
    await writeFile(manifest, manifestFor(keys));
    const enqueued = await runCli(["enqueue", manifest], env);
    expect(enqueued.code, enqueued.output).toBe(0);
    const migrated = await runCli(["worker", "--until-idle"], env);
    expect(migrated.code, migrated.output).toBe(0);

    const redis = createRedisConnection(cluster.url);
    try {
      const ledger = new Ledger(redis, "hsm2kms");
      expect((await ledger.counts()).byStatus).toEqual({ migrated: 6 });
      // Every queue's keys share a slot (hash tag); different queues land on different slots.
      const slots = await Promise.all(
        ["{preflight-us-east-1}", "{wrap-us-east-1}", "{verify-us-east-1}"].map((tag) =>
          redis.call("CLUSTER", "KEYSLOT", tag),
        ),
      );
      expect(new Set(slots).size).toBe(3);
    } finally {
      redis.disconnect();
    }
    const report = await runCli(["report"], env);
    expect(
      report.output
        .trim()
        .split("\n")
        .slice(1)
        .filter((line) => line.includes(",migrated,")),
    ).toHaveLength(6);
  });

  it("survives the loss of the master that holds the ledger: its replica takes over and the run completes", async () => {
    const withReplicas = await startRedisCluster(3, 1);
    clusters.push(withReplicas);
    try {
      const keys = await addMixedKeys(token.env, "failover", 12);
      const manifest = join(token.dir, "failover.csv");
      await writeFile(manifest, manifestFor(keys));
      const env = cliEnvironment(token.env, emulator.url, "failover", {
        REDIS_URL: withReplicas.url,
        HSM2KMS_JOB_LOCK: "3s",
      });
      expect((await runCli(["enqueue", manifest], env)).code).toBe(0);
      const worker = spawnCli(["worker"], env);
      spawned.push(worker);
      const redis = createRedisConnection(withReplicas.url);
      try {
        const ledger = new Ledger(redis, "failover");
        const migrated = async () => (await ledger.counts()).byStatus["migrated"] ?? 0;
        try {
          await waitFor(async () => (await migrated()) >= 3, 30_000, "3 keys migrated");
          const ledgerMaster = await withReplicas.masterFor(ledgerHashTag("failover"));
          // A clean failover: the replica holds what the master had (losing the last writes is another test).
          await withReplicas.replicated(ledgerMaster);
          withReplicas.kill(ledgerMaster);
          const killed = Date.now();
          await waitFor(
            async () => (await migrated()) === 12,
            60_000,
            "all 12 keys migrated after the failover",
          );
          console.info(
            `failover: the run completed ${((Date.now() - killed) / 1000).toFixed(1)} s after the ledger's master was killed`,
          );
        } catch (error) {
          throw new Error(`${(error as Error).message}; the worker said:\n${worker.output().slice(-2500)}`);
        }
        expect((await ledger.counts()).byStatus).toEqual({ migrated: 12 });
      } finally {
        redis.disconnect();
        worker.child.kill("SIGKILL");
      }
    } finally {
      await withReplicas.stop();
    }
  }, 120_000);
});
