-- The pack registry's changes, each atomic with its audit entry.
-- KEYS: meta, source, order, stack, active, audit, audit_seq (one hash tag: {packs}).
-- ARGV[1]: the operation; ARGV[2]: the audit entry as JSON; then:
--   add      ARGV[3] hash, ARGV[4] meta JSON, ARGV[5] source  -> 1 stored, 0 already there
--            (nothing changed, no audit entry)
--   activate ARGV[3] hash, ARGV[4] "1" for only-if-none       -> 1 activated, 0 unchanged
--   rollback ARGV[3] the hash to undo (if still active)       -> the restored hash, or false
--   record                                                    -> the entry's seq
local op, audit = ARGV[1], cjson.decode(ARGV[2])
local AUDIT_KEPT = 100000

local function append(what)
  for key, value in pairs(what) do audit.what[key] = value end
  audit.seq = redis.call('INCR', KEYS[7])
  redis.call('LPUSH', KEYS[6], cjson.encode(audit))
  redis.call('LTRIM', KEYS[6], 0, AUDIT_KEPT - 1)
  return audit.seq
end

local function top()
  return redis.call('LINDEX', KEYS[4], -1)
end

if op == 'add' then
  local created = redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[4])
  if created == 1 then
    redis.call('HSET', KEYS[2], ARGV[3], ARGV[5])
    redis.call('RPUSH', KEYS[3], ARGV[3])
    append({})
  end
  return created
elseif op == 'activate' then
  local previous = top()
  if previous == ARGV[3] or (ARGV[4] == '1' and previous) then return 0 end
  redis.call('RPUSH', KEYS[4], ARGV[3])
  redis.call('SET', KEYS[5], ARGV[3])
  append({previous = previous or cjson.null})
  return 1
elseif op == 'rollback' then
  if redis.call('LLEN', KEYS[4]) < 2 or top() ~= ARGV[3] then return false end
  local undone = redis.call('RPOP', KEYS[4])
  local restored = top()
  redis.call('SET', KEYS[5], restored)
  append({from = undone, to = restored})
  return restored
elseif op == 'record' then
  return append({})
end
return redis.error_reply('unknown pack registry operation ' .. tostring(op))
