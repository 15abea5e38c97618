-- Channel capacity counters on their own (Redis Cluster, where they live in
-- another hash slot than the contact): check and claim, or give back.
-- KEYS: capacity counters. ARGV[1]: JSON {mode: "claim"|"check"|"release", claims: [...]}.
-- Returns the channels that are full (nothing is claimed unless all fit).
local r = cjson.decode(ARGV[1])
if r.mode == 'release' then
  for i, claim in ipairs(r.claims) do
    if tonumber(redis.call('GET', KEYS[i]) or '0') >= claim.claims then
      redis.call('DECRBY', KEYS[i], claim.claims)
    end
  end
  return {}
end
local full = {}
for i, claim in ipairs(r.claims) do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + claim.claims > claim.limit then full[#full + 1] = claim.channel end
end
if #full == 0 and r.mode == 'claim' then
  for i, claim in ipairs(r.claims) do
    redis.call('INCRBY', KEYS[i], claim.claims)
    redis.call('EXPIRE', KEYS[i], claim.ttl)
  end
end
return full
