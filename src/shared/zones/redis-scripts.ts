/**
 * The Lua scripts of zones kept in Redis (`zone_redis_url`): each check is one script, run
 * atomically, with Redis's clock (`TIME`), so every gateway sharing the Redis sees one bucket
 * per key. Keys (`<zone>` and `<key>` as bytes):
 * - `gateway:zone:<zone>:r:<key>`: a limit_req bucket, a hash `e` (excess, 1/1000 requests) and
 *   `l` (last accounted, ms); it expires a minute after it drains, as nginx's zero-rate nodes.
 * - `gateway:zone:<zone>:c:<key>`: a limit_conn counter, a hash of each gateway's (instance's)
 *   connections; counts of an instance whose heartbeat is gone are dropped by the next check.
 * - `gateway:zone:instance:<id>`: an instance's heartbeat, expiring 15 s after its last refresh.
 */

export const ZONE_PREFIX = 'gateway:zone:';
export const INSTANCE_PREFIX = `${ZONE_PREFIX}instance:`;

/**
 * nginx's ngx_http_limit_req_handler over a location's limits. KEYS: each limit's bucket;
 * ARGV: per limit `rate burst delay skip` (skip 1: an empty key). Returns `{kind, excess,
 * index, delay}`: kind 0 declined, 1 passed, 2 busy, 3 delayed; index 0-based.
 */
export const LUA_LIMIT_REQ = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local function elapsed(last)
  local ms = now - last
  if ms < -60000 then return 1 elseif ms < 0 then return 0 end
  return ms
end
local function after(excess, rate, ms)
  local e = excess - math.floor(rate * ms / 1000) + 1000
  if e < 0 then e = 0 end
  return e
end
local function keep(key, e, last, rate)
  redis.call('HSET', key, 'e', e, 'l', last)
  redis.call('PEXPIRE', key, 60000 + math.ceil(e * 1000 / rate))
end
local pending = {}
local rc = 0
local excess = 0
local at = n
local i = 1
while i <= n do
  local b = (i - 1) * 4
  if ARGV[b + 4] ~= '1' then
    local rate, burst = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local account = (i == n)
    local node = redis.call('HMGET', KEYS[i], 'e', 'l')
    at = i
    if node[1] then
      local last = tonumber(node[2])
      local ms = elapsed(last)
      local e = after(tonumber(node[1]), rate, ms)
      if e > burst then return {2, e, i - 1, 0} end
      if account then
        if ms > 0 then last = now end
        keep(KEYS[i], e, last, rate)
        rc = 1
        excess = e
        break
      end
      pending[i] = true
      rc = 4
    else
      if account then
        keep(KEYS[i], 0, now, rate)
        rc = 1
        excess = 0
        break
      end
      keep(KEYS[i], 0, 0, rate)
      pending[i] = true
      rc = 4
    end
  end
  i = i + 1
end
if rc == 0 then return {0, 0, 0, 0} end
if i > n then at = n; excess = 0 end
local b = (at - 1) * 4
local maxDelay = 0
if excess > tonumber(ARGV[b + 3]) then
  maxDelay = math.floor((excess - tonumber(ARGV[b + 3])) * 1000 / tonumber(ARGV[b + 1]))
end
local winner = at
for j = math.min(i, n + 1) - 1, 1, -1 do
  if pending[j] then
    local c = (j - 1) * 4
    local rate, delay = tonumber(ARGV[c + 1]), tonumber(ARGV[c + 3])
    local node = redis.call('HMGET', KEYS[j], 'e', 'l')
    local last = tonumber(node[2] or '0')
    local ms = elapsed(last)
    local e = after(tonumber(node[1] or '0'), rate, ms)
    if ms > 0 then last = now end
    keep(KEYS[j], e, last, rate)
    if e > delay then
      local d = math.floor((e - delay) * 1000 / rate)
      if d > maxDelay then maxDelay = d; excess = e; winner = j end
    end
  end
end
if maxDelay == 0 then return {1, 0, 0, 0} end
return {3, excess, winner - 1, maxDelay}
`;

/**
 * nginx's ngx_http_limit_conn_handler over a location's limits. KEYS: each limit's counter;
 * ARGV: instance id, then per limit `conn skip`. Returns `{kind, index}`: kind 1 passed (every
 * slot taken), 2 busy at index (nothing taken).
 */
export const LUA_ACQUIRE_CONN = `
local inst = ARGV[1]
local taken = {}
for i = 1, #KEYS do
  local conn, skip = tonumber(ARGV[2 + (i - 1) * 2]), ARGV[3 + (i - 1) * 2]
  if skip ~= '1' then
    local all = redis.call('HGETALL', KEYS[i])
    local total = 0
    for j = 1, #all, 2 do
      local id = all[j]
      if id == inst or redis.call('EXISTS', '${INSTANCE_PREFIX}' .. id) == 1 then
        total = total + tonumber(all[j + 1])
      else
        redis.call('HDEL', KEYS[i], id)
      end
    end
    if total >= conn then
      for _, k in ipairs(taken) do
        if redis.call('HINCRBY', k, inst, -1) <= 0 then redis.call('HDEL', k, inst) end
      end
      return {2, i - 1}
    end
    redis.call('HINCRBY', KEYS[i], inst, 1)
    redis.call('PEXPIRE', KEYS[i], 86400000)
    taken[#taken + 1] = KEYS[i]
  end
end
return {1, 0}
`;

/** Gives slots back. KEYS: the counters; ARGV: the instance id. */
export const LUA_RELEASE_CONN = `
for i = 1, #KEYS do
  if redis.call('HINCRBY', KEYS[i], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[i], ARGV[1]) end
end
return 0
`;
