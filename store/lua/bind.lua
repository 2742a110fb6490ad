-- bind.lua: point a login id at a user, on the login id's slot.
--
-- KEYS[1] login index hash
-- ARGV[1] user id to bind
-- ARGV[2] "" to bind only when unbound or already ours; otherwise the user id
--         we expect to find there now (a merge moves login ids from it)
-- ARGV[3] contact field to set ("" for none), ARGV[4] its address
-- ARGV[5] (optional) "1": only when the login id is ARGV[1]'s already (a
--         copy refreshed on a user's own login ids, never a binding: a
--         login id unbound meanwhile, by an erasure, stays unbound)
-- Returns {status, current uid}: ok | taken | notowner
local cur = redis.call('HGET', KEYS[1], 'uid')
if ARGV[5] == '1' and cur ~= ARGV[1] then
  return {'notowner', cur or ''}
end
if cur and cur ~= ARGV[1] and cur ~= ARGV[2] then
  return {'taken', cur}
end
redis.call('HSET', KEYS[1], 'uid', ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
end
return {'ok', ARGV[1]}
