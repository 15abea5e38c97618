-- Record a call's result (store/redis/agenda.py): a compare-and-set of the task's
-- JSON, read and checked by the caller, which computed the done task.
--
-- KEYS: 1 tasks (id -> JSON), 2 versions (agent -> int), 3 open zset of the
--   task's agent (a placeholder if none), 4 unassigned zset
-- ARGV: 1 task id, 2 the JSON the caller read, 3 the done task's JSON, 4 its
--   agent ('' for none)
-- Returns 1 recorded, 0 the task changed since it was read (nothing written).
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
end
return 1
