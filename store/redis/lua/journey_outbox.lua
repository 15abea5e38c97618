-- Every change to one channel's outbox, atomic per call (all keys share the
-- channel's hash tag).
--
-- KEYS: body (id -> message JSON as queued), state (id -> ready|leased|acked|
--   failed|cancelled|erased; kept as the "seen" marker once a body is gone),
--   tries (id -> attempts), error (id -> last error), queue (sorted set of ready
--   and leased messages: score = ready time, member = 17-digit created time SEP
--   id, so ties go oldest created first), then one sorted set per listed state
--   (ready, leased, acked, failed, cancelled: score = created micros, member = id).
-- ARGV[1]: the operation, then its arguments:
--   queue n (id, due, created, body) * n, cancelled ids...   -> 1
--   lease now limit lease_end trim_before                    -> {id, body, tries, error} * k
--   ack ids...                                               -> acked ids
--   retry id at error / fail id error                        -> 1
--   list state limit                                         -> {id, body, tries, error} * k
--   erase ids...                                             -> how many were erased
local BY_STATE = {ready = KEYS[6], leased = KEYS[7], acked = KEYS[8], failed = KEYS[9],
                  cancelled = KEYS[10]}
local OPEN = {ready = true, leased = true}

local function slot(id, created)
  return string.rep('0', 17 - #created) .. created .. '\31' .. id
end

-- Moves a message to another state; returns its created time.
local function move(id, from, to)
  local created = redis.call('ZSCORE', BY_STATE[from], id)
  redis.call('ZREM', BY_STATE[from], id)
  redis.call('ZADD', BY_STATE[to], created, id)
  redis.call('HSET', KEYS[2], id, to)
  return created
end

-- Closes an open (ready or leased) message: it leaves the queue.
local function close(id, to, error)
  local created = move(id, redis.call('HGET', KEYS[2], id), to)
  redis.call('ZREM', KEYS[5], slot(id, created))
  if error then redis.call('HSET', KEYS[4], id, error) end
end

local function described(id)
  return {id, redis.call('HGET', KEYS[1], id), redis.call('HGET', KEYS[3], id),
          redis.call('HGET', KEYS[4], id)}
end

local function append(list, items)
  for _, item in ipairs(items) do list[#list + 1] = item end
end

local op = ARGV[1]
if op == 'queue' then
  local n = tonumber(ARGV[2])
  for i = 3, 2 + 4 * n, 4 do
    local id = ARGV[i]
    if redis.call('HSETNX', KEYS[2], id, 'ready') == 1 then
      redis.call('HSET', KEYS[1], id, ARGV[i + 3])
      redis.call('ZADD', KEYS[6], ARGV[i + 2], id)
      redis.call('ZADD', KEYS[5], ARGV[i + 1], slot(id, ARGV[i + 2]))
    end
  end
  for i = 3 + 4 * n, #ARGV do
    if OPEN[redis.call('HGET', KEYS[2], ARGV[i])] then close(ARGV[i], 'cancelled') end
  end
  return 1
elseif op == 'lease' then
  local out = {}
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[2],
                                     'LIMIT', 0, tonumber(ARGV[3]))) do
    local id = string.sub(member, 19)
    if redis.call('HGET', KEYS[2], id) == 'ready' then move(id, 'ready', 'leased') end
    redis.call('ZADD', KEYS[5], ARGV[4], member)
    redis.call('HINCRBY', KEYS[3], id, 1)
    append(out, described(id))
  end
  -- Bodies of messages acked long ago go; their state stays as the seen marker.
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[8], '-inf', '(' .. ARGV[5],
                                 'LIMIT', 0, 100)) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZREM', KEYS[8], id)
  end
  return out
elseif op == 'ack' then
  local acked = {}
  for i = 2, #ARGV do
    local state = redis.call('HGET', KEYS[2], ARGV[i])
    if OPEN[state] then close(ARGV[i], 'acked') end
    if OPEN[state] or state == 'acked' then acked[#acked + 1] = ARGV[i] end
  end
  return acked
elseif op == 'retry' then
  local id = ARGV[2]
  local state = redis.call('HGET', KEYS[2], id)
  if OPEN[state] then
    local created = move(id, state, 'ready')
    redis.call('ZADD', KEYS[5], ARGV[3], slot(id, created))
    redis.call('HSET', KEYS[4], id, ARGV[4])
  end
  return 1
elseif op == 'fail' then
  if OPEN[redis.call('HGET', KEYS[2], ARGV[2])] then close(ARGV[2], 'failed', ARGV[3]) end
  return 1
elseif op == 'list' then
  local out = {}
  if not BY_STATE[ARGV[2]] then return out end
  for _, id in ipairs(redis.call('ZRANGE', BY_STATE[ARGV[2]], 0, tonumber(ARGV[3]) - 1)) do
    append(out, described(id))
  end
  return out
elseif op == 'erase' then
  local erased = 0
  for i = 2, #ARGV do
    local id = ARGV[i]
    local state = redis.call('HGET', KEYS[2], id)
    if state and state ~= 'erased' then
      if OPEN[state] then
        redis.call('ZREM', KEYS[5], slot(id, redis.call('ZSCORE', BY_STATE[state], id)))
      end
      redis.call('ZREM', BY_STATE[state], id)
      redis.call('HDEL', KEYS[1], id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HDEL', KEYS[4], id)
      redis.call('HSET', KEYS[2], id, 'erased')
      erased = erased + 1
    end
  end
  return erased
end
return redis.error_reply('unknown outbox operation ' .. tostring(op))
