import { collectExpiringMaterial, type ExpiringMaterialStatus } from "../lifecycle/expiry-status.js";
import type { Ledger, LedgerCounts } from "../shared/ledger/index.js";
import { PHASES } from "../shared/migration.js";
import { type PhaseQueues, queueName } from "../shared/queues.js";
import { type KmsTarget, targetName } from "../shared/targets.js";

/** One target Region's share of the campaign. */
export interface RegionStatus {
  region: string;
  total: number;
  migrated: number;
  failed: number;
  /** Queued or in progress. */
  remaining: number;
  /** Migrated or failed, out of `total`, in percent. */
  percentFinished: number;
  /** This Region's remaining keys at its GetParametersForImport quota. */
  quotaFloorSeconds: number;
}

/**
 * One target's share (an account in a Region): KMS request quotas hold per account and Region (AWS KMS
 * Developer Guide, "Quotas"), so each target finishes at best at its own pace, in parallel with the others.
 */
export interface TargetStatus extends RegionStatus {
  /** The 12-digit account; null: the caller's own. */
  account: string | null;
}

/** One phase's jobs over all Regions, from the queues, and the keys that failed in it, from the ledger. */
export interface PhaseStatus {
  /** Waiting for a worker (waiting or prioritized). */
  waiting: number;
  /** A worker runs them now (active). */
  running: number;
  /** Waiting out a retry backoff, or for KMS to show a change (delayed). */
  retrying: number;
  failed: number;
}

export interface StatusReport {
  total: number;
  byStatus: Record<string, number>;
  /** phase -> state -> count, from the ledger. */
  byPhase: Record<string, Record<string, number>>;
  /** phase -> waiting, running, retrying (the queues) and failed (the ledger). */
  phases: Record<string, PhaseStatus>;
  /** queue name -> BullMQ job counts. */
  queues: Record<string, Record<string, number>>;
  regions: string[];
  /** Per Region, all accounts summed; `quotaFloorSeconds` is its slowest target's. */
  byRegion: RegionStatus[];
  /** Per target (account and Region) with keys: the caller's own account (`account` null) and each other one. */
  byTarget: TargetStatus[];
  /** When the campaign was first enqueued (ISO-8601), undefined when its marker is gone. */
  startedAt: string | undefined;
  /** From the first enqueue to now, or to the last key's end once none remain. */
  elapsedSeconds: number | undefined;
  /** Migrated or failed, out of all keys, in percent. */
  percentFinished: number;
  percentMigrated: number;
  /** Keys finished per minute over the last `windowMinutes`, or since the first key finished if later. */
  keysPerMinute: number;
  windowMinutes: number;
  /** `window`: over the last `windowMinutes`; `since-first-completion`: the run is younger than the window. */
  rateBasis: "window" | "since-first-completion";
  /** How many seconds the rate is measured over. */
  rateSeconds: number;
  remaining: number;
  /** At the current rate; undefined when nothing finished lately. */
  etaSeconds: number | undefined;
  /** The fastest possible finish: remaining keys per target (account, Region) at the GetParametersForImport quota. */
  quotaFloorSeconds: number;
  failures: Array<{ code: string; count: number }>;
  recentFailures: Array<{ id: string; source: string; region: string; code: string; message: string }>;
  /** Migrated keys whose material expires: ValidTo, next renewal, failed renewals (with `expiry` only). */
  expiringMaterial?: ExpiringMaterialStatus | undefined;
}

const percent = (part: number, whole: number) => (whole > 0 ? (part / whole) * 100 : 0);

/**
 * The finishing rate. Over a fixed window a young run looks slow (33 keys that finished in 40 s read as
 * "ETA 7m30s" over 5 minutes), so while the first key finished inside the window the rate runs from that
 * first completion: the keys finished after it, over the time since.
 */
function finishingRate(finished: number, firstMs: number | undefined, now: number, windowMs: number) {
  if (firstMs !== undefined && firstMs > now - windowMs) {
    const sinceFirstMs = now - firstMs;
    const keysPerMinute =
      finished >= 2 && sinceFirstMs >= 1000 ? (finished - 1) / (sinceFirstMs / 60_000) : 0;
    return { keysPerMinute, basis: "since-first-completion" as const, seconds: sinceFirstMs / 1000 };
  }
  return {
    keysPerMinute: finished / (windowMs / 60_000),
    basis: "window" as const,
    seconds: windowMs / 1000,
  };
}

/** A share of the campaign from its keys by status. */
function share(region: string, count: (status: string) => number, paramsQuota: number): RegionStatus {
  const left = count("queued") + count("in_progress");
  const total = left + count("migrated") + count("failed");
  return {
    region,
    total,
    migrated: count("migrated"),
    failed: count("failed"),
    remaining: left,
    percentFinished: percent(count("migrated") + count("failed"), total),
    quotaFloorSeconds: left / paramsQuota,
  };
}

/**
 * Each target's share. Another account's keys have their own counters (`byTarget`); the caller's own in a
 * Region are what the Region's counters hold beyond the other accounts' there.
 */
function targetTable(targets: KmsTarget[], counts: LedgerCounts, paramsQuota: number): TargetStatus[] {
  const others = targets.filter((target) => target.account !== undefined);
  const ofTarget = (target: KmsTarget, status: string): number =>
    target.account !== undefined
      ? (counts.byTarget[`${targetName(target)}|${status}`] ?? 0)
      : (counts.byRegion[`${target.region}|${status}`] ?? 0) -
        others
          .filter((other) => other.region === target.region)
          .reduce((sum, other) => sum + ofTarget(other, status), 0);
  return targets
    .map((target) => ({
      account: target.account ?? null,
      ...share(target.region, (status) => Math.max(0, ofTarget(target, status)), paramsQuota),
    }))
    .filter((target) => target.total > 0);
}

