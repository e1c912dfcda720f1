import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { enqueueManifest } from "../../src/campaign/enqueue.js";
import { Ledger, ledgerKey } from "../../src/shared/ledger/index.js";
import { PhaseQueues, phaseJobId } from "../../src/shared/queues.js";
import { Figures } from "../helpers/chaos/figures.js";
import { addToFigures, checkInvariants } from "../helpers/chaos/invariants.js";
import { runKillTrial } from "../helpers/chaos/kill-trial.js";
import { chaosSeed, chaosTrials, seededRandom } from "../helpers/chaos/random.js";
import { WorkerProcesses } from "../helpers/chaos/worker-processes.js";
import { cliEnvironment, manifestFor } from "../helpers/fleet.js";
import { startKmsEmulator } from "../helpers/kms-emulator.js";
import { randomPrefix, TEST_REDIS_URL, wipeCampaign } from "../helpers/redis.js";
import { reliabilityBench } from "../helpers/reliability-bench.js";

const seed = chaosSeed("worker kills");
const trials = chaosTrials(3);
const figures = new Figures(`worker processes SIGKILLed at random points (seed ${seed})`);
const bench = reliabilityBench({ keys: { mixed: { label: "kill", count: 6 } }, figures });

describe("worker processes SIGKILLed in every phase", () => {
  it(`${trials} seeded trials: no key lost, none duplicated, no orphan, nothing left in the HSM`, async () => {
    const rng = seededRandom(seed);
    for (let trial = 0; trial < trials; trial++) {
      const report = await runKillTrial({
        rng,
        trial,
        token: bench.token,
        keys: bench.keys,
        hsmObjectsBefore: bench.objectsBefore,
        figures,
        // Two kills per trial: no job can stall three times, so no key is given up (that has its own test).
        kills: 2,
      });
      expect(report.problems, `trial ${trial} (seed ${seed})`).toEqual([]);
      expect(report.migrated).toBe(bench.keys.length);
    }
  }, 600_000);

  it("a job whose worker is killed three times (the queue gives the job up) ends with the key failed with a reason, not stuck in progress", async () => {
    // GetPublicKey (verify) answers after 6 s: a long, side-effect-free phase to kill the worker in.
    const emulator = await startKmsEmulator({
      quotas: false,
      acceptKwpZeroPadding: true,
      beforeOperation: async ({ operation }) => {
        if (operation === "GetPublicKey") await sleep(6000);
      },
    });
    const prefix = randomPrefix("stall");
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queues = new PhaseQueues(redis, prefix);
    const env = cliEnvironment(bench.token.env, emulator.url, prefix, {
      HSM2KMS_JOB_LOCK: "1s",
      HSM2KMS_LOG_LEVEL: "info",
    });
    const workers = new WorkerProcesses(env);
    const last = new WorkerProcesses(env, ["worker", "--until-idle"]);
    const key = bench.keys.slice(0, 1);
    try {
      await enqueueManifest(Readable.from([manifestFor(key)]), {
        defaultRegion: "us-east-1",
        ledger: new Ledger(redis, prefix),
        queues,
      });
      const [id] = await redis.zrange(ledgerKey(prefix, "ids"), "0", "0");
      const jobId = phaseJobId({ id: id ?? "", generation: 0 }, "verify");
      // A killed worker's job still looks active until it is found stalled: count starts, not active jobs.
      const starts = async () =>
        (await queues.queue("verify", "us-east-1").getJob(jobId))?.attemptsStarted ?? 0;
      for (let kill = 0; kill < 3; kill++) {
        const before = await starts();
        workers.start(1);
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && (await starts()) <= before) await sleep(20);
        await workers.killAll();
        figures.fault("sigkill-during:verify (same job)");
      }
      last.start(1);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && last.running > 0) await sleep(100);
      const report = await checkInvariants({
        prefix,
        emulatorUrl: emulator.url,
        tokenEnv: bench.token.env,
        hsmObjectsBefore: bench.objectsBefore,
        expectedKeys: 1,
        allowedFailures: ["WORKER_LOST"],
      });
      figures.trials++;
      addToFigures(figures, report);
      expect(report.problems, last.output().slice(-2000)).toEqual([]);
      // BullMQ gives the job up after its third stall (maxStalledCount 2): the ledger must say so.
      const [record] = report.records;
      expect(record?.status).toBe("failed");
      expect(record?.error).toMatchObject({ code: "WORKER_LOST", phase: "verify" });
      expect(record?.error?.message).toContain("retry --failed");
    } finally {
      await workers.killAll();
      await last.killAll();
      await queues.close();
      redis.disconnect();
      await emulator.close();
      await wipeCampaign(prefix);
    }
  }, 180_000);
});
