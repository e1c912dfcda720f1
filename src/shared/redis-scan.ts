import { Cluster } from "ioredis";
import type { RedisConnection } from "./redis.js";

/**
 * Deletes every key matching the glob `pattern`; returns how many were deleted. SCAN, not KEYS, so a shared
 * Redis is never blocked; UNLINK, so large values are freed in the background. On a Redis Cluster every
 * master is scanned, and keys are unlinked one by one (keys of one batch may live in different slots).
 */
export async function deleteKeysMatching(redis: RedisConnection, pattern: string): Promise<number> {
  const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length === 0) continue;
      if (redis instanceof Cluster) await Promise.all(keys.map((key) => redis.unlink(key)));
      else await redis.unlink(...keys);
      deleted += keys.length;
    } while (cursor !== "0");
  }
  return deleted;
}
