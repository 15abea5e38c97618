-- The earliest timers of one due-queue shard that are due and not leased, for
-- claim_due to pick the globally earliest ones (journey_claim.lua then claims).
-- The cost grows with the due (and leased) timers read, never with the queue.
-- KEYS: shard (sorted set: score = due micros, member = contact SEP timer key),
--       lease (sorted set: score = lease end micros, same members)
-- ARGV: now (micros), limit. Returns {member, due, member, due, ...}.
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local found, offset = {}, 0
while true do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES',
                           'LIMIT', offset, limit)
  for i = 1, #batch, 2 do
    local lease = redis.call('ZSCORE', KEYS[2], batch[i])
    if not lease or tonumber(lease) <= now then
      found[#found + 1] = batch[i]
      found[#found + 1] = batch[i + 1]
      if #found == 2 * limit then return found end
    end
  end
  if #batch < 2 * limit then return found end
  offset = offset + limit
end