/** Sums each phase's queue counts over the targets (by name), with the ledger's failed keys per phase. */
function phaseTable(
  queueCounts: Record<string, Record<string, number>>,
  byPhase: Record<string, Record<string, number>>,
  targetNames: string[],
): Record<string, PhaseStatus> {
  const phases: Record<string, PhaseStatus> = {};
  for (const phase of PHASES) {
    const row: PhaseStatus = { waiting: 0, running: 0, retrying: 0, failed: byPhase[phase]?.["failed"] ?? 0 };
    for (const name of targetNames) {
      const counts = queueCounts[`${phase}-${name}`] ?? {};
      row.waiting += (counts["waiting"] ?? 0) + (counts["prioritized"] ?? 0);
      row.running += counts["active"] ?? 0;
      row.retrying += counts["delayed"] ?? 0;
    }
    phases[phase] = row;
  }
  return phases;
}

/**
 * Reads the expiring material (a scan of the ledger) due within `beforeMs`, and the schedule's next run, at most
 * once per `cacheMs`: `status --watch` refreshes every few seconds, and a large campaign's scan is not free.
 */
export function expiringMaterialReader(
  ledger: Ledger,
  options: { beforeMs: number; nextScheduledRun: () => Promise<Date | undefined>; cacheMs: number },
): () => Promise<ExpiringMaterialStatus> {
  let cached: { at: number; value: ExpiringMaterialStatus } | undefined;
  return async () => {
    const now = Date.now();
    if (!cached || now - cached.at > options.cacheMs) {
      const value = await collectExpiringMaterial(ledger, { beforeMs: options.beforeMs, now });
      cached = {
        at: now,
        value: { ...value, nextScheduledRun: (await options.nextScheduledRun())?.toISOString() },
      };
    }
    return cached.value;
  };
}

/** Reads the fleet's progress from the ledger and the queues. */
export async function collectStatus(
  ledger: Ledger,
  queues: PhaseQueues,
  options: {
    paramsQuota: number;
    windowMinutes?: number;
    now?: number;
    /** Also show the expiring material (see `expiringMaterialReader`). */
    expiringMaterial?: () => Promise<ExpiringMaterialStatus>;
  },
): Promise<StatusReport> {
  const now = options.now ?? Date.now();
  const windowMinutes = options.windowMinutes ?? 5;
  // A ledger enqueued before the per-target counters: count its other accounts' keys in them, once.
  await ledger.countTargets();
  const [counts, total, targets, finished, span, campaign] = await Promise.all([
    ledger.counts(),
    ledger.size(),
    ledger.targets(),
    ledger.finishedSince(now - windowMinutes * 60_000),
    ledger.finishedSpan(),
    ledger.campaign(),
  ]);
  const byPhase: Record<string, Record<string, number>> = {};
  for (const [key, count] of Object.entries(counts.byPhase)) {
    const [phase = "", status = ""] = key.split("|");
    byPhase[phase] = { ...byPhase[phase], [status]: count };
  }
  const regions = [...new Set(targets.map((target) => target.region))];
  // One queue per phase and target (account, Region): `queues` is keyed by queue name.
  const queueCounts: Record<string, Record<string, number>> = {};
  for (const target of targets)
    for (const phase of PHASES)
      queueCounts[queueName(phase, target)] = await queues
        .queue(phase, target)
        .getJobCounts("waiting", "active", "delayed", "prioritized", "completed", "failed");

  const remaining = (counts.byStatus["queued"] ?? 0) + (counts.byStatus["in_progress"] ?? 0);
  const migrated = counts.byStatus["migrated"] ?? 0;
  const failed = counts.byStatus["failed"] ?? 0;
  const rate = finishingRate(finished, span.firstMs, now, windowMinutes * 60_000);
  const byTarget = targetTable(targets, counts, options.paramsQuota);
  const byRegion = regions.map(
    (region): RegionStatus => ({
      ...share(region, (status) => counts.byRegion[`${region}|${status}`] ?? 0, options.paramsQuota),
      // The Region's accounts run in parallel, each at its own quota: the Region is done with its slowest.
      quotaFloorSeconds: Math.max(
        0,
        ...byTarget.filter((target) => target.region === region).map((target) => target.quotaFloorSeconds),
      ),
    }),
  );
  const startedMs = campaign ? Date.parse(campaign.createdAt) : Number.NaN;
  const endMs = remaining === 0 && span.lastMs !== undefined ? span.lastMs : now;
  const failedIds = await ledger.failedIds(0, 20);
  const failedRecords = await ledger.getMany(failedIds);
  const expiringMaterial = await options.expiringMaterial?.();
  return {
    total,
    byStatus: counts.byStatus,
    byPhase,
    phases: phaseTable(queueCounts, byPhase, targets.map(targetName)),
    queues: queueCounts,
    regions,
    byRegion,
    byTarget,
    startedAt: campaign?.createdAt,
    elapsedSeconds: Number.isNaN(startedMs) ? undefined : Math.max(0, (endMs - startedMs) / 1000),
    percentFinished: percent(migrated + failed, total),
    percentMigrated: percent(migrated, total),
    keysPerMinute: rate.keysPerMinute,
    windowMinutes,
    rateBasis: rate.basis,
    rateSeconds: rate.seconds,
    remaining,
    etaSeconds: rate.keysPerMinute > 0 ? (remaining / rate.keysPerMinute) * 60 : undefined,
    quotaFloorSeconds: Math.max(0, ...byTarget.map((target) => target.quotaFloorSeconds)),
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
    expiringMaterial,
  };
}
