-- A contact's kept events, oldest first (equal times in the order they came).
-- KEYS: ev (event id -> event JSON), evt (sorted set: score = time, member =
--       12-digit arrival order + event id). Returns the event JSON texts.
local members = redis.call('ZRANGE', KEYS[2], 0, -1)
if #members == 0 then return {} end
local ids = {}
for i, member in ipairs(members) do ids[i] = string.sub(member, 13) end
return redis.call('HMGET', KEYS[1], unpack(ids))
