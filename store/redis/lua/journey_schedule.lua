-- A committed change's timers on one due-queue shard: schedule (replacing the
-- due time of a timer already there and ending its lease), then remove the
-- done ones, in that order (a timer both scheduled and done is gone).
-- KEYS: shard (score = due micros), lease (score = lease end micros)
-- ARGV: number of timers n, then n pairs (member, due micros), then done members.
local n = tonumber(ARGV[1])
for i = 2, 2 * n, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
for i = 2 * n + 2, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return 1
