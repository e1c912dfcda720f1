import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const TEST_REDIS_URL = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** A random queue prefix so suites sharing one Redis never see each other's keys. */
export function randomPrefix(label = "t"): string {
  return `h2k-${label}-${randomBytes(4).toString("hex")}`;
}

/** Deletes every key under a prefix (SCAN, not KEYS, so a shared Redis is not blocked). */
export async function deletePrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
