import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { enqueueManifest } from "../../../src/campaign/enqueue.js";
import { Ledger } from "../../../src/shared/ledger/index.js";
import { PHASES, type PhaseName } from "../../../src/shared/migration.js";
import { PhaseQueues } from "../../../src/shared/queues.js";
import type { SampleKey } from "../../../src/testkit/sample-keys.js";
import { cliEnvironment, manifestFor } from "../fleet.js";
import { startKmsEmulator } from "../kms-emulator.js";
import { randomPrefix, TEST_REDIS_URL, wipeCampaign } from "../redis.js";
import type { TestToken } from "../softhsm.js";
import type { Figures } from "./figures.js";
import { addToFigures, checkInvariants, type InvariantReport, pendingJobs } from "./invariants.js";
import type { Random } from "./random.js";
import { WorkerProcesses } from "./worker-processes.js";

export interface KillTrialOptions {
  rng: Random;
  trial: number;
  token: TestToken;
  keys: SampleKey[];
  hsmObjectsBefore: number;
  figures: Figures;
  /** SIGKILLs in this trial. @defaultValue 3 */
  kills?: number;
  /** Worker processes running at once. @defaultValue 2 */
  workers?: number;
  /** @defaultValue 120000 */
  timeoutMs?: number;
}

/** Phases with a job being processed right now (what a kill at this instant interrupts). */
async function activePhases(queues: PhaseQueues): Promise<Map<PhaseName, Set<string>>> {
  const active = new Map<PhaseName, Set<string>>();
  await Promise.all(
    PHASES.map(async (phase) => {
      const jobs = await queues.queue(phase, "us-east-1").getActive(0, 20);
      if (jobs.length > 0) active.set(phase, new Set(jobs.map((job) => job.id ?? "")));
    }),
  );
  return active;
}

/**
 * One seeded trial: enqueue the keys, run worker processes, SIGKILL them (all or one, as the seed says)
 * while a job of a chosen phase is being processed (after a seeded number of such jobs), restart them after a
 * seeded pause; wait for every key to finish; check every invariant. Everything started is stopped.
 */
export async function runKillTrial(options: KillTrialOptions): Promise<InvariantReport> {
  const { rng, figures } = options;
  const emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true, latencyMs: [5, 40] });
  const prefix = randomPrefix(`kill${options.trial}`);
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const queues = new PhaseQueues(redis, prefix);
  const env = cliEnvironment(options.token.env, emulator.url, prefix, {
    HSM2KMS_JOB_LOCK: "2s",
    HSM2KMS_LOG_LEVEL: "info",
    HSM2KMS_HSM_CONCURRENCY: "2",
    HSM2KMS_KMS_CONCURRENCY: "4",
    HSM2KMS_KMS_QUOTAS: "CreateKey=500,GetParametersForImport=500,ImportKeyMaterial=500,Sign=500",
  });
  const workers = new WorkerProcesses(env);
  const workerCount = options.workers ?? 2;
  try {
    await enqueueManifest(Readable.from([manifestFor(options.keys)]), {
      defaultRegion: "us-east-1",
      ledger: new Ledger(redis, prefix),
      queues,
    });
    workers.start(workerCount);
    const ledger = new Ledger(redis, prefix);
    const finished = async () => {
      const counts = await ledger.counts();
      return (counts.byStatus["migrated"] ?? 0) + (counts.byStatus["failed"] ?? 0);
    };

    for (let kill = 0; kill < (options.kills ?? 3); kill++) {
      await workers.waitUntilStarted();
      const target = rng.pick(PHASES);
      const hits = rng.int(1, 3);
      const seen = new Set<string>();
      const giveUpAt = Date.now() + 8000;
      let interrupted: PhaseName[] = [];
      while (Date.now() < giveUpAt && (await finished()) < options.keys.length) {
        const active = await activePhases(queues);
        for (const id of active.get(target) ?? []) seen.add(id);
        if (seen.size >= hits) {
          interrupted = [...active.keys()];
          break;
        }
        await sleep(10);
      }
      if ((await finished()) >= options.keys.length) break;
      if (interrupted.length === 0) interrupted = [...(await activePhases(queues)).keys()];
      const all = rng.chance(0.6);
      if (all) await workers.killAll();
      else await workers.kill(rng.int(0, workerCount - 1));
      figures.fault(all ? "sigkill:all-workers" : "sigkill:one-worker");
      for (const phase of interrupted) figures.fault(`sigkill-during:${phase}`);
      if (interrupted.length === 0) figures.fault("sigkill-during:(between jobs)");
      await sleep(rng.int(100, 1500));
      workers.start(workerCount - workers.running);
    }

    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    while (Date.now() < deadline) {
      if ((await finished()) >= options.keys.length && (await pendingJobs(prefix)) === 0) break;
      await sleep(200);
    }
    const codes = await workers.stop();
    const report = await checkInvariants({
      prefix,
      emulatorUrl: emulator.url,
      tokenEnv: options.token.env,
      hsmObjectsBefore: options.hsmObjectsBefore,
      expectedKeys: options.keys.length,
      // A job whose workers were killed under it three times is given up by the queue: the key fails with
      // WORKER_LOST (bounded, by design); any other failure is a problem.
      allowedFailures: ["WORKER_LOST"],
    });
    if ((await pendingJobs(prefix)) > 0) report.problems.push("jobs still pending after every key finished");
    // A worker restarted a moment ago may get SIGTERM before it installs its handler: it then dies by the
    // signal, holding nothing yet. Any other exit (1: a key failed; a crash) is a problem.
    if (codes.some((code) => code !== 0 && code !== "SIGTERM"))
      report.problems.push(`workers exited with ${codes.join(", ")}`);
    if (report.problems.length > 0)
      report.problems.push(`worker output (tail):\n${workers.output().slice(-4000)}`);
    figures.trials++;
    addToFigures(figures, report);
    return report;
  } finally {
    await workers.killAll();
    await queues.close();
    redis.disconnect();
    await emulator.close();
    await wipeCampaign(prefix);
  }
}
