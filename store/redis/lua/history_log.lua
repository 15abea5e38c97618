-- Shared by load.lua, reserve.lua and outcome.lua (included where they say
-- --#include history_log): the layout of a contact's history on Redis.
--
-- The history is one string (key 'log'): a record per entry, each after a
-- "\n", in the order they were recorded. A record is its fields separated by
-- "\31" (decision, action, program, kind, channel, placement, at in integer
-- microseconds, journey, run, step), then one "\30"-prefixed part per
-- outcome, in the order they were recorded (outcome, at, value). See
-- store/redis/history_log.py, which writes and reads the same records.
--
-- Before this layout, entries were JSON values of a hash ('hist', with the
-- sorted sets 'times' and 'touch', outcomes in the hash 'out' and a counter
-- 'seq'). migrate() turns such a contact into a log the first time a script
-- meets it, and deletes the old keys.
local US, RS = '\31', '\30'
local KIND_CODES = {transactional = '0', service = '1', relational = '2', commercial = '3'}

-- Texts are percent-escaped as store/redis/history_log.py does.
local ESCAPES = {['%'] = '%25', ['\n'] = '%0A', ['\30'] = '%1E', ['\31'] = '%1F',
                 ['\1'] = '%01'}

local UNESCAPES = {}
for char, code in pairs(ESCAPES) do UNESCAPES[code] = char end

local function untext(value)
  return (string.gsub(value, '%%%x%x', UNESCAPES))
end

local function text(value)
  if value == nil or value == cjson.null then return '' end
  if type(value) == 'number' then return string.format('%.0f', value) end
  return (string.gsub(tostring(value), '[%%\n\30\31\1]', ESCAPES))
end

local function migrate(log_key, hist, out, old_keys)
  if redis.call('EXISTS', hist) == 0 then return end
  local flat = redis.call('HGETALL', hist)
  local outcomes = {}
  local out_flat = redis.call('HGETALL', out)
  for i = 1, #out_flat, 2 do
    local entry_field, name = string.match(out_flat[i], '^(.*)\31([^\31]*)$')
    -- '[at,value,seq]', read as text so that the value keeps its digits
    local at, value, seq = string.match(out_flat[i + 1], '^%[([^,]*),(.*),([^,]*)%]$')
    if value == 'null' then value = '' end
    outcomes[entry_field] = outcomes[entry_field] or {}
    table.insert(outcomes[entry_field], {tonumber(seq), RS .. name .. US .. at .. US .. value})
  end
  local entries = {}
  for i = 1, #flat, 2 do
    local e = cjson.decode(flat[i + 1])
    local parts = {}
    for _, o in ipairs(outcomes[flat[i]] or {}) do parts[#parts + 1] = o end
    table.sort(parts, function(a, b) return a[1] < b[1] end)
    local tail = {}
    for n, o in ipairs(parts) do tail[n] = o[2] end
    local record = '\n' .. table.concat({text(e.d), text(e.a), text(e.p),
      KIND_CODES[e.k] or text(e.k), text(e.c), text(e.l), text(e.t), text(e.j), text(e.r),
      text(e.sp)}, US) .. table.concat(tail)
    entries[#entries + 1] = {tonumber(e.t), tonumber(e.s), record}
  end
  table.sort(entries, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local records = {}
  for n, e in ipairs(entries) do records[n] = e[3] end
  redis.call('SET', log_key, (redis.call('GET', log_key) or '') .. table.concat(records))
  redis.call('DEL', unpack(old_keys))
end

-- A record's fields up to its time (decision, action, program, kind, channel, at).
local RECORD = '^([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31[^\31]*\31([^\31\30]*)'
-- Over a whole log: where each record starts (its "\n") and its time.
local TIMES = '()\n' .. string.rep('[^\31\n]*\31', 6) .. '([^\31\30\n]*)'

-- The record whose "\n" is at ``start`` in ``log``, and where it ends.
local function record_at(log, start)
  local stop = string.find(log, '\n', start + 1, true) or (#log + 1)
  return string.sub(log, start + 1, stop - 1), stop
end

-- The latest activity of a record: its own time or its latest outcome's.
local function last_activity(record, at)
  local latest = at
  for moment in string.gmatch(record, '\30[^\31]*\31([^\31\30]*)') do
    local t = tonumber(moment)
    if t and t > latest then latest = t end
  end
  return latest
end
