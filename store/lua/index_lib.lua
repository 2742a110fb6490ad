-- index_lib.lua: index_user(K, uid, rec) keeps a project's user indexes in
-- step with one user, on the project's slot (so search never scans the keyspace).
--
-- K[1] rec    hash  uid -> JSON {e, p, s, t, c} as last indexed
-- K[2] email  zset  "email\0uid" (score 0, lexicographic lookups)
-- K[3] phone  zset  "phone\0uid"
-- K[4..7] zsets uid -> created ms, one per (test, status):
--         real:enabled, real:disabled, test:enabled, test:disabled
-- uid
-- rec     JSON {e, p, s, t, c} of the user now, or "" to drop the user
local function index_user(K, uid, rec)
  local function setKey(r)
    local i = 4
    if r.t then i = i + 2 end
    if r.s == 'disabled' then i = i + 1 end
    return K[i]
  end
  local old = redis.call('HGET', K[1], uid)
  if old then
    local r = cjson.decode(old)
    if r.e and r.e ~= '' then redis.call('ZREM', K[2], r.e .. '\0' .. uid) end
    if r.p and r.p ~= '' then redis.call('ZREM', K[3], r.p .. '\0' .. uid) end
    for i = 4, 7 do redis.call('ZREM', K[i], uid) end
    redis.call('HDEL', K[1], uid)
  end
  if rec == '' then return 0 end
  local r = cjson.decode(rec)
  if r.e ~= '' then redis.call('ZADD', K[2], 0, r.e .. '\0' .. uid) end
  if r.p ~= '' then redis.call('ZADD', K[3], 0, r.p .. '\0' .. uid) end
  redis.call('ZADD', setKey(r), r.c, uid)
  redis.call('HSET', K[1], uid, rec)
  return 1
end

-- index_new indexes a user that cannot be indexed yet (a user id bound
-- just now to a fresh id): as index_user(K, uid, rec) for an enabled real
-- user created at `created` (ms), without the look-up of an older entry.
local function index_new(K, uid, email, phone, created)
  if email ~= '' then redis.call('ZADD', K[2], '0', email .. '\0' .. uid) end
  if phone ~= '' then redis.call('ZADD', K[3], '0', phone .. '\0' .. uid) end
  redis.call('ZADD', K[4], created, uid)
  redis.call('HSET', K[1], uid, '{"e":' .. cjson.encode(email) .. ',"p":' .. cjson.encode(phone) ..
    ',"s":"enabled","t":false,"c":' .. created .. '}')
end
