import { Readable } from "node:stream";
import { enqueueManifest } from "../../../src/campaign/enqueue.js";
import { formatManifestCsv } from "../../../src/manifest/read.js";
import { loadConfig } from "../../../src/shared/config.js";
import { openPkcs11Hsm } from "../../../src/shared/hsm/index.js";
import { acquireLibrary } from "../../../src/shared/hsm/pkcs11-library.js";
import { findToken } from "../../../src/shared/hsm/token.js";
import type { HsmPort } from "../../../src/shared/hsm/types.js";
import { Ledger } from "../../../src/shared/ledger/index.js";
import { createLogger, silentLogger } from "../../../src/shared/logger.js";
import { createMetrics } from "../../../src/shared/metrics.js";
import { PHASES } from "../../../src/shared/migration.js";
import { PhaseQueues } from "../../../src/shared/queues.js";
import { createRedisConnection } from "../../../src/shared/redis.js";
import type { SampleKey } from "../../../src/testkit/sample-keys.js";
import { WorkerEvents } from "../../../src/workers/events.js";
import { startFleet } from "../../../src/workers/fleet.js";
import { observeWorkers } from "../../../src/workers/observe.js";
import { TEST_CREDENTIALS } from "../pipeline.js";
import { TEST_REDIS_URL } from "../redis.js";
import type { TestToken } from "../softhsm.js";

export interface InProcessFleetRun {
  token: TestToken;
  emulatorUrl: string;
  prefix: string;
  /** The keys to migrate (one manifest row each, default usage) or a manifest's text. */
  keys: SampleKey[] | string;
  /** Extra configuration variables (HSM2KMS_MAX_ATTEMPTS, HSM2KMS_TOKEN_SAFETY_MARGIN, ...). */
  env?: Record<string, string>;
  /** Wraps the real HSM port (fault injection). */
  wrapHsm?: (hsm: HsmPort) => HsmPort;
  /** Gives up (closing the fleet) after this long. @defaultValue 60000 */
  timeoutMs?: number;
  redisUrl?: string;
  /** Log lines of the fleet, when the test wants them (else silent). */
  logSink?: NodeJS.WritableStream;
}

export interface InProcessFleetResult {
  timedOut: boolean;
  /** The fleet's /metrics text at the end. */
  metricsText: string;
  tokenRefreshEvents: number;
}

/**
 * Runs the real BullMQ fleet (startFleet, every phase, until idle) in this process on a manifest, with the
 * real PKCS#11 port (optionally wrapped) and the KMS emulator through the real SDK.
 */
export async function runInProcessFleet(run: InProcessFleetRun): Promise<InProcessFleetResult> {
  const redisUrl = run.redisUrl ?? TEST_REDIS_URL;
  const config = loadConfig({
    ...run.token.env,
    REDIS_URL: redisUrl,
    HSM2KMS_QUEUE_PREFIX: run.prefix,
    HSM2KMS_KMS_ENDPOINT: run.emulatorUrl,
    AWS_REGION: "us-east-1",
    HSM2KMS_WRAPPING_KEY_SPEC: "RSA_2048",
    HSM2KMS_JOB_LOCK: "5s",
    // The emulator's tag index catches up within 0.5 s: no test waits the 5-minute default.
    HSM2KMS_TAG_INDEX_WAIT: "3s",
    HSM2KMS_KMS_QUOTAS: "CreateKey=500,GetParametersForImport=500,ImportKeyMaterial=500,Sign=500",
    ...run.env,
  });
  const logger = run.logSink
    ? createLogger({ level: config.logLevel, destination: run.logSink })
    : silentLogger();
  const redis = createRedisConnection(redisUrl, { maxRetriesPerRequest: null });
  const raw = await openPkcs11Hsm(run.token.hsmConfig, { sessions: config.hsmConcurrency, logger });
  const hsm = run.wrapHsm ? run.wrapHsm(raw) : raw;
  try {
    const queues = new PhaseQueues(redis, run.prefix);
    const manifest =
      typeof run.keys === "string"
        ? run.keys
        : formatManifestCsv(
            run.keys.map((key) => ({ source_label: key.label, source_id: key.idHex, region: "us-east-1" })),
          );
    await enqueueManifest(Readable.from([manifest]), {
      defaultRegion: "us-east-1",
      ledger: new Ledger(redis, run.prefix),
      queues,
    });
    await queues.close();
    const events = new WorkerEvents(logger);
    const metrics = createMetrics({ defaultMetrics: false });
    observeWorkers(events, metrics);
    let tokenRefreshEvents = 0;
    events.on("token:refreshed", () => tokenRefreshEvents++);
    const fleet = await startFleet({
      config,
      phases: [...PHASES],
      regions: ["us-east-1"],
      untilIdle: true,
      hsm,
      connection: redis,
      logger,
      events,
      toolVersion: "test",
      kmsCredentials: TEST_CREDENTIALS,
      pollMs: 200,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void fleet.close(2000);
    }, run.timeoutMs ?? 60_000);
    await fleet.stopped;
    await fleet.close();
    clearTimeout(timer);
    return { timedOut, metricsText: await metrics.registry.metrics(), tokenRefreshEvents };
  } finally {
    await hsm.close();
    redis.disconnect();
  }
}

/**
 * Closes every PKCS#11 session this process has on the token (C_CloseAllSessions): what a token that drops
 * its sessions (HSM failover, network blip to CloudHSM) does to the session pool.
 */
export function sessionInvalidator(env: Record<string, string>): () => void {
  return () => {
    const lease = acquireLibrary(env["HSM2KMS_PKCS11_LIB"] ?? "");
    try {
      const { slot } = findToken(lease.pkcs11, { tokenLabel: env["HSM2KMS_TOKEN_LABEL"] });
      lease.pkcs11.C_CloseAllSessions(slot);
    } finally {
      lease.release();
    }
  };
}

/** The value of one counter series in a /metrics text, summed over the series matching every label given. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}
