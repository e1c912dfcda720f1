import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { enqueueManifest } from "../../../src/campaign/enqueue.js";
import { Ledger } from "../../../src/shared/ledger/index.js";
import { PhaseQueues } from "../../../src/shared/queues.js";
import type { SampleKey } from "../../../src/testkit/sample-keys.js";
import { cliEnvironment, manifestFor } from "../fleet.js";
import { startKmsEmulator } from "../kms-emulator.js";
import type { TestToken } from "../softhsm.js";
import type { Figures } from "./figures.js";
import { addToFigures, checkInvariants, type InvariantReport, pendingJobs } from "./invariants.js";
import type { Random } from "./random.js";
import { OwnRedis } from "./redis-server.js";
import { WorkerProcesses } from "./worker-processes.js";

export interface RedisTrialOptions {
  rng: Random;
  token: TestToken;
  keys: SampleKey[];
  hsmObjectsBefore: number;
  figures: Figures;
  /** kill -9 + restart cycles. @defaultValue 2 */
  restarts?: number;
  /** The whole trial's budget; past it the trial reports what is unfinished. @defaultValue 150000 */
  timeoutMs?: number;
}

/** Finished keys (migrated + failed) per the ledger, or -1 while Redis does not answer. */
export async function finishedKeys(url: string, prefix: string): Promise<number> {
  const probe = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
  probe.on("error", () => undefined);
  try {
    await probe.connect();
    const counts = await new Ledger(probe, prefix).counts();
    return (counts.byStatus["migrated"] ?? 0) + (counts.byStatus["failed"] ?? 0);
  } catch {
    return -1;
  } finally {
    probe.disconnect();
  }
}

/**
 * One trial: a Redis of the test's own (AOF, appendfsync always), worker processes migrating the keys,
 * Redis kill -9'd at seeded points (after a seeded number of finished keys) and restarted on the same port
 * and directory after a seeded pause; the run must complete with every invariant kept.
 */
export async function runRedisRestartTrial(
  options: RedisTrialOptions,
): Promise<InvariantReport & { workerExits: Array<number | string>; workerOutput: string }> {
  const { rng, figures, keys } = options;
  const server = await OwnRedis.start();
  const emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true, latencyMs: [10, 60] });
  const prefix = "h2k-redis-restart";
  const workers = new WorkerProcesses(
    cliEnvironment(options.token.env, emulator.url, prefix, {
      REDIS_URL: server.url,
      HSM2KMS_JOB_LOCK: "3s",
      HSM2KMS_KMS_QUOTAS: "CreateKey=500,GetParametersForImport=500,ImportKeyMaterial=500,Sign=500",
    }),
  );
  try {
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    const queues = new PhaseQueues(redis, prefix);
    await enqueueManifest(Readable.from([manifestFor(keys)]), {
      defaultRegion: "us-east-1",
      ledger: new Ledger(redis, prefix),
      queues,
    });
    await queues.close();
    redis.disconnect();
    workers.start(2);
    // Like systemd's Restart=on-failure: a worker started while Redis is down exits 2 (it fails fast at
    // start-up, by design) and is started again once Redis is back.
    const superviseWorkers = () => {
      const missing = 2 - workers.running;
      if (missing <= 0) return;
      figures.fault("worker:restarted-by-supervisor", missing);
      workers.start(missing);
    };

    const trialDeadline = Date.now() + (options.timeoutMs ?? 150_000);
    const restarts = options.restarts ?? 2;
    for (let cycle = 0; cycle < restarts; cycle++) {
      const after = rng.int(
        Math.floor((cycle * keys.length) / restarts),
        Math.floor(((cycle + 1) * keys.length) / restarts) - 1,
      );
      const deadline = Math.min(trialDeadline, Date.now() + 60_000);
      while (Date.now() < deadline && (await finishedKeys(server.url, prefix)) < after) {
        superviseWorkers();
        await sleep(rng.int(5, 50));
      }
      await sleep(rng.int(0, 300));
      await server.kill9();
      figures.fault("redis:kill-9");
      await sleep(rng.int(300, 2000));
      await server.restart();
      figures.fault("redis:restart");
      superviseWorkers();
    }

    while (Date.now() < trialDeadline) {
      superviseWorkers();
      if (
        (await finishedKeys(server.url, prefix)) >= keys.length &&
        (await pendingJobs(prefix, "us-east-1", server.url)) === 0
      )
        break;
      await sleep(250);
    }
    const codes = await workers.stop();
    const report = await checkInvariants({
      prefix,
      redisUrl: server.url,
      emulatorUrl: emulator.url,
      tokenEnv: options.token.env,
      hsmObjectsBefore: options.hsmObjectsBefore,
      expectedKeys: keys.length,
    });
    if (report.problems.length > 0)
      report.problems.push(`worker output (tail):\n${workers.output().slice(-3000)}`);
    figures.trials++;
    addToFigures(figures, report);
    return { ...report, workerExits: codes, workerOutput: workers.output() };
  } finally {
    await workers.killAll();
    await emulator.close();
    await server.stop();
  }
}
