-- refresh_lib.lua: a user's refresh-token state, prepended to login.lua and
-- session.lua. Two keys on the user's slot:
--   rt   sorted set  family -> expiry ms: one member per live token family.
--                    A family is the jti of the token a sign-in issued; its
--                    rotations keep its member and its expiry.
--   rtg  hash        family -> "generation:rotatedAtMs", only for families
--                    that have rotated (absent: generation 0).
-- Both are bounded by the per-user cap, and no function here does more than
-- a constant (RT_BATCH) or cap-bounded amount of work, whatever the user's
-- history: rotations leave no trace but the new generation number.
local RT_BATCH = 128
local RT_BATCH_S = '128' -- as a redis.call argument (a number costs a conversion)

-- rt_sweep forgets up to RT_BATCH expired families (the rest next time).
local function rt_sweep(rt, rtg, now)
  local gone = redis.call('ZRANGEBYSCORE', rt, '-inf', now, 'LIMIT', '0', RT_BATCH_S)
  if #gone > 0 then
    redis.call('ZREM', rt, unpack(gone))
    redis.call('HDEL', rtg, unpack(gone))
  end
end

-- rt_evict keeps at most cap families by dropping the oldest (the soonest
-- to expire; every family lives refreshTTL from its sign-in), never keep,
-- and at most RT_BATCH per call (an oversized set from an older release
-- shrinks over a few sign-ins).
local function rt_evict(rt, rtg, cap, keep)
  local over = redis.call('ZCARD', rt) - cap
  if over <= 0 then return end
  if over > RT_BATCH then over = RT_BATCH end
  local n = 0
  for _, f in ipairs(redis.call('ZRANGE', rt, 0, over)) do
    if f ~= keep and n < over then
      redis.call('ZREM', rt, f)
      redis.call('HDEL', rtg, f)
      n = n + 1
    end
  end
end

-- rt_expire makes both keys expire with the last family, or deletes them.
local function rt_expire(rt, rtg)
  local top = redis.call('ZRANGE', rt, '-1', '-1', 'WITHSCORES')
  if not top[2] then
    redis.call('DEL', rt, rtg)
    return
  end
  local at = string.format('%d', tonumber(top[2]))
  redis.call('PEXPIREAT', rt, at)
  redis.call('PEXPIREAT', rtg, at) -- a no-op when rtg does not exist
end

-- rt_register adds family fam (expiring at exp, unix ms, a decimal
-- string) to a user's families at now: ZADD, then, only when the set is
-- over cap, rt_sweep and rt_evict(cap, fam) (expired families are the
-- oldest, evicted first; below the cap they cost nothing, are swept by
-- session.lua, and are refused by their score and by their token's own
-- expiry), and the keys' expiry. Both keys expire with their last family:
-- their TTL is never below any family's expiry (every write since the
-- first sets it to the top family's, or to at least the new family's), so
-- the new family's expiry applies only when it is later (PEXPIREAT GT). A
-- set this ZADD created (one member: the user's families had all expired)
-- has no TTL, which GT treats as infinite: a plain PEXPIREAT then. Four
-- commands for a user under the cap (six before: the sweep's
-- ZRANGEBYSCORE and the top family's ZRANGE).
local function rt_register(rt, rtg, now, fam, exp, cap)
  redis.call('ZADD', rt, exp, fam)
  local n = redis.call('ZCARD', rt)
  if n > cap then
    rt_sweep(rt, rtg, now)
    rt_evict(rt, rtg, cap, fam)
  end
  if n == 1 then
    redis.call('PEXPIREAT', rt, exp)
    redis.call('PEXPIREAT', rtg, exp) -- a no-op when rtg does not exist
    return
  end
  redis.call('PEXPIREAT', rt, exp, 'GT')
  redis.call('PEXPIREAT', rtg, exp, 'GT') -- a no-op when rtg does not exist
end
