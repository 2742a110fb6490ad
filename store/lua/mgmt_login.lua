-- mgmt_login.lua: the management API's writes to one login id, on its
-- slot: bind it to a user, refresh the copies of the user's verified
-- addresses and disabled flag it carries (start.lua and verify.lua read
-- them), or unbind it.
--
-- KEYS[1] login index hash; KEYS[2..] its pending codes (one per channel,
-- deleted by unbind; a disabled user's codes stay, and verify.lua refuses
-- them with a clear error)
-- ARGV[1] op: bind (unbound or ours) | set (ours only) | unbind (ours only)
-- ARGV[2] user id
-- ARGV[3] JSON object of fields to set, ARGV[4] JSON array of fields to delete
-- Returns {status, current uid}: ok | taken | notowner
local cur = redis.call('HGET', KEYS[1], 'uid')
local op, uid = ARGV[1], ARGV[2]
if op == 'bind' then
  if cur and cur ~= uid then return {'taken', cur} end
elseif cur ~= uid then
  return {'notowner', cur or ''}
end
if op == 'unbind' then
  for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end
  return {'ok', ''}
end
redis.call('HSET', KEYS[1], 'uid', uid)
for f, v in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[1], f, v) end
local del = cjson.decode(ARGV[4])
if #del > 0 then redis.call('HDEL', KEYS[1], unpack(del)) end
return {'ok', uid}
