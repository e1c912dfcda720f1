import type { Logger } from "pino";
import { ConfigError } from "./errors.js";
import type { RedisConnection } from "./redis.js";

/** The `field:value` lines of an INFO reply (section headers and blank lines dropped). */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

/** What one Redis node's INFO says about keeping the ledger across a restart and under memory pressure. */
export interface DurabilityVerdict {
  /** Reasons this node can lose the ledger; empty when it cannot (as far as INFO shows). */
  problems: string[];
  /** Weaker than AOF but accepted: said once in the log. */
  warnings: string[];
}

/**
 * Judges one node from its `INFO persistence` and `INFO memory` fields (Redis's INFO documentation:
 * `aof_enabled`, `aof_last_write_status`, `rdb_saves`, `rdb_last_bgsave_status`, `maxmemory_policy`).
 * CONFIG GET is not used: managed Redis (ElastiCache) refuses it.
 *
 * INFO does not show the `save` setting. A snapshot made since start-up (`rdb_saves` > 0, Redis 7) that
 * succeeded is taken as a sign that snapshots are configured; a Redis that has made none yet counts as
 * volatile, since INFO cannot tell "save is configured but has not fired" from "save is off". That is strict
 * on purpose: AOF is what keeps every ledger write, a snapshot loses the writes made since the last one.
 */
export function judgeDurability(info: Record<string, string>): DurabilityVerdict {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (info["aof_enabled"] === "1") {
    if (info["aof_last_write_status"] !== undefined && info["aof_last_write_status"] !== "ok")
      problems.push(
        `its AOF is on but its last write failed (aof_last_write_status:${info["aof_last_write_status"]}): free the disk Redis writes its AOF to`,
      );
  } else {
    const saves = Number(info["rdb_saves"] ?? "0");
    const lastSaveOk = (info["rdb_last_bgsave_status"] ?? "ok") === "ok";
    if (Number.isFinite(saves) && saves > 0 && lastSaveOk)
      warnings.push(
        `no AOF (aof_enabled:0), only RDB snapshots (rdb_saves:${saves}): a restart loses the ledger writes made since the last snapshot; turn on appendonly yes`,
      );
    else
      problems.push(
        `it has no AOF (aof_enabled:0) and has made no RDB snapshot since it started (rdb_saves:${info["rdb_saves"] ?? "absent"}${lastSaveOk ? "" : `, rdb_last_bgsave_status:${info["rdb_last_bgsave_status"]}`}); INFO cannot show whether 'save' is configured, so this counts as a Redis that loses everything on a restart: set appendonly yes (redis.conf, or CONFIG SET appendonly yes; on a managed Redis, its persistence setting)`,
      );
  }
  const policy = info["maxmemory_policy"];
  if (policy !== "noeviction")
    problems.push(
      `its eviction policy is ${policy === undefined ? "not shown by INFO memory" : `maxmemory_policy:${policy}`}: Redis may drop ledger keys when memory runs short; set maxmemory-policy noeviction`,
    );
  return { problems, warnings };
}

/** Every node that holds data: the one server, or every master of a cluster. */
function dataNodes(redis: RedisConnection): Array<{ name: string; node: Pick<RedisConnection, "info"> }> {
  if ("nodes" in redis && typeof redis.nodes === "function" && redis.isCluster)
    return redis.nodes("master").map((node) => ({
      name: `${node.options.host}:${node.options.port}`,
      node,
    }));
  return [{ name: "", node: redis }];
}

/**
 * Refuses (ConfigError, exit 2) a Redis that can lose the ledger: no AOF and no sign of RDB snapshots, or
 * an eviction policy other than `noeviction`, on the server or on any master of a cluster. With
 * `allowVolatile` (HSM2KMS_ALLOW_VOLATILE_REDIS=true) the problems are logged as a warning instead.
 */
export async function checkRedisDurability(
  redis: RedisConnection,
  options: { url: string; allowVolatile: boolean; logger: Logger },
): Promise<void> {
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const { name, node } of dataNodes(redis)) {
    const info = parseInfo(`${await node.info("persistence")}\n${await node.info("memory")}`);
    const verdict = judgeDurability(info);
    const where = (text: string) => (name ? `the master ${name}: ${text}` : text);
    problems.push(...verdict.problems.map(where));
    warnings.push(...verdict.warnings.map(where));
  }
  for (const warning of warnings)
    options.logger.warn({ redis: options.url }, `Redis persistence: ${warning}`);
  if (problems.length === 0) return;
  if (options.allowVolatile) {
    options.logger.warn(
      { redis: options.url, problems },
      "Redis can lose the ledger (HSM2KMS_ALLOW_VOLATILE_REDIS=true accepts it): a restart or eviction loses the campaign's state",
    );
    return;
  }
  throw new ConfigError(
    `Redis at ${options.url} can lose the campaign's ledger: ${problems.join("; ")}. A lost ledger leaves KMS keys nobody tracks. Fix the setting, or set HSM2KMS_ALLOW_VOLATILE_REDIS=true for a sandbox or test Redis whose loss does not matter`,
  );
}
