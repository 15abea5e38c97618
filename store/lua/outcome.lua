-- Attach an outcome to a recorded entry once; 'unsubscribed' also revokes
-- consent on the entry's channel.
-- KEYS: hist, out, touch, consents, seq (one contact, one hash slot)
-- ARGV: entry field, outcome, at (integer microseconds), value (JSON), then
--       every outcome name (to return the entry's outcomes).
-- Returns {status, entry JSON, outcome JSON per name}: status 0 no such entry,
-- 1 recorded, 2 already recorded.
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return {0} end
local status = 2
local field = ARGV[1] .. '\31' .. ARGV[2]
if redis.call('HEXISTS', KEYS[2], field) == 0 then
  local seq = redis.call('INCR', KEYS[5])
  redis.call('HSET', KEYS[2], field, '[' .. ARGV[3] .. ',' .. ARGV[4] .. ',' .. seq .. ']')
  redis.call('ZADD', KEYS[3], 'GT', ARGV[3], ARGV[1])
  if ARGV[2] == 'unsubscribed' then
    redis.call('HSET', KEYS[4], cjson.decode(entry).c, '0')
  end
  status = 1
end
local reply = {status, entry}
for i = 5, #ARGV do
  reply[#reply + 1] = redis.call('HGET', KEYS[2], ARGV[1] .. '\31' .. ARGV[i]) or ''
end
return reply
