-- Everything a decision needs about one contact, read atomically.
-- KEYS: profile, consents, seen, hist, out (all of one contact, one hash slot)
-- The history comes back as one JSON array: one parse for all entries.
return {
  redis.call('HGETALL', KEYS[1]),
  redis.call('HGETALL', KEYS[2]),
  redis.call('EXISTS', KEYS[3]),
  '[' .. table.concat(redis.call('HVALS', KEYS[4]), ',') .. ']',
  redis.call('HGETALL', KEYS[5]),
}
