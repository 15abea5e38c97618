-- Increment a journey's counters (one per ARGV), each by one.
-- KEYS: the journey's counters hash. ARGV: counter names.
for i = 1, #ARGV do redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end
return #ARGV
