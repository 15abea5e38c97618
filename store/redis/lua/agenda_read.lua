-- Tasks of one agenda index, read at once (store/redis/agenda.py).
--
-- KEYS: 1 an index zset (task ids scored by micros), 2 tasks (id -> JSON)
-- ARGV: 1 min score, 2 max score (ZRANGEBYSCORE syntax), 3 at most this many (-1: all)
-- Returns the tasks' JSON in index order (score, then id).
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local found = {}
for _, id in ipairs(ids) do
  local body = redis.call('HGET', KEYS[2], id)
  if body then found[#found + 1] = body end
end
return found
