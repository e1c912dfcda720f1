import type { Ledger } from "../shared/ledger/index.js";
import { PHASES } from "../shared/migration.js";
import type { PhaseQueues } from "../shared/queues.js";

export interface StatusReport {
  total: number;
  byStatus: Record<string, number>;
  /** phase -> state -> count, from the ledger. */
  byPhase: Record<string, Record<string, number>>;
  /** queue name -> BullMQ job counts. */
  queues: Record<string, Record<string, number>>;
  regions: string[];
  /** Keys finished per minute over the last `windowMinutes`. */
  keysPerMinute: number;
  windowMinutes: number;
  remaining: number;
  /** At the current rate; undefined when nothing finished lately. */
  etaSeconds: number | undefined;
  /** The fastest possible finish: remaining keys per Region at the GetParametersForImport quota. */
  quotaFloorSeconds: number;
  failures: Array<{ code: string; count: number }>;
  recentFailures: Array<{ id: string; source: string; region: string; code: string; message: string }>;
}

/** Reads the fleet's progress from the ledger and the queues. */
export async function collectStatus(
  ledger: Ledger,
  queues: PhaseQueues,
  options: { paramsQuota: number; windowMinutes?: number; now?: number },
): Promise<StatusReport> {
  const now = options.now ?? Date.now();
  const windowMinutes = options.windowMinutes ?? 5;
  const [counts, total, regions, finished] = await Promise.all([
    ledger.counts(),
    ledger.size(),
    ledger.regions(),
    ledger.finishedSince(now - windowMinutes * 60_000),
  ]);
  const byPhase: Record<string, Record<string, number>> = {};
  for (const [key, count] of Object.entries(counts.byPhase)) {
    const [phase = "", status = ""] = key.split("|");
    byPhase[phase] = { ...byPhase[phase], [status]: count };
  }
  const queueCounts: Record<string, Record<string, number>> = {};
  for (const region of regions)
    for (const phase of PHASES)
      queueCounts[`${phase}-${region}`] = await queues
        .queue(phase, region)
        .getJobCounts("waiting", "active", "delayed", "prioritized", "completed", "failed");

  const remaining = (counts.byStatus["queued"] ?? 0) + (counts.byStatus["in_progress"] ?? 0);
  const keysPerMinute = finished / windowMinutes;
  const remainingByRegion = regions.map(
    (region) => (counts.byRegion[`${region}|queued`] ?? 0) + (counts.byRegion[`${region}|in_progress`] ?? 0),
  );
  const failedIds = await ledger.failedIds(0, 20);
  const failedRecords = await ledger.getMany(failedIds);
  return {
    total,
    byStatus: counts.byStatus,
    byPhase,
    queues: queueCounts,
    regions,
    keysPerMinute,
    windowMinutes,
    remaining,
    etaSeconds: keysPerMinute > 0 ? (remaining / keysPerMinute) * 60 : undefined,
    quotaFloorSeconds: Math.max(0, ...remainingByRegion) / options.paramsQuota,
    failures: Object.entries(counts.byError)
      .map(([code, count]) => ({ code, count }))
      .sort((a, b) => b.count - a.count),
    recentFailures: failedRecords.flatMap((entry) =>
      entry
        ? [
            {
              id: entry.record.id,
              source: entry.record.source.label ?? entry.record.source.idHex ?? "",
              region: entry.record.region,
              code: entry.record.error?.code ?? "",
              message: entry.record.error?.message ?? "",
            },
          ]
        : [],
    ),
  };
}
