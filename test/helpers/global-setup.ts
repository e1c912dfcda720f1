import { Redis } from "ioredis";

/** Fails the run early, with the fix, when no Redis answers (every integration suite needs a real one). */
export default async function globalSetup(): Promise<void> {
  const url = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `No Redis answers at ${url} (${(error as Error).message}). Run the tests with scripts/test.sh, which starts one, or start redis-server yourself.`,
    );
  } finally {
    redis.disconnect();
  }
}
