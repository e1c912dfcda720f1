import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The contract's metrics (docs/architecture.md#observability), on their own registry. Labels are bounded:
 * phase, outcome, operation, status, key_spec, reason, state, region, account (the 12-digit target account
 * of a key that goes to another account; absent for the caller's own), and `campaign` (the queue prefix) on
 * every series of the process. Never a per-key label.
 */
export interface Metrics {
  registry: Registry;
  phaseDuration: Histogram<"phase" | "outcome" | "region" | "account">;
  keys: Counter<"status" | "key_spec" | "region" | "account">;
  kmsRequests: Counter<"operation" | "outcome" | "region" | "account">;
  kmsThrottled: Counter<"operation" | "region" | "account">;
  /** The KMS request quota this process paces an operation at in a Region (HSM2KMS_KMS_QUOTAS over AWS's defaults). */
  kmsQuota: Gauge<"operation" | "region" | "account">;
  kmsRequestDuration: Histogram<"operation" | "region" | "account">;
  kmsResourceQuotaExceeded: Gauge<"region" | "quota" | "account">;
  kmsNotYetVisible: Counter<"operation" | "region" | "account">;
  tokenRefreshes: Counter<"reason" | "region" | "account">;
  queueJobs: Gauge<"phase" | "state" | "region" | "account">;
  hsmSessions: Gauge<"state">;
}

/** Phase latencies span sub-millisecond HSM wraps to multi-second KMS calls under quota. */
const PHASE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** KMS calls: tens of milliseconds in-Region, seconds when the network or KMS is slow. */
const KMS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Node.js process metrics (memory, event loop lag). @defaultValue true */
  defaultMetrics?: boolean;
  /**
   * The campaign (HSM2KMS_QUEUE_PREFIX), a label on every series, so that two campaigns on one Prometheus
   * are never summed together. One value per process: the cardinality does not grow. @defaultValue none
   */
  campaign?: string;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.campaign !== undefined) registry.setDefaultLabels({ campaign: options.campaign });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    phaseDuration: new Histogram({
      name: "hsm2kms_phase_duration_seconds",
      help: "Duration of one phase run, by phase and outcome (success, retry, wait, throttle, refresh, fail, skip, conflict)",
      labelNames: ["phase", "outcome", "region", "account"],
      buckets: PHASE_BUCKETS,
      registers: [registry],
    }),
    keys: new Counter({
      name: "hsm2kms_keys_total",
      help: "Keys that reached a final status (migrated or failed), by KMS key spec",
      labelNames: ["status", "key_spec", "region", "account"],
      registers: [registry],
    }),
    kmsRequests: new Counter({
      name: "hsm2kms_kms_requests_total",
      help: "KMS requests by operation and outcome (success, throttled, error)",
      labelNames: ["operation", "outcome", "region", "account"],
      registers: [registry],
    }),
    kmsThrottled: new Counter({
      name: "hsm2kms_kms_throttled_total",
      help: "KMS requests answered with ThrottlingException, by operation",
      labelNames: ["operation", "region", "account"],
      registers: [registry],
    }),
    kmsQuota: new Gauge({
      name: "hsm2kms_kms_quota_requests_per_second",
      help: "The request quota this worker paces a KMS operation at in a Region, fleet-wide (HSM2KMS_KMS_QUOTAS over AWS's defaults): the line throughput is drawn against",
      labelNames: ["operation", "region", "account"],
      registers: [registry],
    }),
    kmsRequestDuration: new Histogram({
      name: "hsm2kms_kms_request_duration_seconds",
      help: "Duration of one KMS request (any outcome), by operation and Region",
      labelNames: ["operation", "region", "account"],
      buckets: KMS_BUCKETS,
      registers: [registry],
    }),
    kmsResourceQuotaExceeded: new Gauge({
      name: "hsm2kms_kms_resource_quota_exceeded",
      help: "1 while this worker holds back key creation because KMS answered LimitExceededException (a resource quota, e.g. AWS KMS keys per Region), 0 once a key is created there again",
      labelNames: ["region", "quota", "account"],
      registers: [registry],
    }),
    kmsNotYetVisible: new Counter({
      name: "hsm2kms_kms_not_yet_visible_total",
      help: "Times KMS did not show a change hsm2kms made yet (NotFoundException, PendingImport, Creating) and the key waited, by operation",
      labelNames: ["operation", "region", "account"],
      registers: [registry],
    }),
    tokenRefreshes: new Counter({
      name: "hsm2kms_import_token_refreshes_total",
      help: "Times a key went back to GetParametersForImport for a new import token, by reason",
      labelNames: ["reason", "region", "account"],
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: "hsm2kms_queue_jobs",
      help: "Jobs in the phase queues by state, read from Redis at scrape time",
      labelNames: ["phase", "state", "region", "account"],
      registers: [registry],
    }),
    hsmSessions: new Gauge({
      name: "hsm2kms_hsm_sessions",
      help: "PKCS#11 sessions of this worker by state (open, in_use)",
      labelNames: ["state"],
      registers: [registry],
    }),
  };
}
