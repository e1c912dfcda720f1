/**
 * The parts of the Redis connection code that need no Redis client: reading REDIS_URL and bounding a wait.
 * Kept apart from redis.ts so that validating the configuration does not load ioredis (start-up time).
 */

export type RedisTarget =
  | { kind: "single"; url: string }
  | {
      kind: "cluster";
      nodes: Array<{ host: string; port: number }>;
      username?: string;
      password?: string;
      tls: boolean;
    };

const CLUSTER_SCHEMES = ["redis+cluster:", "rediss+cluster:"];

/**
 * Reads REDIS_URL. A single server: `redis://[user:pass@]host:port[/db]` or `rediss://...` (TLS). A cluster:
 * `redis+cluster://[user:pass@]host:port[,host:port...]` or `rediss+cluster://...`: any reachable nodes;
 * the rest are discovered. Returns a message when the URL is not one of these.
 */
export function parseRedisTarget(url: string): RedisTarget | string {
  const scheme = url.slice(0, url.indexOf("//"));
  if (!CLUSTER_SCHEMES.includes(scheme)) {
    try {
      const parsed = new URL(url);
      if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
        return "a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL";
    } catch {
      return "a URL such as redis://127.0.0.1:6379 or redis+cluster://10.0.0.1:7000,10.0.0.2:7000";
    }
    return { kind: "single", url };
  }
  let rest = url.slice(scheme.length + 2).replace(/\/.*$/, "");
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(":");
    username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth) || undefined;
    password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined;
  }
  const nodes = rest.split(",").map((node) => {
    const match = /^([^:]+):(\d{1,5})$/.exec(node.trim());
    return match ? { host: match[1]!, port: Number(match[2]) } : undefined;
  });
  if (nodes.length === 0 || nodes.some((node) => !node))
    return "redis+cluster://host:port[,host:port...] (every node as host:port)";
  return {
    kind: "cluster",
    nodes: nodes as Array<{ host: string; port: number }>,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    tls: scheme === "rediss+cluster:",
  };
}

/** Redis did not answer within HSM2KMS_REDIS_TIMEOUT: a command gives up (exit 1) instead of hanging. */
export class RedisTimeoutError extends Error {
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
    what = "answer",
  ) {
    super(
      `Redis at ${url} did not ${what} within ${timeoutMs / 1000}s (HSM2KMS_REDIS_TIMEOUT): check that it is running and reachable (a stopped or overloaded server, a network partition), then run the command again`,
    );
    this.name = this.constructor.name;
  }
}

/** ioredis's own rejection when a command outlives `commandTimeout`. */
export function isCommandTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === "Command timed out";
}

/**
 * `work`, or a RedisTimeoutError once `timeoutMs` passed without it settling. The work itself is not
 * cancelled: callers disconnect afterwards. The timer does not keep the process alive.
 */
export async function withRedisTimeout<T>(
  work: Promise<T>,
  options: { url: string; timeoutMs: number; what?: string },
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RedisTimeoutError(options.url, options.timeoutMs, options.what)),
      options.timeoutMs,
    );
    timer.unref();
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (error) {
    throw isCommandTimeout(error)
      ? new RedisTimeoutError(options.url, options.timeoutMs, options.what)
      : error;
  } finally {
    clearTimeout(timer);
  }
}
