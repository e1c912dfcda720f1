import { Cluster } from "ioredis";
import type { RedisConnection } from "../shared/redis.js";

/** `*`, `?`, `[`, `]` and `\` match literally in a SCAN pattern once escaped. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, "\\$&");

/**
 * Deletes every Redis key of a campaign: its queues (`<prefix>:{<phase>-<region>}...`, BullMQ's keys and the
 * fleet's beside them) and its ledger with its marker (`{<prefix>.ledger}...`). Every master of a Redis Cluster
 * is scanned. Only for a campaign whose keys are all abandoned and whose workers are stopped: a running worker
 * would write some of it again. Returns how many keys were deleted.
 */
export async function deleteCampaignState(redis: RedisConnection, prefix: string): Promise<number> {
  const patterns = [`${globEscape(prefix)}:{*`, `{${globEscape(prefix)}.ledger}*`];
  const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
  let deleted = 0;
  for (const node of nodes)
    for (const pattern of patterns) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        cursor = next;
        // One key per command: keys of different hash tags may not share a command on a cluster.
        for (const key of keys) deleted += await node.unlink(key);
      } while (cursor !== "0");
    }
  return deleted;
}
