import type { ChildProcess } from "node:child_process";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ledger } from "../../src/shared/ledger/index.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { CLI_ENTRY, runCli } from "../helpers/cli.js";
import { addMixedKeys, cliEnvironment, kmsKeysByMigration, manifestFor, waitFor } from "../helpers/fleet.js";
import { createTestNetwork, netnsUnavailable, type TestNetwork } from "../helpers/netns.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

const unavailable = await netnsUnavailable();
const WORKER_HOSTS = ["hsm1", "hsm2", "hsm3"];
const KEYS = 30;

let network: TestNetwork;
let token: TestToken;
const processes: Array<{ name: string; child: ChildProcess; output: string[] }> = [];

function start(host: string, command: string, args: string[], env: Record<string, string>) {
  const child = network.spawn(host, command, args, env);
  const entry = { name: host, child, output: [] as string[] };
  child.stdout?.on("data", (chunk) => entry.output.push(String(chunk)));
  child.stderr?.on("data", (chunk) => entry.output.push(String(chunk)));
  processes.push(entry);
  return entry;
}

/** A copy of the test token for a host: CloudHSM client hosts all see the same keys of one cluster. */
async function hostToken(host: string): Promise<Record<string, string>> {
  const dir = join(token.dir, host);
  await mkdir(dir, { recursive: true });
  await cp(join(token.dir, "tokens"), join(dir, "tokens"), { recursive: true });
  const conf = join(dir, "softhsm2.conf");
  await writeFile(
    conf,
    `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  return { ...token.env, SOFTHSM2_CONF: conf };
}

beforeAll(async () => {
  if (unavailable) return;
  network = await createTestNetwork(["redis", "kms", ...WORKER_HOSTS]);
  token = await createTestToken();
});

afterAll(async () => {
  for (const entry of processes) entry.child.kill("SIGKILL");
  await network?.destroy();
  await token?.cleanup();
});

async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  probe.on("error", () => undefined);
  const up = await probe.connect().then(
    () => true,
    () => false,
  );
  probe.disconnect();
  return up;
}

describe.skipIf(unavailable !== undefined)(
  `worker hosts on their own network addresses${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    it("a host cut off mid-run loses its jobs to the others; nothing is migrated twice and its return corrupts nothing", async () => {
      const redisHost = network.hosts.get("redis")!;
      const kmsHost = network.hosts.get("kms")!;
      start(
        "redis",
        "redis-server",
        [
          "--bind",
          redisHost.ip,
          "--port",
          "6379",
          "--save",
          "",
          "--appendonly",
          "no",
          "--protected-mode",
          "no",
        ],
        {},
      );
      start(
        "kms",
        process.execPath,
        [
          CLI_ENTRY,
          "kms-emulator",
          "--host",
          kmsHost.ip,
          "--port",
          "4599",
          "--no-quotas",
          "--accept-kwp-zero-padding",
        ],
        {},
      );
      const redisUrl = `redis://${redisHost.ip}:6379`;
      const kmsUrl = `http://${kmsHost.ip}:4599`;
      await waitFor(() => redisAnswers(redisUrl), 10_000, "Redis on its host");
      await waitFor(
        async () => (await fetch(kmsUrl, { method: "POST" }).catch(() => undefined)) !== undefined,
        15_000,
        "the emulator on its host",
      );

      const keys = await addMixedKeys(token.env, "hosts", KEYS);
      const manifest = join(token.dir, "hosts.csv");
      await writeFile(manifest, manifestFor(keys));
      const base = cliEnvironment(token.env, kmsUrl, "hosts", {
        REDIS_URL: redisUrl,
        HSM2KMS_JOB_LOCK: "3s",
        HSM2KMS_LOG_LEVEL: "info",
      });
      const enqueued = await runCli(["enqueue", manifest], base);
      expect(enqueued.code, enqueued.output).toBe(0);

      for (const host of WORKER_HOSTS)
        start(host, process.execPath, [CLI_ENTRY, "worker"], { ...base, ...(await hostToken(host)) });
      const redis = new Redis(redisUrl);
      const ledger = new Ledger(redis, "hosts");
      const finished = async () => {
        const counts = (await ledger.counts()).byStatus;
        return (counts["migrated"] ?? 0) + (counts["failed"] ?? 0);
      };
      await waitFor(async () => (await finished()) >= 6, 60_000, "6 keys migrated");
      await network.setLink("hsm2", false);
      await sleep(9000); // three lock durations: hsm2's jobs stall and move to the other hosts
      await network.setLink("hsm2", true);
      await waitFor(async () => (await finished()) === KEYS, 120_000, "every key finished");

      const records: MigrationRecord[] = [];
      for await (const record of ledger.records()) records.push(record);
      redis.disconnect();
      const notMigrated = records.filter((record) => record.status !== "migrated");
      expect(notMigrated.map((record) => `${record.source.label}: ${record.error?.message}`)).toEqual([]);
      // A late CreateKey from the cut-off host may leave a key scheduled for deletion, never a second live key.
      const { live, pendingDeletion } = await kmsKeysByMigration(kmsUrl);
      for (const record of records)
        expect(live.get(record.id), record.source.label).toEqual([record.kmsKeyId]);
      expect([...live.keys()].filter((id) => !records.some((record) => record.id === id))).toEqual([]);
      const hsm2 = processes.find((entry) => entry.name === "hsm2")!;
      const lockLines = hsm2.output
        .join("")
        .split("\n")
        .filter((line) => /lock|changed by another worker/i.test(line));
      console.info(
        `hsm2 after its return: ${lockLines.length} log lines about lost locks; ${pendingDeletion} orphan keys cleaned up`,
      );
    }, 240_000);
  },
);
