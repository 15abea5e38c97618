-- Apply a batch of one experiment's changes, atomically.
-- KEYS[1]: members hash (unit -> arm, or arm .. '\31c' once converted);
-- KEYS[2]: arm counts hash (arm .. '\31' .. units|conversions|revenue|unsubscribed|complained).
-- ARGV, in order, groups of four: 'e', unit, arm, '' (a unit joins once: its first arm
-- stays); 'c', unit, arm or '' (join with it first if given), value (a member converts
-- once); 'u', unit, outcome, '' (unsubscribed or complained, for members).
local members, arms = KEYS[1], KEYS[2]

local function join(unit, arm)
  if redis.call('HSETNX', members, unit, arm) == 1 then
    redis.call('HINCRBY', arms, arm .. '\31units', 1)
  end
end

for i = 1, #ARGV, 4 do
  local op, unit, third, fourth = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if op == 'e' then
    join(unit, third)
  elseif op == 'c' then
    if third ~= '' then join(unit, third) end
    local member = redis.call('HGET', members, unit)
    if member and not string.find(member, '\31c', 1, true) then
      redis.call('HSET', members, unit, member .. '\31c')
      redis.call('HINCRBY', arms, member .. '\31conversions', 1)
      redis.call('HINCRBYFLOAT', arms, member .. '\31revenue', fourth)
    end
  elseif op == 'u' then
    local member = redis.call('HGET', members, unit)
    if member then
      local arm = string.gsub(member, '\31c$', '')
      redis.call('HINCRBY', arms, arm .. '\31' .. third, 1)
    end
  end
end
return #ARGV / 4
