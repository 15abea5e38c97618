-- Claim timers of one due-queue shard: each member only if it is still queued,
-- due and not leased, so that two workers never claim the same timer.
-- KEYS: shard (score = due micros), lease (score = lease end micros)
-- ARGV: now (micros), lease end (micros), then the members to claim.
-- Returns {member, due, ...} for the members claimed.
local now = tonumber(ARGV[1])
local won = {}
for i = 3, #ARGV do
  local due = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if due and tonumber(due) <= now then
    local lease = redis.call('ZSCORE', KEYS[2], ARGV[i])
    if not lease or tonumber(lease) <= now then
      redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i])
      won[#won + 1] = ARGV[i]
      won[#won + 1] = due
    end
  end
end
return won
