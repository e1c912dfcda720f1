import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliProcess, runCli, spawnCli } from "../helpers/cli.js";
import { addMixedKeys, cliEnvironment, manifestFor, testLedger, waitFor } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

let token: TestToken;
let emulator: KmsEmulator;
const prefixes: string[] = [];
const workers: CliProcess[] = [];

beforeAll(async () => {
  token = await createTestToken();
  // Every KMS call takes 400 ms: a SIGTERM always finds phases in flight.
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true, latencyMs: 400 });
});

afterAll(async () => {
  for (const worker of workers) worker.child.kill("SIGKILL");
  await emulator?.close();
  for (const prefix of prefixes) {
    await wipeCampaign(prefix);
  }
  await token?.cleanup();
});

async function setUp(label: string, count: number) {
  const prefix = randomPrefix(label);
  prefixes.push(prefix);
  const env = cliEnvironment(token.env, emulator.url, prefix, {
    HSM2KMS_LOG_LEVEL: "info",
    HSM2KMS_JOB_LOCK: "2s",
  });
  const manifest = join(token.dir, `${label}.csv`);
  await writeFile(manifest, manifestFor(await addMixedKeys(token.env, label, count)));
  expect((await runCli(["enqueue", manifest], env)).code).toBe(0);
  const { redis, ledger } = testLedger(prefix);
  const counts = async () => (await ledger.counts()).byStatus;
  return { env, counts, close: () => redis.disconnect() };
}

describe("graceful shutdown", () => {
  it("SIGTERM stops taking work, lets running phases finish, exits 0; a new worker finishes the rest", async () => {
    const run = await setUp("term", 6);
    try {
      const worker = spawnCli(["worker"], run.env);
      workers.push(worker);
      await waitFor(async () => ((await run.counts())["in_progress"] ?? 0) > 0, 30_000, "work in progress");
      worker.child.kill("SIGTERM");
      expect(await worker.exited).toBe(0);
      expect(worker.output()).toContain("stopping: no new work");
      const after = await runCli(["worker", "--until-idle"], run.env);
      expect(after.code, after.output).toBe(0);
      expect(await run.counts()).toEqual({ migrated: 6 });
    } finally {
      run.close();
    }
  });

  it("past the shutdown deadline the worker forces its way out; the jobs it held come back after the lock expires", async () => {
    const run = await setUp("force", 4);
    try {
      const worker = spawnCli(["worker", "--shutdown-deadline", "0.1"], run.env);
      workers.push(worker);
      // A KMS call has reached the emulator: a create phase is in flight, with more 400 ms calls to make.
      // (A key "in_progress" alone may be between two phases, with nothing running.)
      const callsBefore = emulator.stats().total.calls;
      await waitFor(async () => emulator.stats().total.calls > callsBefore, 30_000, "a KMS call in flight");
      worker.child.kill("SIGTERM");
      await worker.exited;
      expect(worker.output()).toContain("running phases did not finish before the deadline");
      const after = await runCli(["worker", "--until-idle"], run.env);
      expect(after.code, after.output).toBe(0);
      expect(await run.counts()).toEqual({ migrated: 4 });
    } finally {
      run.close();
    }
  });
});
