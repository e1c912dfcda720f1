import type { RedisConnection } from "../redis.js";
import { deleteKeysMatching } from "../redis-scan.js";

/**
 * The Redis names of a campaign (a queue prefix): its ledger keys share the hash tag `{<prefix>.ledger}`
 * (Redis Cluster: one slot, so the ledger's scripts may touch several at once); its BullMQ queues live under
 * `<prefix>:` (see bullPrefix in queues.ts).
 */

/** The hash tag every ledger key of `prefix` starts with: `{<prefix>.ledger}`. */
export function ledgerHashTag(prefix: string): string {
  return `{${prefix}.ledger}`;
}

/** The ledger key `suffix` of `prefix` (e.g. `ids`, `counts`, `rec:<id>`, `campaign`). */
export function ledgerKey(prefix: string, suffix: string): string {
  return `${ledgerHashTag(prefix)}:${suffix}`;
}

/** SCAN patterns that together match every key of a campaign: its queues and its ledger. */
export function campaignKeyPatterns(prefix: string): string[] {
  return [`${prefix}:*`, `${ledgerHashTag(prefix)}:*`];
}

/** Deletes every key of a campaign (queues and ledger) from Redis; returns how many were deleted. */
export async function deleteCampaignKeys(redis: RedisConnection, prefix: string): Promise<number> {
  let deleted = 0;
  for (const pattern of campaignKeyPatterns(prefix)) deleted += await deleteKeysMatching(redis, pattern);
  return deleted;
}
