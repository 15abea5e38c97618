-- The contact's part of a journey commit (store/redis/journeys.py, step 2):
-- event dedupe and a compare-and-set on every run's seq, then, only if all
-- hold, the event, runs, deleted runs, watches and the pending publication.
--
-- KEYS: j (the contact's journey hash), ev (event id -> event JSON),
--       evt (sorted set: score = event time, member = 12-digit order + event id)
-- ARGV[1]: JSON {e = [event id, at micros, event JSON] (optional), max = events kept,
--   u = [[run id, expected seq or -1 for "must not exist", run JSON], ...],
--   d = [run ids to delete], w = [[journey id, due micros or "" to clear], ...],
--   p = pending publication record ("" if none), pf = [run ids it is filed under]}
-- Returns {0} duplicate event, {1, conflicting run ids}, or {2, records}: every
-- pending record now filed under pf (older ones first), for the caller to publish.
local c = cjson.decode(ARGV[1])

if c.e and redis.call('HEXISTS', KEYS[2], c.e[1]) == 1 then return {0} end

local conflicts = {}
for _, u in ipairs(c.u) do
  local stored = redis.call('HGET', KEYS[1], 'r:' .. u[1])
  local seq = -1
  if stored then
    -- engine/journeys/codec.py: the compact form starts with the seq; Run.dump
    -- JSON (older records, runs that do not fit) has it under "q".
    if string.sub(stored, 1, 1) == '{' then seq = cjson.decode(stored).q
    else seq = tonumber(string.match(stored, '^%d+')) end
  end
  if seq ~= u[2] then conflicts[#conflicts + 1] = u[1] end
end
if #conflicts > 0 then return {1, conflicts} end

if c.e then
  -- Equal times keep the order events arrived in, as a stable sort would.
  local order = redis.call('HINCRBY', KEYS[1], 'n', 1)
  redis.call('HSET', KEYS[2], c.e[1], c.e[3])
  redis.call('ZADD', KEYS[3], c.e[2], string.format('%012d', order) .. c.e[1])
  local extra = redis.call('ZCARD', KEYS[3]) - c.max
  if extra > 0 then
    local oldest = redis.call('ZPOPMIN', KEYS[3], extra)
    for i = 1, #oldest, 2 do redis.call('HDEL', KEYS[2], string.sub(oldest[i], 13)) end
  end
end

for _, u in ipairs(c.u) do redis.call('HSET', KEYS[1], 'r:' .. u[1], u[3]) end
for _, run_id in ipairs(c.d) do redis.call('HDEL', KEYS[1], 'r:' .. run_id) end
for _, w in ipairs(c.w) do
  if w[2] == '' then
    redis.call('HDEL', KEYS[1], 'w:' .. w[1])
  else
    redis.call('HSET', KEYS[1], 'w:' .. w[1], w[2])
  end
end

local records, seen = {}, {}
if c.p ~= '' then
  for _, run_id in ipairs(c.pf) do
    local field = 'p:' .. run_id
    local filed = redis.call('HGET', KEYS[1], field)
    if filed then
      for record in string.gmatch(filed, '[^\n]+') do
        if not seen[record] then seen[record] = true; records[#records + 1] = record end
      end
      redis.call('HSET', KEYS[1], field, filed .. '\n' .. c.p)
    else
      redis.call('HSET', KEYS[1], field, c.p)
    end
  end
  records[#records + 1] = c.p
end
return {2, records}
