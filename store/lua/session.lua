-- session.lua: everything done with a refresh token, on the user's slot.
--
-- Refresh token ids live in three keys per user:
--   rt   sorted set  live jti -> expiry ms
--   rtf  hash        jti -> family (the jti that started the chain)
--   rtr  sorted set  rotated (spent) jti -> expiry ms, for reuse detection
--
-- KEYS[1] user hash, KEYS[2] rt, KEYS[3] rtf, KEYS[4] rtr
-- ARGV[1] op: check | refresh | logout | logoutall | drop
-- ARGV[2] jti of the presented token
-- ARGV[3] now, unix ms
-- ARGV[4] new jti when refresh rotates ("" otherwise)
-- ARGV[5] new token's expiry, unix ms (rotation)
-- Returns {status, HGETALL of the user...}
-- status: ok | revoked | reused | nouser
local op, jti, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)

local function refreshTTL()
  local last = 0
  for _, k in ipairs({KEYS[2], KEYS[4]}) do
    local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
    if top[2] and tonumber(top[2]) > last then last = tonumber(top[2]) end
  end
  if last == 0 then
    redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  else
    for i = 2, 4 do
      if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('PEXPIREAT', KEYS[i], last) end
    end
  end
end

if op == 'drop' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return {'ok'}
end

local live = redis.call('ZSCORE', KEYS[2], jti)
if not live then
  if op == 'refresh' and redis.call('ZSCORE', KEYS[4], jti) then
    -- A spent token came back: someone holds a copy. Revoke its family.
    local fam = redis.call('HGET', KEYS[3], jti) or jti
    local all = redis.call('HGETALL', KEYS[3])
    for i = 1, #all, 2 do
      if all[i + 1] == fam then
        redis.call('ZREM', KEYS[2], all[i])
        redis.call('ZREM', KEYS[4], all[i])
        redis.call('HDEL', KEYS[3], all[i])
      end
    end
    refreshTTL()
    return {'reused'}
  end
  return {'revoked'}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'nouser'}
end

if op == 'logout' then
  redis.call('ZREM', KEYS[2], jti)
  redis.call('HDEL', KEYS[3], jti)
  refreshTTL()
  return {'ok'}
elseif op == 'logoutall' then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return {'ok'}
elseif op == 'refresh' and ARGV[4] ~= '' then
  local fam = redis.call('HGET', KEYS[3], jti) or jti
  redis.call('ZREM', KEYS[2], jti)
  redis.call('ZADD', KEYS[4], live, jti)
  redis.call('HSET', KEYS[3], jti, fam, ARGV[4], fam)
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
  refreshTTL()
end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 'ok')
return out
