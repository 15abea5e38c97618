-- Erase a contact's tasks and sticky agents (store/redis/agenda.py).
--
-- KEYS: 1 tasks (id -> JSON), 2 unassigned zset, 3 the contact's task zset,
--   4 the contact's assignment hash, then for each of the n tasks the agenda and
--   open zsets of its agent (placeholders if none)
-- ARGV: 1 n, then n task ids, then their agents ('' for none) as the caller read them
-- Returns 1 something was erased, 0 nothing was stored, -1 the contact's tasks
-- changed since the caller read them (nothing written: read and call again).
local n = tonumber(ARGV[1])
if redis.call('ZCARD', KEYS[3]) ~= n then return -1 end
for i = 1, n do
  local id, agent = ARGV[1 + i], ARGV[1 + n + i]
  local stored = redis.call('HGET', KEYS[1], id)
  local now = ''
  if stored then
    now = cjson.decode(stored).agent_id
    if now == cjson.null then now = '' end
  end
  if now ~= agent or not redis.call('ZSCORE', KEYS[3], id) then return -1 end
end
for i = 1, n do
  local id = ARGV[1 + i]
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3 + 2 * i], id)
  redis.call('ZREM', KEYS[4 + 2 * i], id)
end
local erased = n + redis.call('DEL', KEYS[3], KEYS[4])
if erased > 0 then return 1 end
return 0
