import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { deleteCampaignKeys } from "../../src/shared/ledger/index.js";
import { deleteKeysMatching } from "../../src/shared/redis-scan.js";
import { noteRedisPrefix } from "./leak-registry.js";

export const TEST_REDIS_URL = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";

/**
 * A random queue prefix so suites sharing one Redis never see each other's keys. The leak guard
 * (test/helpers/leak-guard.ts) fails the test file when keys of it are still in Redis after the file.
 */
export function randomPrefix(label = "t"): string {
  const prefix = `h2k-${label}-${randomBytes(4).toString("hex")}`;
  noteRedisPrefix(prefix);
  return prefix;
}

/** Deletes every key that starts with `prefix` (SCAN, not KEYS, so a shared Redis is not blocked). */
export async function deletePrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    await deleteKeysMatching(redis, `${prefix}*`);
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key of the campaign `prefix`: its queues and its ledger (the product's own key names). */
export async function wipeCampaign(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    await deleteCampaignKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
