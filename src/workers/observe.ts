import type { HsmPort } from "../shared/hsm/types.js";
import { KEY_SPECS } from "../shared/key-specs.js";
import type { Metrics } from "../shared/metrics.js";
import { PHASES } from "../shared/migration.js";
import type { PhaseQueues } from "../shared/queues.js";
import { type KmsTarget, toTarget } from "../shared/targets.js";
import type { WorkerEvents } from "./events.js";

/** Job states shown in hsm2kms_queue_jobs. */
const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "failed"] as const;

/** KMS operations under a low quota: their throttle series exist from the start. */
const PACED_OPERATIONS = [
  "CreateKey",
  "GetParametersForImport",
  "ImportKeyMaterial",
  "ReplicateKey",
  "CreateAlias",
];
/** KMS operations on a key this campaign just changed: their not-yet-visible series exist from the start. */
const VISIBILITY_OPERATIONS = [
  "DescribeKey",
  "CreateAlias",
  "GetParametersForImport",
  "ImportKeyMaterial",
  "ReplicateKey",
  "GetPublicKey",
  "Sign",
  "Encrypt",
  "Decrypt",
  "GenerateMac",
  "DeriveSharedSecret",
];
/** Why a key goes back for a new import token (outcomes.ts, phases/import.ts, phases/wrap.ts). */
const REFRESH_REASONS = [
  "IMPORT_TOKEN_EXPIRED",
  "IMPORT_TOKEN_INVALID",
  "IMPORT_TOKEN_NEAR_EXPIRY",
  "WRAPPED_FOR_OTHER_TOKEN",
  "BACKOFF_PAST_TOKEN_LIFE",
];

/**
 * The `account` label of a series: the target account of another account's keys, absent for the caller's
 * own (so a campaign without accounts has the series it always had).
 */
function where(region: string, account: string | undefined): { region: string; account?: string } {
  return account === undefined ? { region } : { region, account };
}

/**
 * Creates a Region's counter series at zero when the worker starts serving it. A series that first appears
 * at 1 has no earlier sample, so increase() and rate() would miss a worker's first failure, throttle or
 * refresh: the alerts and the dashboard's failure panels count from here. The duration histogram starts at
 * zero for each phase served (outcome `success`), so Hsm2kmsJobsStalled sees a fresh worker's first runs end.
 */
function startSeriesAtZero(
  metrics: Metrics,
  at: { region: string; account?: string },
  phases: readonly string[],
  zeroed: Set<string>,
): void {
  // Histogram.zero() overwrites what a series holds: zero each phase, account and Region once only.
  const target = `${at.account ?? ""}|${at.region}`;
  for (const phase of phases.filter((name) => !zeroed.has(`${name}|${target}`))) {
    zeroed.add(`${phase}|${target}`);
    metrics.phaseDuration.zero({ phase, outcome: "success", ...at });
  }
  for (const keySpec of KEY_SPECS)
    for (const status of ["migrated", "failed"]) metrics.keys.inc({ status, key_spec: keySpec, ...at }, 0);
  for (const operation of PACED_OPERATIONS) metrics.kmsThrottled.inc({ operation, ...at }, 0);
  for (const operation of VISIBILITY_OPERATIONS) metrics.kmsNotYetVisible.inc({ operation, ...at }, 0);
  for (const reason of REFRESH_REASONS) metrics.tokenRefreshes.inc({ reason, ...at }, 0);
}

/**
 * Feeds the worker's events into the metrics (observers: they cannot break a job). `kmsQuotas`, the
 * effective request quotas this worker paces at, become `hsm2kms_kms_quota_requests_per_second` for each
 * Region it serves.
 */
export function observeWorkers(
  events: WorkerEvents,
  metrics: Metrics,
  kmsQuotas: Readonly<Record<string, number>> = {},
): void {
  const zeroed = new Set<string>();
  events.on("region:served", ({ region, account, phases }) => {
    const at = where(region, account);
    startSeriesAtZero(metrics, at, phases, zeroed);
    // Quotas hold per account and Region: each pair is paced at them on its own.
    for (const [operation, rate] of Object.entries(kmsQuotas))
      metrics.kmsQuota.set({ operation, ...at }, rate);
  });
  events.on("phase:ended", ({ phase, outcome, region, account, durationMs }) =>
    metrics.phaseDuration.observe({ phase, outcome, ...where(region, account) }, durationMs / 1000),
  );
  // region (and account) on every series: the dashboard and alerts are per Region, quotas per account and Region.
  events.on("key:finished", ({ status, keySpec, region, account }) =>
    metrics.keys.inc({ status, key_spec: keySpec, ...where(region, account) }),
  );
  events.on("token:refreshed", ({ reason, region, account }) =>
    metrics.tokenRefreshes.inc({ reason, ...where(region, account) }),
  );
  events.on("kms:resource-quota", ({ region, account, quota, state }) =>
    metrics.kmsResourceQuotaExceeded.set({ ...where(region, account), quota }, state === "exceeded" ? 1 : 0),
  );
  events.on("kms:not-visible", ({ operation, region, account }) =>
    metrics.kmsNotYetVisible.inc({ operation, ...where(region, account) }),
  );
  events.on("kms:request", ({ operation, outcome, region, account, durationMs }) => {
    const at = where(region, account);
    metrics.kmsRequests.inc({ operation, outcome, ...at });
    metrics.kmsRequestDuration.observe({ operation, ...at }, durationMs / 1000);
    if (outcome === "throttled") metrics.kmsThrottled.inc({ operation, ...at });
  });
}

/** Reads queue depths from Redis and HSM session use when Prometheus scrapes, not on a timer. */
export function collectAtScrape(
  metrics: Metrics,
  sources: {
    queues?: PhaseQueues;
    /** The targets whose queues are read: a bare Region is the caller's own account there. */
    regions?: () => Promise<Array<KmsTarget | string>> | Array<KmsTarget | string>;
    hsm?: HsmPort | undefined;
  },
): void {
  const queueGauge = metrics.queueJobs as unknown as { collect?: () => Promise<void> };
  queueGauge.collect = async () => {
    const { queues, regions } = sources;
    if (!queues || !regions) return;
    metrics.queueJobs.reset();
    for (const target of await regions()) {
      const { region, account } = toTarget(target);
      for (const phase of PHASES) {
        const counts = await queues.queue(phase, target).getJobCounts(...QUEUE_STATES);
        for (const state of QUEUE_STATES)
          metrics.queueJobs.set({ phase, state, ...where(region, account) }, counts[state] ?? 0);
      }
    }
  };
  const sessionGauge = metrics.hsmSessions as unknown as { collect?: () => void };
  sessionGauge.collect = () => {
    if (!sources.hsm) return;
    const stats = sources.hsm.sessionStats();
    metrics.hsmSessions.set({ state: "open" }, stats.open);
    metrics.hsmSessions.set({ state: "in_use" }, stats.inUse);
  };
}
