import { Cluster, Redis, type RedisOptions } from "ioredis";
import { parseRedisTarget } from "./redis-target.js";

/** A single Redis or a Redis Cluster: the queues and the ledger work on both. */
export type RedisConnection = Redis | Cluster;

export {
  isCommandTimeout,
  parseRedisTarget,
  type RedisTarget,
  RedisTimeoutError,
  withRedisTimeout,
} from "./redis-target.js";

/**
 * Connects to the Redis or Redis Cluster of `url` (validated by config). BullMQ needs
 * `maxRetriesPerRequest: null` on every connection it is given.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): RedisConnection {
  const target = parseRedisTarget(url);
  if (typeof target === "string") throw new Error(`REDIS_URL is invalid: expected ${target}`);
  const base: RedisOptions = { maxRetriesPerRequest: null, ...options };
  if (target.kind === "single") return new Redis(target.url, base);
  return new Cluster(target.nodes, {
    lazyConnect: options.lazyConnect ?? false,
    // Ride out a failover (a replica is promoted after the node timeout, often 5-30 s): keep retrying
    // redirections and CLUSTERDOWN for about half a minute instead of failing commands after ~2 s.
    retryDelayOnFailover: 500,
    retryDelayOnClusterDown: 500,
    retryDelayOnTryAgain: 500,
    maxRedirections: 64,
    redisOptions: {
      ...base,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
  });
}
