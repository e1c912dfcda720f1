/**
 * Lua scripts that keep a record and the ledger's counters in step, atomically. All keys of one ledger
 * share one hash tag, so the scripts run on Redis Cluster too.
 *
 * Counters (hash `counts`): `status:<s>`, `phase:<p>|<s>`, `error:<code>`, `region:<r>|<s>`,
 * `failure:<r>|<code>` (failed keys by Region and code; ledgers written before it have none).
 */

const SHIFT_COUNTERS = `
local function shift(counts, status, phase, region, code, by)
  if not status then return end
  redis.call('HINCRBY', counts, 'status:' .. status, by)
  redis.call('HINCRBY', counts, 'phase:' .. phase .. '|' .. status, by)
  redis.call('HINCRBY', counts, 'region:' .. region .. '|' .. status, by)
  if code and code ~= '' and status == 'failed' then
    redis.call('HINCRBY', counts, 'error:' .. code, by)
    redis.call('HINCRBY', counts, 'failure:' .. region .. '|' .. code, by)
  end
end
`;

/**
 * Creates a record unless one exists. KEYS: record, counts, ids, regions, seq, targets.
 * ARGV: id, json, status, phase, region, target (`<account>-<region>` for a key that goes to another
 * account, else empty). Returns 1 when created, 0 when it existed.
 */
export const CREATE_RECORD = `${SHIFT_COUNTERS}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'status', ARGV[3], 'phase', ARGV[4], 'region', ARGV[5], 'code', '', 'rev', 1)
shift(KEYS[2], ARGV[3], ARGV[4], ARGV[5], '', 1)
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[1])
redis.call('SADD', KEYS[4], ARGV[5])
if ARGV[6] and ARGV[6] ~= '' then redis.call('SADD', KEYS[6], ARGV[6]) end
return 1
`;

/**
 * Saves a record if nobody saved it since we read it (compare-and-set on `rev`), moving the counters.
 * KEYS: record, counts, finished (zset of finished ids by time), failed (zset of failed ids by time).
 * ARGV: expected rev, json, status, phase, code, nowMs, id.
 * Returns the new rev, or -1 on a conflict (another worker owns the key now), -2 when the record is gone.
 */
export const SAVE_RECORD = `${SHIFT_COUNTERS}
local old = redis.call('HMGET', KEYS[1], 'rev', 'status', 'phase', 'region', 'code')
if not old[1] then return -2 end
if tonumber(old[1]) ~= tonumber(ARGV[1]) then return -1 end
shift(KEYS[2], old[2], old[3], old[4], old[5], -1)
shift(KEYS[2], ARGV[3], ARGV[4], old[4], ARGV[5], 1)
local rev = tonumber(old[1]) + 1
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'status', ARGV[3], 'phase', ARGV[4], 'code', ARGV[5], 'rev', rev)
if (ARGV[3] == 'migrated' or ARGV[3] == 'failed') and old[2] ~= ARGV[3] then
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
end
if ARGV[3] == 'failed' then redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7]) else redis.call('ZREM', KEYS[4], ARGV[7]) end
return rev
`;
