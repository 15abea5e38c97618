-- Add a batch of learning counts for one pack, atomically.
-- KEYS: the pack's counts hash (one hash tag). ARGV[1]: the time, in ISO 8601, an
-- entry gets as warm_at when its raw totals first reach ARGV[2] exposures and
-- ARGV[3] successes; then groups of five: field prefix (action \31 segment), scaled
-- exposures, scaled successes, exposures, successes.
-- Fields: prefix .. '\31n', '\31s' (scaled), '\31N', '\31S' (raw), '\31w' (warm_at).
local key = KEYS[1]
local warm_n, warm_s = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV, 5 do
  local p = ARGV[i]
  redis.call('HINCRBYFLOAT', key, p .. '\31n', ARGV[i + 1])
  redis.call('HINCRBYFLOAT', key, p .. '\31s', ARGV[i + 2])
  local n = redis.call('HINCRBY', key, p .. '\31N', ARGV[i + 3])
  local s = redis.call('HINCRBY', key, p .. '\31S', ARGV[i + 4])
  if n >= warm_n and s >= warm_s then redis.call('HSETNX', key, p .. '\31w', ARGV[1]) end
end
return (#ARGV - 3) / 5
