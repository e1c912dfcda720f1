import { setTimeout as sleep } from "node:timers/promises";

/** How one KMS operation's requests are spaced: up to `burst` at once, then one per `intervalMs`. */
export interface RequestPace {
  /** Requests that may leave together after a quiet spell (the fleet limiter's window). */
  burst: number;
  /** Time between requests once the burst is spent, ms. */
  intervalMs: number;
}

/** The clock a pacer reads and waits on (a fake one in unit tests). */
export interface PacerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: PacerClock = {
  now: () => performance.now(),
  sleep: (ms) => sleep(ms),
};

/**
 * Spaces one process's requests of each paced KMS operation to one account and Region, just before they are
 * sent. KMS meters "the rate of requests per second ... for an account and Region" (AWS KMS Developer Guide,
 * Throttling AWS KMS requests; Request quotas): at GetParametersForImport's default of 1 per second, a request
 * that arrives less than a second after the one before is throttled. The fleet-wide BullMQ limiter spaces job
 * *starts*, but a phase reads the ledger and describes the key before its KMS call, and under load that work
 * takes a varying time, so two calls whose jobs started a paced interval apart can still arrive closer
 * together. This is the second half of the pacing, local and exact: it spaces the calls themselves, at the
 * limiter's own pace (so it never slows the fleet below it), while the limiter stays the guard across
 * processes. A generic cell rate algorithm: each request reserves the next slot synchronously, so concurrent
 * callers in one event loop never share one.
 */
export class RequestPacer {
  /** Per operation, when the slot after the last reserved one falls (the "theoretical arrival time"). */
  private readonly nextSlot = new Map<string, number>();

  constructor(
    private readonly paces: Readonly<Record<string, RequestPace>>,
    private readonly clock: PacerClock = realClock,
  ) {}

  /**
   * Reserves a slot for one request of `operation` and returns how long it must wait for it, ms (0: send now;
   * always 0 for an operation that is not paced).
   */
  reserve(operation: string): number {
    const pace = this.paces[operation];
    if (!pace) return 0;
    const now = this.clock.now();
    const slot = Math.max(this.nextSlot.get(operation) ?? now, now);
    const waitMs = Math.max(0, slot - (Math.max(1, pace.burst) - 1) * pace.intervalMs - now);
    this.nextSlot.set(operation, slot + pace.intervalMs);
    return waitMs;
  }

  /** Waits until a request of `operation` may be sent. */
  async admit(operation: string): Promise<void> {
    const waitMs = this.reserve(operation);
    if (waitMs > 0) await this.clock.sleep(waitMs);
  }
}
