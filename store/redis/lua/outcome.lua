-- Attach an outcome to a recorded entry once; 'unsubscribed' also revokes
-- consent on the entry's channel.
-- KEYS: log, consents, then the old layout's hist, out, times, touch, seq
--       (one contact, one hash slot; see history_log.lua)
-- ARGV: the entry's key (decision and action as its record starts), outcome,
--       at (integer microseconds), value (JSON text, or '' for none).
-- Returns {status, the entry's record}: status 0 no such entry, 1 recorded,
-- 2 already recorded.
--#include history_log
migrate(KEYS[1], KEYS[3], KEYS[4], {KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]})
local log = redis.call('GET', KEYS[1])
if not log then return {0} end
local start = string.find(log, '\n' .. ARGV[1] .. US, 1, true)
if not start then return {0} end
local stop = string.find(log, '\n', start + 1, true) or (#log + 1)
local record = string.sub(log, start + 1, stop - 1)
if string.find(record, RS .. ARGV[2] .. US, 1, true) then return {2, record} end
record = record .. RS .. ARGV[2] .. US .. ARGV[3] .. US .. ARGV[4]
redis.call('SET', KEYS[1], string.sub(log, 1, start) .. record .. string.sub(log, stop))
if ARGV[2] == 'unsubscribed' then
  local channel = select(5, string.match(record, RECORD))
  redis.call('HSET', KEYS[2], untext(channel), '0')
end
return {1, record}
