-- After a commit's (or a requeue's) messages reached their outboxes: take the
-- published records out of the contact's pending fields.
-- KEYS: j (the contact's journey hash)
-- ARGV: number of records n, then n pending record texts (JSON with f = the run
--       ids each is filed under).
local n = tonumber(ARGV[1])
local gone, fields = {}, {}
for i = 2, n + 1 do
  gone[ARGV[i]] = true
  for _, run_id in ipairs(cjson.decode(ARGV[i]).f) do fields['p:' .. run_id] = true end
end
for field in pairs(fields) do
  local filed = redis.call('HGET', KEYS[1], field)
  if filed then
    local kept = {}
    for record in string.gmatch(filed, '[^\n]+') do
      if not gone[record] then kept[#kept + 1] = record end
    end
    if #kept == 0 then
      redis.call('HDEL', KEYS[1], field)
    else
      redis.call('HSET', KEYS[1], field, table.concat(kept, '\n'))
    end
  end
end
return 1
