-- mgmt_index.lua: keep a project's user indexes in step with one user, on
-- the project's slot (so search never scans the keyspace).
--
-- KEYS[1] rec    hash  uid -> JSON {e, p, s, t, c} as last indexed
-- KEYS[2] email  zset  "email\0uid" (score 0, lexicographic lookups)
-- KEYS[3] phone  zset  "phone\0uid"
-- KEYS[4..7] zsets uid -> created ms, one per (test, status):
--         real:enabled, real:disabled, test:enabled, test:disabled
-- ARGV[1] uid
-- ARGV[2] JSON {e, p, s, t, c} of the user now, or "" to drop the user
local uid = ARGV[1]
local function setKey(r)
  local i = 4
  if r.t then i = i + 2 end
  if r.s == 'disabled' then i = i + 1 end
  return KEYS[i]
end
local old = redis.call('HGET', KEYS[1], uid)
if old then
  local r = cjson.decode(old)
  if r.e and r.e ~= '' then redis.call('ZREM', KEYS[2], r.e .. '\0' .. uid) end
  if r.p and r.p ~= '' then redis.call('ZREM', KEYS[3], r.p .. '\0' .. uid) end
  for i = 4, 7 do redis.call('ZREM', KEYS[i], uid) end
  redis.call('HDEL', KEYS[1], uid)
end
if ARGV[2] == '' then return 0 end
local r = cjson.decode(ARGV[2])
if r.e ~= '' then redis.call('ZADD', KEYS[2], 0, r.e .. '\0' .. uid) end
if r.p ~= '' then redis.call('ZADD', KEYS[3], 0, r.p .. '\0' .. uid) end
redis.call('ZADD', setKey(r), r.c, uid)
redis.call('HSET', KEYS[1], uid, ARGV[2])
return 1
