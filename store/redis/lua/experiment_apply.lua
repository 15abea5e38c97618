-- Apply a batch of one experiment's changes, atomically, once per batch id.
-- KEYS[1]: members hash (unit -> arm, or arm .. '\31c' once converted);
-- KEYS[2]: arm counts hash (arm .. '\31' .. units|conversions|revenue|unsubscribed|complained);
-- KEYS[3]: daily counters hash (arm .. '\31' .. day .. '\31' .. joined|goal_events|
-- goal_revenue|goal_square); KEYS[4]: members' running goal value (unit -> sum);
-- KEYS[5]: the batch's marker (set for ARGV[1] seconds; if it exists, the batch was
-- applied before and nothing is done). ARGV[2]: the local day the changes count on.
-- Then, in order, groups of four: 'e', unit, arm, '' (a unit joins once: its first arm
-- stays); 'c', unit, arm or '' (join with it first if given), value (every goal event of
-- a member counts on its day; a member converts once); 'u', unit, outcome, ''
-- (unsubscribed or complained, for members).
-- Returns the number of changes, or -1 when the batch had been applied already.
local members, arms, days, goals = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[1]) then return -1 end
local day = ARGV[2]

local function count_day(arm, name, amount)
  redis.call('HINCRBYFLOAT', days, arm .. '\31' .. day .. '\31' .. name, amount)
end

local function join(unit, arm)
  if redis.call('HSETNX', members, unit, arm) == 1 then
    redis.call('HINCRBY', arms, arm .. '\31units', 1)
    count_day(arm, 'joined', 1)
  end
end

local function convert(unit, value)
  local member = redis.call('HGET', members, unit)
  if not member then return end
  local arm = string.gsub(member, '\31c$', '')
  local v = tonumber(value)
  local before = tonumber(redis.call('HGET', goals, unit) or '0')
  redis.call('HINCRBYFLOAT', goals, unit, value)
  count_day(arm, 'goal_events', 1)
  count_day(arm, 'goal_revenue', value)
  count_day(arm, 'goal_square', string.format('%.17g', v * (2 * before + v)))
  if arm == member then
    redis.call('HSET', members, unit, member .. '\31c')
    redis.call('HINCRBY', arms, member .. '\31conversions', 1)
    redis.call('HINCRBYFLOAT', arms, member .. '\31revenue', value)
  end
end

for i = 3, #ARGV, 4 do
  local op, unit, third, fourth = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if op == 'e' then
    join(unit, third)
  elseif op == 'c' then
    if third ~= '' then join(unit, third) end
    convert(unit, fourth)
  elseif op == 'u' then
    local member = redis.call('HGET', members, unit)
    if member then
      local arm = string.gsub(member, '\31c$', '')
      redis.call('HINCRBY', arms, arm .. '\31' .. third, 1)
    end
  end
end
return (#ARGV - 2) / 4
