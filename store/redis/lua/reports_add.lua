-- Add a batch of report counters for one pack, atomically, once per batch id.
-- KEYS[1]: the batch's marker (set for ARGV[1] seconds; if it exists, the batch was
-- applied before and nothing is done); KEYS[2..]: the day hashes and contact
-- HyperLogLogs the batch touches, all under the pack's hash tag.
-- ARGV[2]: how many counter triples follow (key index, field, amount to add with
-- HINCRBYFLOAT); then groups of contacts (key index, count, that many contact ids).
-- Returns 1 when applied, 0 when the batch had been applied already.
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  redis.call('HINCRBYFLOAT', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
while i <= #ARGV do
  local count = tonumber(ARGV[i + 1])
  redis.call('PFADD', KEYS[tonumber(ARGV[i])], unpack(ARGV, i + 2, i + 1 + count))
  i = i + 2 + count
end
return 1
