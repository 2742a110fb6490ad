-- mgmt_user.lua: the management API's writes to one user, on the user's
-- slot.
--
-- KEYS[1] user hash, KEYS[2] rt, KEYS[3] rtg, KEYS[4] rtf, KEYS[5] rtr (see
-- session.lua), KEYS[6] login history
-- ARGV[1] op: create | update | delete | logout
-- ARGV[2] JSON object of fields to set (create, update)
-- ARGV[3] JSON array of fields to delete (update)
-- ARGV[4] "1" to revoke every refresh token (update)
-- ARGV[5] JSON object of expected current values, {} for none (update):
--         a mismatch changes nothing and answers conflict. Field "mv" is
--         the record's management version (missing = ""); create and
--         update bump it, so a read-modify-write can detect a race.
-- Returns {status, HGETALL...}: ok | exists | nouser | conflict
local op = ARGV[1]
local exists = redis.call('EXISTS', KEYS[1]) == 1
if op == 'delete' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[6])
  redis.call('UNLINK', KEYS[4], KEYS[5])
  return {'ok'}
end
if op == 'create' and exists then return {'exists'} end
if op ~= 'create' and not exists then return {'nouser'} end
if op == 'logout' then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('UNLINK', KEYS[4], KEYS[5])
  return {'ok'}
end
if op == 'update' then
  for f, v in pairs(cjson.decode(ARGV[5])) do
    if (redis.call('HGET', KEYS[1], f) or '') ~= v then return {'conflict'} end
  end
  local del = cjson.decode(ARGV[3])
  if #del > 0 then redis.call('HDEL', KEYS[1], unpack(del)) end
  if ARGV[4] == '1' then
    redis.call('DEL', KEYS[2], KEYS[3])
    redis.call('UNLINK', KEYS[4], KEYS[5])
  end
end
local set = {}
for f, v in pairs(cjson.decode(ARGV[2])) do
  table.insert(set, f)
  table.insert(set, v)
end
if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
redis.call('HINCRBY', KEYS[1], 'mv', 1)
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 'ok')
return out
