import { Redis } from "ioredis";

/**
 * Every key under the prefixes, with its value read by type (strings, hashes, lists, sets, sorted sets,
 * streams) and its DUMP (serialised, possibly compressed: read for completeness, not relied on alone).
 */
export async function dumpKeyspace(
  url: string,
  prefixes: string[],
): Promise<Array<{ where: string; text: string }>> {
  const redis = new Redis(url);
  const texts: Array<{ where: string; text: string }> = [];
  try {
    for (const prefix of prefixes) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        for (const key of keys) {
          const type = await redis.type(key);
          let value: unknown;
          if (type === "string") value = await redis.get(key);
          else if (type === "hash") value = await redis.hgetall(key);
          else if (type === "list") value = await redis.lrange(key, 0, -1);
          else if (type === "set") value = await redis.smembers(key);
          else if (type === "zset") value = await redis.zrange(key, "0", "-1", "WITHSCORES");
          else if (type === "stream") value = await redis.xrange(key, "-", "+");
          texts.push({ where: `redis ${type} ${key}`, text: `${key}\n${JSON.stringify(value)}` });
          const dump = await redis.dumpBuffer(key);
          if (dump) texts.push({ where: `redis DUMP ${key}`, text: dump.toString("latin1") });
        }
      } while (cursor !== "0");
    }
    return texts;
  } finally {
    redis.disconnect();
  }
}
