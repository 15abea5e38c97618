-- Replace ('put') or merge ('patch') a contact's profile and consents.
-- KEYS: profile, consents, seen. ARGV: mode, number of profile pairs, then
-- profile field/JSON value pairs, then consent channel/'1'|'0' pairs.
-- Returns {profile pairs, consent pairs} as stored afterwards.
if ARGV[1] == 'put' then redis.call('DEL', KEYS[1], KEYS[2]) end
local pairs_in_profile = tonumber(ARGV[2])
local split = 3 + 2 * pairs_in_profile
for i = 3, split - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = split, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[3], '1')
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
