/**
 * The Redis side of push channels: the key names and the Lua scripts that publish, read, replay
 * and delete a channel atomically (see `redis-backend.ts` for the key layout and why). Data only.
 */

/**
 * Key prefixes: a channel's stream, its per-instance subscriber counts, an instance's
 * heartbeat, a large message's data while the instances fetch it.
 */
export const PREFIX = 'gateway:push:';
export const STREAM = `${PREFIX}stream:`;
export const SUBSCRIBERS = `${PREFIX}subscribers:`;
export const INSTANCE = `${PREFIX}instance:`;
export const DATA = `${PREFIX}data:`;

/**
 * Messages larger than this go through pub/sub by reference (`r<id>`...): Redis cuts a pub/sub
 * client off once 32 MB wait for it (8 MB for a minute: `client-output-buffer-limit pubsub`), so
 * large data would cost every gateway its subscription; each instance fetches the data instead.
 */
export const INLINE_LIMIT = 64 * 1024;

/** How long a large message's data waits for the instances to fetch it, in ms. */
export const DATA_TTL_MS = 60_000;

/** Shared by the scripts: the server's time, live instances' total, the first unexpired entry. */
const LUA_COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
local function live_total(hash, instance_prefix, prune)
  local fields = redis.call('HGETALL', hash)
  local total = 0
  for i = 1, #fields, 2 do
    if redis.call('EXISTS', instance_prefix .. fields[i]) == 1 then
      total = total + tonumber(fields[i + 1])
    elseif prune then
      redis.call('HDEL', hash, fields[i])
    end
  end
  return total
end
local function first_live(stream, now)
  local skipped = 0
  local start = '-'
  while true do
    local batch = redis.call('XRANGE', stream, start, '+', 'COUNT', 32)
    if #batch == 0 then return nil, skipped end
    for _, e in ipairs(batch) do
      if tonumber(field(e[2], 'x') or '0') > now then return e[1], skipped end
      skipped = skipped + 1
    end
    start = '(' .. batch[#batch][1]
  end
end
`;

/**
 * KEYS: stream, subscribers hash, data key prefix. ARGV: data, content type, buffer length,
 * timeout ms, pub/sub channel, instance prefix, inline limit, data TTL ms.
 */
export const LUA_PUBLISH = `${LUA_COMMON}
local now = now_ms()
local len = tonumber(ARGV[3])
local timeout = tonumber(ARGV[4])
local id = redis.call('XADD', KEYS[1], '*', 'x', string.format('%.0f', now + math.max(timeout, 0)), 't', ARGV[2], 'd', ARGV[1])
if len <= 0 or timeout <= 0 then
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '0')
else
  redis.call('XTRIM', KEYS[1], 'MAXLEN', string.format('%.0f', len))
  local first, skipped = first_live(KEYS[1], now)
  if skipped > 0 then
    if first then redis.call('XTRIM', KEYS[1], 'MINID', first) else redis.call('XTRIM', KEYS[1], 'MAXLEN', '0') end
  end
end
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.max(timeout, 1000)))
local kept = redis.call('XLEN', KEYS[1])
local total = live_total(KEYS[2], ARGV[6], true)
local head = id .. '\\n' .. string.len(ARGV[2]) .. '\\n' .. ARGV[2]
if string.len(ARGV[1]) > tonumber(ARGV[7]) then
  redis.call('SET', KEYS[3] .. id, ARGV[1], 'PX', ARGV[8])
  redis.call('PUBLISH', ARGV[5], 'r' .. head .. string.len(ARGV[1]))
else
  redis.call('PUBLISH', ARGV[5], 'm' .. head .. ARGV[1])
end
return {id, total, kept}
`;

/** KEYS: stream, subscribers hash. ARGV: instance prefix. -> messages, subscribers, last id or nil. */
export const LUA_INFO = `${LUA_COMMON}
local total = live_total(KEYS[2], ARGV[1], false)
local first, skipped = first_live(KEYS[1], now_ms())
if not first then return {0, total, false} end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {redis.call('XLEN', KEYS[1]) - skipped, total, last[1][1]}
`;

/** KEYS: stream. ARGV: exclusive start. -> id, content type, data, ... of the unexpired entries. */
export const LUA_AFTER = `${LUA_COMMON}
local now = now_ms()
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], ARGV[1], '+')) do
  if tonumber(field(e[2], 'x') or '0') > now then
    out[#out + 1] = e[1]
    out[#out + 1] = field(e[2], 't') or ''
    out[#out + 1] = field(e[2], 'd') or ''
  end
end
return out
`;

/** KEYS: stream, subscribers hash. ARGV: pub/sub channel, instance prefix. -> had messages (0/1), subscribers. */
export const LUA_DELETE = `${LUA_COMMON}
local first = first_live(KEYS[1], now_ms())
redis.call('DEL', KEYS[1])
local total = live_total(KEYS[2], ARGV[2], true)
redis.call('PUBLISH', ARGV[1], 'd')
if first then return {1, total} end
return {0, total}
`;

/** The scripts as ioredis commands (`defineCommand`), with their replies. */
export interface PushCommands {
  gatewayPushPublish(
    stream: string,
    hash: string,
    dataPrefix: string,
    data: Buffer,
    contentType: string,
    bufferLength: string,
    timeoutMs: string,
    pubsub: string,
    instancePrefix: string,
    inlineLimit: string,
    dataTtlMs: string,
  ): Promise<[string, number, number]>;
  gatewayPushInfo(stream: string, hash: string, instancePrefix: string): Promise<[number, number, string | null]>;
  gatewayPushAfterBuffer(stream: string, start: string): Promise<Buffer[]>;
  gatewayPushDelete(stream: string, hash: string, pubsub: string, instancePrefix: string): Promise<[number, number]>;
}
