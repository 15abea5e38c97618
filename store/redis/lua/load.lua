-- Everything a decision needs about one contact, read atomically.
-- KEYS: profile, consents, seen, log, then the old layout's hist, out, times,
--       touch, seq (a contact still in it is migrated first; see history_log.lua)
-- The history comes back as the log string: one split for all entries; the
-- profile as one JSON object.
--#include history_log
migrate(KEYS[4], KEYS[5], KEYS[6], {KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]})
-- The profile as one JSON object (its values are stored as JSON texts): one parse.
local flat, members = redis.call('HGETALL', KEYS[1]), {}
for i = 1, #flat, 2 do members[#members + 1] = cjson.encode(flat[i]) .. ':' .. flat[i + 1] end
return {
  '{' .. table.concat(members, ',') .. '}',
  redis.call('HGETALL', KEYS[2]),
  redis.call('EXISTS', KEYS[3]),
  redis.call('GET', KEYS[4]) or '',
}
