-- mgmt_user.lua: the management API's writes to one user, on the user's
-- slot.
--
-- KEYS[1] user hash, KEYS[2] rt, KEYS[3] rtg, KEYS[4] rtf, KEYS[5] rtr (see
-- session.lua), KEYS[6] login history, KEYS[7] the erasure marker,
-- KEYS[8] the user's refresh bucket
-- ARGV[1] op: create | update | erase | erased | logout
-- ARGV[2] JSON object of fields to set (create, update)
-- ARGV[3] JSON array of fields to delete (update)
-- ARGV[4] "1" to revoke every refresh token (update); for erase, "1" to
--         erase even without a record (a login id still names the user)
-- ARGV[5] JSON object of expected current values, {} for none (update):
--         a mismatch changes nothing and answers conflict. Field "mv" is
--         the record's management version (missing = ""); create and
--         update bump it, so a read-modify-write can detect a race.
-- ARGV[6] the erasure marker's TTL, ms (erase, erased)
-- Returns {status, HGETALL...}: ok | exists | nouser | conflict | erased;
-- erase returns {'erasing', login ids JSON} | {'erased'} | {'nouser'}.
--
-- [erase] An erasure is a marker first: KEYS[7] is set, on the user's
-- slot, in the same script that deletes every key of the user, and holds
-- the user's login ids (JSON) until the management API has unbound them
-- ('erased' then makes it "1"). No script writes a user that has a marker
-- (create, update here; login_lib.lua creates only a fresh id's record and
-- checks it too), and no login recreates a missing record, so nothing that
-- raced the erasure can bring the user back. The marker expires after
-- ARGV[6]: longer than any request that could still be in flight.
local op = ARGV[1]
if op == 'erase' then
  local mark = redis.call('GET', KEYS[7])
  local ids
  if mark and mark ~= '1' then
    ids = mark -- an erasure that did not finish: its login ids
  elseif redis.call('EXISTS', KEYS[1]) == 1 then
    ids = redis.call('HGET', KEYS[1], 'loginIds') or '[]'
  elseif mark then
    if ARGV[4] ~= '1' then return {'erased'} end
    ids = '[]'
  elseif ARGV[4] == '1' then
    ids = '[]'
  else
    return {'nouser'}
  end
  redis.call('SET', KEYS[7], ids, 'PX', ARGV[6])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[6], KEYS[8])
  redis.call('UNLINK', KEYS[4], KEYS[5])
  return {'erasing', ids}
end
if op == 'erased' then
  redis.call('SET', KEYS[7], '1', 'PX', ARGV[6])
  return {'ok'}
end
local exists = redis.call('EXISTS', KEYS[1]) == 1
if op == 'create' and (exists or redis.call('EXISTS', KEYS[7]) == 1) then
  if exists then return {'exists'} end
  return {'erased'}
end
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
