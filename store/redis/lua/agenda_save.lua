-- Save one task of the agenda (store/redis/agenda.py): the version check, the
-- task, its index entries, the versions of the agendas it joins and leaves and
-- the contact's sticky agent, at once.
--
-- KEYS: 1 tasks (id -> JSON), 2 versions (agent -> int), 3 unassigned (zset by
--   creation), 4 agenda and 5 open (zsets) of the task's agent, 6 agenda and
--   7 open of the agent the caller believes the stored task has, 8 the task's
--   contact zset, 9 the contact zset the caller believes the stored task is in,
--   10 the assignment hash of the task's sticky contact (unused keys: a placeholder)
-- ARGV: 1 task id, 2 task JSON, 3 its agent ('' for none), 4 the stored task's
--   agent as the caller believes it, 5 the stored task's contact as believed,
--   6 agenda score (slot, else creation, micros), 7 creation micros, 8 '1' if the
--   task is open, 9 expected version ('' for none), 10 '1' to record a sticky
--   agent, 11 its routing queue, 12 the agent
-- Returns {1} saved, {0} the agenda is not at the expected version (nothing
-- written), {-1, agent, contact} the stored task is not where the caller believed
-- (nothing written: call again with those keys).
local id, agent = ARGV[1], ARGV[3]
if ARGV[9] ~= '' and agent ~= '' then
  local version = tonumber(redis.call('HGET', KEYS[2], agent) or '0')
  if version ~= tonumber(ARGV[9]) then return {0} end
end

local stored = redis.call('HGET', KEYS[1], id)
if stored then
  local old = cjson.decode(stored)
  local old_agent = old.agent_id
  if old_agent == cjson.null then old_agent = '' end
  if old_agent ~= ARGV[4] or old.contact_id ~= ARGV[5] then
    return {-1, old_agent, old.contact_id}
  end
  if old_agent ~= '' then
    redis.call('ZREM', KEYS[6], id)
    redis.call('ZREM', KEYS[7], id)
    if old_agent ~= agent then redis.call('HINCRBY', KEYS[2], old_agent, 1) end
  end
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[9], id)
end

redis.call('HSET', KEYS[1], id, ARGV[2])
if agent ~= '' then
  redis.call('ZADD', KEYS[4], ARGV[6], id)
  if ARGV[8] == '1' then redis.call('ZADD', KEYS[5], ARGV[6], id) end
  redis.call('HINCRBY', KEYS[2], agent, 1)
elseif ARGV[8] == '1' then
  redis.call('ZADD', KEYS[3], ARGV[7], id)
end
redis.call('ZADD', KEYS[8], ARGV[7], id)
if ARGV[10] == '1' then redis.call('HSET', KEYS[10], ARGV[11], ARGV[12]) end
return {1}
