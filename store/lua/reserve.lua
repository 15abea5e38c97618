-- Check every window cap and capacity claim of a reservation and, if all hold,
-- record its entries, claims and decision index, all or nothing.
-- The rule is engine/reservations.py's check_reservation; the contract suite
-- holds both to the same answers.
--
-- KEYS: hist, times, touch, out, seq, seen (one contact, one hash slot),
--       then r.ncap capacity counters, then r.nidx decision index keys.
-- ARGV[1]: the reservation as JSON (see store/redis_store.py, _reservation_json).
-- Returns {ok (0/1), failed rule ids, full channels, already recorded (0/1)}.
local r = cjson.decode(ARGV[1])
local BASE = 6

-- A retried call whose first attempt was applied finds its entries: done.
if #r.entries > 0 and redis.call('HEXISTS', KEYS[1], r.entries[1].field) == 1 then
  return {1, {}, {}, 1}
end

local function set_of(list)
  if #list == 0 then return nil end
  local set = {}
  for _, value in ipairs(list) do set[value] = true end
  return set
end

local function live_entries(floor)
  local fields = redis.call('ZRANGEBYSCORE', KEYS[2], floor, '+inf')
  local live = {}
  for start = 1, #fields, 500 do
    local chunk = {}
    for i = start, math.min(start + 499, #fields) do chunk[#chunk + 1] = fields[i] end
    local values = redis.call('HMGET', KEYS[1], unpack(chunk))
    for i = 1, #chunk do
      local value = values[i]
      if value and redis.call('HEXISTS', KEYS[4], chunk[i] .. '\31failed') == 0 then
        local entry = cjson.decode(value)
        entry.ts = tonumber(entry.t)
        live[#live + 1] = entry
      end
    end
  end
  return live
end

local failed = {}
if #r.checks > 0 then
  local live = live_entries(r.floor)
  for _, check in ipairs(r.checks) do
    local since = tonumber(check.since)
    local kinds, channels = set_of(check.kinds), set_of(check.channels)
    local programs, actions = set_of(check.programs), set_of(check.actions)
    local count = check.new
    for _, e in ipairs(live) do
      if e.ts >= since and (not kinds or kinds[e.k]) and (not channels or channels[e.c])
          and (not programs or programs[e.p]) and (not actions or actions[e.a]) then
        count = count + 1
      end
    end
    if count > check.limit then failed[#failed + 1] = check.rule end
  end
end

local full = {}
for i, claim in ipairs(r.capacity) do
  local used = tonumber(redis.call('GET', KEYS[BASE + i]) or '0')
  if used + claim.claims > claim.limit then full[#full + 1] = claim.channel end
end

if #failed > 0 or #full > 0 then return {0, failed, full, 0} end
if r.commit == 0 then return {1, {}, {}, 0} end

local seq = redis.call('INCRBY', KEYS[5], #r.entries) - #r.entries
for i, e in ipairs(r.entries) do
  redis.call('HSET', KEYS[1], e.field, '{"s":' .. (seq + i) .. ',' .. string.sub(e.value, 2))
  redis.call('ZADD', KEYS[2], e.at, e.field)
  redis.call('ZADD', KEYS[3], e.at, e.field)
end
redis.call('SET', KEYS[6], '1')
for i, claim in ipairs(r.capacity) do
  redis.call('INCRBY', KEYS[BASE + i], claim.claims)
  redis.call('EXPIRE', KEYS[BASE + i], claim.ttl)
end
for i = 1, r.nidx do
  redis.call('SET', KEYS[BASE + #r.capacity + i], r.contact, 'EX', r.index_ttl)
end

-- Trim entries with no activity since keep_since: no policy reads them.
if r.keep_since ~= '' then
  local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. r.keep_since,
                         'LIMIT', 0, 200)
  for _, field in ipairs(old) do
    local outcome_fields = {}
    for _, outcome in ipairs(r.outcomes) do
      outcome_fields[#outcome_fields + 1] = field .. '\31' .. outcome
    end
    redis.call('HDEL', KEYS[4], unpack(outcome_fields))
    redis.call('HDEL', KEYS[1], field)
    redis.call('ZREM', KEYS[2], field)
    redis.call('ZREM', KEYS[3], field)
  end
end
return {1, {}, {}, 0}
