import type { Ledger } from "../shared/ledger/index.js";
import type { PhaseQueues } from "../shared/queues.js";
import { type KmsTarget, targetName } from "../shared/targets.js";
import { effectiveMarginMs, usableTokenMs } from "./phases/token-margin.js";

/** Shortest and longest pause of the params queue while the wrap backlog drains. */
const MIN_HOLD_MS = 100;
const MAX_HOLD_MS = 5000;
/** Keys always allowed to wait for wrap, whatever its rate; below this the gate costs one LLEN. */
const MIN_BACKLOG = 8;
/** Recent wrap completions the wrap rate is estimated from. */
const RATE_SAMPLE = 10;
/**
 * How long one reading of the wrap backlog answers for every params job of a Region in this process. Reading
 * it costs up to four Redis round trips; at 10 params jobs/s, once per job would be most of params' own Redis
 * traffic, for a decision that changes on the scale of a token's life (minutes), not milliseconds.
 */
const READING_REUSE_MS = 250;

const readings = new WeakMap<PhaseQueues, Map<string, { at: number; holdMs: Promise<number> }>>();

/**
 * Just-in-time import tokens. GetParametersForImport is the scarcest quota and a token dies unused if the
 * HSM hosts do not wrap with it in time, so params must not run further ahead of wrap than tokens last.
 * Returns how long the Region's params queue should pause (0: go on): while wrap is running (it finished a
 * job recently) but the keys already waiting for it would take more than half a token's usable life to
 * drain at its recent rate, or the oldest of them has already spent half its token's usable life waiting
 * (a backlog of fewer than MIN_BACKLOG keys is always allowed).
 * Fleet-wide: it reads the queue, whatever the number and speed of the HSM hosts; one reading serves a Region's
 * params jobs in this process for READING_REUSE_MS. When no wrap worker runs
 * at all, params is not held (a KMS-only `worker --until-idle` still finishes); tokens that expire meanwhile
 * are refreshed as before.
 */
export function paramsHoldMs(
  queues: PhaseQueues,
  ledger: Ledger,
  target: KmsTarget | string,
  now: Date,
  tokenSafetyMarginMs: number,
): Promise<number> {
  const perRegion = readings.get(queues) ?? new Map<string, { at: number; holdMs: Promise<number> }>();
  readings.set(queues, perRegion);
  // Per target (account and Region): each has its own wrap queue.
  const region = targetName(target);
  const reading = perRegion.get(region);
  const at = performance.now();
  if (reading && at - reading.at < READING_REUSE_MS) return reading.holdMs;
  const holdMs = readHoldMs(queues, ledger, target, now, tokenSafetyMarginMs);
  perRegion.set(region, { at, holdMs });
  // A failed reading is not reused: the next job reads again (and sees the error itself).
  holdMs.catch(() => perRegion.get(region)?.holdMs === holdMs && perRegion.delete(region));
  return holdMs;
}

async function readHoldMs(
  queues: PhaseQueues,
  ledger: Ledger,
  target: KmsTarget | string,
  now: Date,
  tokenSafetyMarginMs: number,
): Promise<number> {
  const wrap = queues.queue("wrap", target);
  const waiting = await wrap.getWaitingCount();
  if (waiting < MIN_BACKLOG) return 0;
  const [oldest] = await wrap.getJobs(["waiting"], 0, 0, true);
  const params = oldest && (await ledger.get(oldest.data.migrationId))?.record.importParams;
  if (!params) return 0;
  const usableLifeMs =
    Date.parse(params.validTo) -
    Date.parse(params.fetchedAt) -
    effectiveMarginMs(params, tokenSafetyMarginMs);
  const hold = Math.min(MAX_HOLD_MS, Math.max(MIN_HOLD_MS, Math.round(usableLifeMs / 20)));
  const finished = (await wrap.getJobs(["completed"], 0, RATE_SAMPLE - 1, false))
    .map((job) => job.finishedOn ?? 0)
    .sort((a, b) => b - a);
  const newest = finished[0] ?? 0;
  if (finished.length < 2 || now.getTime() - newest > usableLifeMs / 2) return 0;
  if (usableTokenMs(params, now, tokenSafetyMarginMs) <= usableLifeMs / 2) return hold;
  const spanMs = Math.max(1, newest - finished[finished.length - 1]!);
  const drainMs = (waiting * spanMs) / (finished.length - 1);
  return drainMs > usableLifeMs / 2 ? hold : 0;
}
