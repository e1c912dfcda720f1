/**
 * Lua scripts that keep a record and the ledger's counters in step, atomically. All keys of one ledger
 * share one hash tag, so the scripts run on Redis Cluster too.
 *
 * Counters (hash `counts`): `status:<s>`, `phase:<p>|<s>`, `error:<code>`, `region:<r>|<s>`,
 * `failure:<r>|<code>` (failed keys by Region and code; ledgers written before it have none), and for keys
 * of another account only, `target:<account>-<region>|<s>` and `target-failure:<account>-<region>|<code>`
 * (the Region's counters keep counting them too). A record counted in its target's counters holds its target
 * name in the field `target`: a record written before those counters existed has none, and joins them at its
 * next save (or through COUNT_TARGETS), so the counters are right for a ledger in flight during an upgrade.
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
local function shift_target(counts, target, status, code, by)
  if not target or target == '' or not status then return end
  redis.call('HINCRBY', counts, 'target:' .. target .. '|' .. status, by)
  if code and code ~= '' and status == 'failed' then
    redis.call('HINCRBY', counts, 'target-failure:' .. target .. '|' .. code, by)
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
if ARGV[6] and ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'target', ARGV[6])
  shift_target(KEYS[2], ARGV[6], ARGV[3], '', 1)
end
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[1])
redis.call('SADD', KEYS[4], ARGV[5])
if ARGV[6] and ARGV[6] ~= '' then redis.call('SADD', KEYS[6], ARGV[6]) end
return 1
`;

/**
 * Creates many records at once, each unless it exists: what CREATE_RECORD does per record, in one call (one
 * round trip and one script run per enqueue chunk instead of one per row), with the counters, the sequence
 * and the Region and target sets moved once per distinct value. KEYS: counts, ids, regions, seq, targets,
 * then one record key per record. ARGV: per record, in KEYS' order, id, json, status, phase, region, target
 * (6 values each; target as in CREATE_RECORD). Returns one 1 (created) or 0 (existed) per record.
 */
export const CREATE_RECORDS = `
local created, increments, regions, targets = {}, {}, {}, {}
local fresh = 0
for index = 6, #KEYS do
  local at = (index - 6) * 6
  if redis.call('EXISTS', KEYS[index]) == 1 then
    created[#created + 1] = 0
  else
    local id, json, status, phase, region = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5]
    local target = ARGV[at + 6]
    redis.call('HSET', KEYS[index], 'json', json, 'status', status, 'phase', phase, 'region', region, 'code', '', 'rev', 1)
    local fields = {'status:' .. status, 'phase:' .. phase .. '|' .. status, 'region:' .. region .. '|' .. status}
    if target ~= '' then
      targets[target] = true
      redis.call('HSET', KEYS[index], 'target', target)
      fields[#fields + 1] = 'target:' .. target .. '|' .. status
    end
    for _, field in ipairs(fields) do
      increments[field] = (increments[field] or 0) + 1
    end
    regions[region] = true
    fresh = fresh + 1
    created[#created + 1] = {id}
  end
end
if fresh > 0 then
  local seq = redis.call('INCRBY', KEYS[4], fresh) - fresh
  for index, entry in ipairs(created) do
    if entry ~= 0 then
      seq = seq + 1
      redis.call('ZADD', KEYS[2], seq, entry[1])
      created[index] = 1
    end
  end
  for field, by in pairs(increments) do redis.call('HINCRBY', KEYS[1], field, by) end
  for region in pairs(regions) do redis.call('SADD', KEYS[3], region) end
  for target in pairs(targets) do redis.call('SADD', KEYS[5], target) end
end
return created
`;

/**
 * Saves a record if nobody saved it since we read it (compare-and-set on `rev`), moving the counters.
 * KEYS: record, counts, finished (zset of finished ids by time), failed (zset of failed ids by time).
 * ARGV: expected rev, json, status, phase, code, nowMs, id, target (as in CREATE_RECORD).
 * Returns the new rev, or -1 on a conflict (another worker owns the key now), -2 when the record is gone.
 */
export const SAVE_RECORD = `${SHIFT_COUNTERS}
local old = redis.call('HMGET', KEYS[1], 'rev', 'status', 'phase', 'region', 'code', 'target')
if not old[1] then return -2 end
if tonumber(old[1]) ~= tonumber(ARGV[1]) then return -1 end
shift(KEYS[2], old[2], old[3], old[4], old[5], -1)
shift(KEYS[2], ARGV[3], ARGV[4], old[4], ARGV[5], 1)
if old[6] then
  shift_target(KEYS[2], old[6], old[2], old[5], -1)
  shift_target(KEYS[2], old[6], ARGV[3], ARGV[5], 1)
elseif ARGV[8] and ARGV[8] ~= '' then
  -- Written before the target counters: it joins them now, counted once, in its new state.
  redis.call('HSET', KEYS[1], 'target', ARGV[8])
  shift_target(KEYS[2], ARGV[8], ARGV[3], ARGV[5], 1)
end
local rev = tonumber(old[1]) + 1
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'status', ARGV[3], 'phase', ARGV[4], 'code', ARGV[5], 'rev', rev)
if (ARGV[3] == 'migrated' or ARGV[3] == 'failed') and old[2] ~= ARGV[3] then
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
end
if ARGV[3] == 'failed' then redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7]) else redis.call('ZREM', KEYS[4], ARGV[7]) end
return rev
`;

/**
 * Counts records written before the target counters in them (see the header): each record of another account
 * without a `target` field gets it, and its status (and failure) is added to its target's counters. Safe
 * beside SAVE_RECORD and a second run: a record is counted once, by whichever comes first.
 * KEYS: counts, then record keys. Returns how many records it counted.
 */
export const COUNT_TARGETS = `${SHIFT_COUNTERS}
local counted = 0
for index = 2, #KEYS do
  local fields = redis.call('HMGET', KEYS[index], 'json', 'status', 'region', 'code', 'target')
  if fields[1] and not fields[5] then
    local ok, record = pcall(cjson.decode, fields[1])
    local account = ok and type(record) == 'table' and record['account']
    if type(account) == 'string' and account ~= '' then
      local target = account .. '-' .. fields[3]
      redis.call('HSET', KEYS[index], 'target', target)
      shift_target(KEYS[1], target, fields[2], fields[4], 1)
      counted = counted + 1
    end
  end
end
return counted
`;
