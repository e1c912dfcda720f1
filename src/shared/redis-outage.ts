import type { Logger } from "pino";

/**
 * One structured line per Redis outage instead of a line (or a stack trace) per failed reconnect of every
 * connection: ioredis retries each connection every few hundred milliseconds and BullMQ re-emits each
 * failure on every Worker and Queue, which made dozens of lines a second. The first failure is logged at
 * once, then at most one "still unavailable" line per `everyMs` with the count of failures it stands for,
 * and one line when Redis answers again.
 */
export class RedisOutageLog {
  private since: number | undefined;
  private lastLine = 0;
  private suppressed = 0;

  /**
   * @param url The Redis URL with its password hidden.
   * @param everyMs At most one line per this many ms during an outage. @defaultValue 30000
   */
  constructor(
    private readonly logger: Logger,
    private readonly url: string,
    private readonly everyMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether an outage is going on (an error seen and no recovery since). */
  get down(): boolean {
    return this.since !== undefined;
  }

  /** Milliseconds since the outage began, 0 when Redis is up. */
  downForMs(): number {
    return this.since === undefined ? 0 : this.now() - this.since;
  }

  /** An error from any Redis connection, Worker or Queue. */
  error(error: unknown, source?: string): void {
    const now = this.now();
    const message = error instanceof Error ? error.message : String(error);
    if (this.since === undefined) {
      this.since = now;
      this.lastLine = now;
      this.suppressed = 0;
      this.logger.warn(
        { redis: this.url, err: message, ...(source ? { source } : {}) },
        "Redis is unavailable: work pauses and every connection keeps retrying",
      );
      return;
    }
    this.suppressed++;
    if (now - this.lastLine < this.everyMs) return;
    this.logger.warn(
      { redis: this.url, err: message, downForMs: now - this.since, failures: this.suppressed },
      "Redis is still unavailable",
    );
    this.lastLine = now;
    this.suppressed = 0;
  }

  /** A connection is ready again. */
  recovered(): void {
    if (this.since === undefined) return;
    this.logger.info({ redis: this.url, downForMs: this.now() - this.since }, "Redis answers again");
    this.since = undefined;
  }
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/** Whether an error says Redis cannot be reached (as opposed to a script or data error). */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && CONNECTION_CODES.has(code)) return true;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|Command timed out|connect|CLUSTERDOWN|LOADING|MASTERDOWN/i.test(
    error.message,
  );
}
