-- Distinct contacts over several days: one PFCOUNT (the union of HyperLogLogs) per
-- group of keys. KEYS: every HyperLogLog, group after group (one pack's hash tag),
-- then a scratch key; ARGV: the size of each group. Returns one count per group.
-- A group too large for one call (Lua's unpack limit) is merged into the scratch
-- key in chunks, counted, and the scratch key deleted. (A script because a cluster
-- pipeline refuses PFCOUNT over several keys.)
local CHUNK = 1000
local scratch = KEYS[#KEYS]
local counts, i = {}, 1
for g = 1, #ARGV do
  local size = tonumber(ARGV[g])
  if size <= CHUNK then
    counts[g] = redis.call('PFCOUNT', unpack(KEYS, i, i + size - 1))
  else
    redis.call('DEL', scratch)
    for first = i, i + size - 1, CHUNK do
      redis.call('PFMERGE', scratch, unpack(KEYS, first, math.min(first + CHUNK - 1, i + size - 1)))
    end
    counts[g] = redis.call('PFCOUNT', scratch)
    redis.call('DEL', scratch)
  end
  i = i + size
end
return counts
