-- Check every window cap and capacity claim of a reservation and, if all hold,
-- record its entries, claims and decision index, all or nothing.
-- The rule is engine/decision/reservations.py's check_reservation; the
-- contract suite holds both to the same answers.
--
-- KEYS: log, seen, then the old layout's hist, out, times, touch, seq (one
--       contact, one hash slot; see history_log.lua), then r.ncap capacity
--       counters, then r.nidx decision index keys.
-- ARGV[1]: the reservation as JSON (see store/redis/contacts.py, _reservation_json).
-- Returns {ok (0/1), failed rule ids, full channels, already recorded (0/1)}.
--#include history_log
local r = cjson.decode(ARGV[1])
local BASE = 7
migrate(KEYS[1], KEYS[3], KEYS[4], {KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]})
local log = redis.call('GET', KEYS[1]) or ''

-- A retried call whose first attempt was applied finds its entries: done.
if #r.entries > 0 and string.find(log, '\n' .. r.entries[1].key .. US, 1, true) then
  return {1, {}, {}, 1}
end

local function set_of(list)
  if #list == 0 then return nil end
  local set = {}
  for _, value in ipairs(list) do set[value] = true end
  return set
end

local failed = {}
if #r.checks > 0 then
  local floor = tonumber(r.floor)
  local live = {}
  for start, t in string.gmatch(log, TIMES) do
    t = tonumber(t)
    if t >= floor then  -- only records in the checks' windows are split
      local record = record_at(log, start)
      if not string.find(record, '\30failed\31', 1, true) then
        local _, a, p, k, c = string.match(record, RECORD)
        live[#live + 1] = {a = a, p = p, k = k, c = c, ts = t}
      end
    end
  end
  for _, check in ipairs(r.checks) do
    local since = tonumber(check.since)
    local kinds, channels = set_of(check.kinds), set_of(check.channels)
    local programs, actions = set_of(check.programs), set_of(check.actions)
    local count = check.new
    -- a weighted budget counts each entry's channel weight (cjson.null: unweighted)
    local weights = check.weights ~= cjson.null and check.weights or nil
    for _, e in ipairs(live) do
      if e.ts >= since and (not kinds or kinds[e.k]) and (not channels or channels[e.c])
          and (not programs or programs[e.p]) and (not actions or actions[e.a]) then
        count = count + (weights and (weights[e.c] or 0) or 1)
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

-- Entries with no activity (recorded, or an outcome) since keep_since are
-- read by no policy: they are left out of the log written back.
-- Only records older than keep_since are split, to look at their outcomes.
local kept, from = {}, 1
if r.keep_since ~= '' then
  local keep_since = tonumber(r.keep_since)
  for start, t in string.gmatch(log, TIMES) do
    if tonumber(t) < keep_since then
      local record, stop = record_at(log, start)
      if last_activity(record, tonumber(t)) < keep_since then
        kept[#kept + 1] = string.sub(log, from, start - 1)
        from = stop
      end
    end
  end
end
kept[#kept + 1] = string.sub(log, from)
for _, e in ipairs(r.entries) do kept[#kept + 1] = '\n' .. e.record end
redis.call('SET', KEYS[1], table.concat(kept))
redis.call('SET', KEYS[2], '1')
for i, claim in ipairs(r.capacity) do
  redis.call('INCRBY', KEYS[BASE + i], claim.claims)
  redis.call('EXPIRE', KEYS[BASE + i], claim.ttl)
end
for i = 1, r.nidx do
  redis.call('SET', KEYS[BASE + #r.capacity + i], r.contact, 'EX', r.index_ttl)
end
return {1, {}, {}, 0}
