interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Per-Region token buckets, one per operation with a quota and one per shared pool (aws-quotas.ts):
 * capacity = the quota (one second of burst), refilled continuously at the quota's rate. A request in a pool
 * needs a token from its operation's bucket (if it has a quota) and from the pool's; when either is empty it
 * is throttled and neither is spent. Names without a quota are never throttled.
 */
export class QuotaBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly quotas: Readonly<Record<string, number>>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Refills and returns the bucket of `name` in `region`, or undefined when `name` has no quota. */
  private bucket(region: string, name: string, now: number): Bucket | undefined {
    const rate = this.quotas[name];
    if (rate === undefined) return undefined;
    const key = `${region}\n${name}`;
    const bucket = this.buckets.get(key) ?? { tokens: rate, updatedAt: now };
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    return bucket;
  }

  /** Takes one request from the operation's bucket and its pool's (if any); false means throttle it. */
  take(region: string, operation: string, pool?: string): boolean {
    const now = this.now();
    const buckets = [operation, pool]
      .filter((name): name is string => name !== undefined)
      .map((name) => this.bucket(region, name, now))
      .filter((bucket): bucket is Bucket => bucket !== undefined);
    if (buckets.some((bucket) => bucket.tokens < 1)) return false;
    for (const bucket of buckets) bucket.tokens -= 1;
    return true;
  }
}

/** Counters for one operation in one Region. */
export interface OperationStats {
  /** Requests received (throttled and faulted ones included). */
  calls: number;
  /** Requests answered with ThrottlingException. */
  throttled: number;
  /** Requests answered with an injected KMSInternalException. */
  faults: number;
  /** Connections reset before the request ran (`resetRate`). */
  resets?: number;
  /** Requests that ran but whose answer was replaced by a connection reset (`lostResponseRate`). */
  lostResponses?: number;
}

/** Counters per Region and operation, plus their totals. */
export interface KmsEmulatorStats {
  regions: Record<string, Record<string, OperationStats>>;
  total: OperationStats;
}

export class StatsCounter {
  private readonly regions: Record<string, Record<string, OperationStats>> = {};

  count(region: string, operation: string, field: keyof OperationStats): void {
    const operations = this.regions[region] ?? {};
    const stats = operations[operation] ?? { calls: 0, throttled: 0, faults: 0 };
    stats[field] = (stats[field] ?? 0) + 1;
    operations[operation] = stats;
    this.regions[region] = operations;
  }

  snapshot(): KmsEmulatorStats {
    const total: OperationStats = { calls: 0, throttled: 0, faults: 0 };
    const regions = structuredClone(this.regions);
    for (const operations of Object.values(regions))
      for (const stats of Object.values(operations)) {
        total.calls += stats.calls;
        total.throttled += stats.throttled;
        total.faults += stats.faults;
      }
    return { regions, total };
  }
}

/** The delay to inject before one request, in milliseconds. */
export function injectedLatencyMs(latency: number | [number, number] | undefined): number {
  if (latency === undefined) return 0;
  if (typeof latency === "number") return latency;
  const [min, max] = latency;
  return min + Math.random() * (max - min);
}
