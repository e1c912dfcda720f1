import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trackChild } from "../helpers/chaos/children.js";
import { chaosSeed, seededRandom } from "../helpers/chaos/random.js";
import { runRedisLossTrial } from "../helpers/chaos/redis-loss-trial.js";
import { OwnRedis } from "../helpers/chaos/redis-server.js";
import { type CliProcess, runCli, spawnCli } from "../helpers/cli.js";
import { addMixedKeys, waitFor } from "../helpers/fleet.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

let token: TestToken;
const servers: OwnRedis[] = [];
const processes: CliProcess[] = [];

beforeAll(async () => {
  token = await createTestToken();
});

afterAll(async () => {
  for (const cli of processes) cli.child.kill("SIGKILL");
  for (const server of servers) await server.stop();
  await token?.cleanup();
});

async function ownRedis(persistence: "aof" | "none"): Promise<OwnRedis> {
  const server = await OwnRedis.start(persistence);
  servers.push(server);
  return server;
}

/** A manifest of two rows that enqueue accepts without an HSM (enqueue does not read the token). */
async function manifest(name: string): Promise<string> {
  const path = join(token.dir, `${name}.csv`);
  await writeFile(path, "source_label,alias\nk-one,alias/t/one\nk-two,alias/t/two\n");
  return path;
}

/** The environment of a command on one of the test's own Redis servers, without an HSM. */
function env(server: OwnRedis, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: server.url,
    HSM2KMS_QUEUE_PREFIX: "h2k-durability",
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    HSM2KMS_KMS_ENDPOINT: "http://127.0.0.1:9",
    HSM2KMS_LOG_LEVEL: "warn",
    ...extra,
  };
}

function spawnTracked(args: string[], environment: Record<string, string>): CliProcess {
  const cli = spawnCli(args, environment);
  trackChild(cli.child);
  processes.push(cli);
  return cli;
}

describe("a Redis that can lose the ledger", () => {
  it("enqueue refuses it (exit 2) naming the setting, unless HSM2KMS_ALLOW_VOLATILE_REDIS=true", async () => {
    const [volatile, evicting] = await Promise.all([ownRedis("none"), ownRedis("aof")]);
    const probe = new Redis(evicting.url);
    await probe.config("SET", "maxmemory-policy", "allkeys-lru");
    probe.disconnect();
    const path = await manifest("durability");
    const strict = { HSM2KMS_ALLOW_VOLATILE_REDIS: "false" };
    // Workers refuse it the same way (test/integration/redis-cluster.test.ts, on every master of a cluster).
    const [refused, evicted, allowed] = await Promise.all([
      runCli(["enqueue", path], env(volatile, strict)),
      runCli(["enqueue", path], env(evicting, strict)),
      runCli(["enqueue", path], env(volatile, { HSM2KMS_ALLOW_VOLATILE_REDIS: "true" })),
    ]);
    expect(refused.code, refused.output).toBe(2);
    expect(refused.output).toContain(`Redis at ${volatile.url} can lose the campaign's ledger`);
    expect(refused.output).toContain("aof_enabled:0");
    expect(refused.output).toContain("appendonly yes");
    expect(refused.output).toContain("HSM2KMS_ALLOW_VOLATILE_REDIS=true");
    expect(evicted.code, evicted.output).toBe(2);
    expect(evicted.output).toContain("maxmemory_policy:allkeys-lru");
    expect(evicted.output).toContain("maxmemory-policy noeviction");
    expect(evicted.output).not.toContain("aof_enabled");
    expect(allowed.code, allowed.output).toBe(0);
    expect(allowed.output).toContain("2 rows accepted (2 queued");
    expect(allowed.output).toContain(
      "Redis can lose the ledger (HSM2KMS_ALLOW_VOLATILE_REDIS=true accepts it)",
    );
  }, 60_000);

  it("lost under running workers (restarted empty): every worker exits 1 naming the lost campaign; status, report, retry and worker --until-idle exit 1", async () => {
    const keys = await addMixedKeys(token.env, "loss", 4);
    const report = await runRedisLossTrial({ rng: seededRandom(chaosSeed("redis loss")), token, keys });
    expect(report.problems).toEqual([]);
    expect(report.kmsKeys).toBeGreaterThanOrEqual(report.finishedBeforeLoss);
  }, 120_000);
});

describe("a Redis that does not answer (SIGSTOP)", () => {
  it("commands time out with exit 1 naming the URL, status --watch shows the outage and keeps watching, a worker's SIGTERM keeps its deadline", async () => {
    const server = await ownRedis("aof");
    const quick = env(server, { HSM2KMS_REDIS_TIMEOUT: "1s" });
    const path = await manifest("stopped");
    await server.enqueue("h2k-durability", await readFile(path, "utf8"));
    const watch = spawnTracked(["status", "--watch", "--interval", "0.3"], quick);
    const worker = spawnTracked(
      ["worker", "--phases", "create", "--shutdown-deadline", "1"],
      env(server, { HSM2KMS_REDIS_TIMEOUT: "1s", HSM2KMS_LOG_LEVEL: "info" }),
    );
    await waitFor(
      async () => watch.output().includes("2 keys in") && worker.output().includes("worker started"),
      30_000,
      "status --watch and the worker to start",
    );

    server.pause();
    try {
      const commands = [["status"], ["report"], ["enqueue", path], ["retry", "--failed"]];
      commands.push(["worker", "--phases", "create", "--until-idle"]);
      const runs = Promise.all(commands.map((command) => runCli(command, quick)));
      await sleep(1500);
      worker.child.kill("SIGTERM");
      const gone = Symbol("still running");
      // Deadline 1 s; forcing is bounded too. The bound here is only there so a hang fails the test.
      const exited = await Promise.race([worker.exited, sleep(20_000, gone)]);
      expect(exited, worker.output()).not.toBe(gone);
      expect(worker.output()).toContain("stopping: no new work");
      for (const [n, run] of (await runs).entries()) {
        expect(run.code, `${commands[n]?.join(" ")}: ${run.output}`).toBe(1);
        expect(run.output).toContain(`Redis at ${server.url} did not answer`);
        expect(run.output).toContain("HSM2KMS_REDIS_TIMEOUT");
      }
      await waitFor(async () => watch.output().includes("did not answer"), 20_000, "the outage on screen");
      expect(watch.child.exitCode).toBeNull();
    } finally {
      server.resume();
    }
    const shownBefore = watch.output().length;
    await waitFor(
      async () => watch.output().slice(shownBefore).includes("2 keys in"),
      20_000,
      "status --watch to show the campaign again",
    );
    watch.child.kill("SIGINT");
    await watch.exited;
  }, 90_000);
});
