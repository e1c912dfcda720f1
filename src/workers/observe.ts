import type { HsmPort } from "../shared/hsm/types.js";
import type { Metrics } from "../shared/metrics.js";
import { PHASES } from "../shared/migration.js";
import type { PhaseQueues } from "../shared/queues.js";
import type { WorkerEvents } from "./events.js";

/** Job states shown in hsm2kms_queue_jobs. */
const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "failed"] as const;

/** Feeds the worker's events into the metrics (observers: they cannot break a job). */
export function observeWorkers(events: WorkerEvents, metrics: Metrics): void {
  events.on("phase:ended", ({ phase, outcome, region, durationMs }) =>
    metrics.phaseDuration.observe({ phase, outcome, region }, durationMs / 1000),
  );
  // region on every series: the dashboard and alerts are per Region (quotas are per Region).
  events.on("key:finished", ({ status, keySpec, region }) =>
    metrics.keys.inc({ status, key_spec: keySpec, region }),
  );
  events.on("token:refreshed", ({ reason, region }) => metrics.tokenRefreshes.inc({ reason, region }));
  events.on("kms:request", ({ operation, outcome, region }) => {
    metrics.kmsRequests.inc({ operation, outcome, region });
    if (outcome === "throttled") metrics.kmsThrottled.inc({ operation, region });
  });
}

/** Reads queue depths from Redis and HSM session use when Prometheus scrapes, not on a timer. */
export function collectAtScrape(
  metrics: Metrics,
  sources: { queues?: PhaseQueues; regions?: () => Promise<string[]> | string[]; hsm?: HsmPort | undefined },
): void {
  const queueGauge = metrics.queueJobs as unknown as { collect?: () => Promise<void> };
  queueGauge.collect = async () => {
    const { queues, regions } = sources;
    if (!queues || !regions) return;
    metrics.queueJobs.reset();
    for (const region of await regions())
      for (const phase of PHASES) {
        const counts = await queues.queue(phase, region).getJobCounts(...QUEUE_STATES);
        for (const state of QUEUE_STATES) metrics.queueJobs.set({ phase, state, region }, counts[state] ?? 0);
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
