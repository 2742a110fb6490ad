-- session.lua: everything done with a presented refresh token, on the
-- user's slot. refresh_lib.lua and limits_lib.lua are prepended.
--
-- The caller reads the token's family and generation from its jti (see
-- store.RefreshID). The token is live when its family is in rt and its
-- generation is the family's current one, or the one before it presented
-- within the grace period after the rotation (two tabs refreshing at once,
-- a retry whose answer was lost). An older generation presented to refresh
-- is reuse: someone holds a copy, and the family is revoked.
--
-- KEYS[1] user hash, KEYS[2] rt, KEYS[3] rtg,
-- KEYS[4], KEYS[5] rtf, rtr: keys of an older release (they grew with every
--   rotation). Never read; removed by logoutall and drop, else they expire.
-- KEYS[6] the user's refresh bucket, KEYS[7..6+G] project-wide buckets
-- ARGV[1] op: check | refresh | logout | logoutall | drop
-- ARGV[2] family, ARGV[3] generation of the presented token
-- ARGV[4] now, unix ms
-- ARGV[5] "1": refresh rotates the family to its next generation
-- ARGV[6] grace, ms
-- ARGV[7] G, ARGV[8] U (0 or 1): project-wide buckets (per client IP),
--         and the user's bucket; charged by refresh only
-- ARGV[9] "1" for a dry run
-- ARGV[10..] bucket triples (name, count, window ms), G then U
-- Returns {status, ...}:
--   {'ok', generation, would, HGETALL of the user...}: generation is the one
--     to mint (rotation: the family's new current one); would names a bucket
--     a dry run would have refused ('' if none). 'drop' returns {'ok'}.
--   {'limited', bucket, retryMs} | {'revoked'} | {'reused'} | {'nouser'}
local op, fam, gen, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local rt, rtg = KEYS[2], KEYS[3]
if op == 'drop' then
  redis.call('DEL', KEYS[1], rt, rtg, KEYS[6])
  redis.call('UNLINK', KEYS[4], KEYS[5])
  return {'ok'}
end

local G, U, dry = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9] == '1'
local would = ''
if op == 'refresh' and G > 0 then
  -- Per client IP: every refresh with a valid signature counts.
  local denied, retry, news = gcra(7, 10, G, now)
  if denied and not dry then return {'limited', denied, tostring(retry)} end
  would = denied or ''
  gcra_take(7, news, G, now)
end

rt_sweep(rt, rtg, now)
if not redis.call('ZSCORE', rt, fam) then
  return {'revoked'}
end
local cur, at = 0, 0
local state = redis.call('HGET', rtg, fam)
if state then
  local c, a = string.match(state, '^(%d+):(%d+)$')
  cur, at = tonumber(c), tonumber(a)
end
local grace = tonumber(ARGV[6])
local late = grace > 0 and gen == cur - 1 and now - at <= grace
if gen ~= cur and not late then
  if op == 'refresh' and gen < cur then
    redis.call('ZREM', rt, fam)
    redis.call('HDEL', rtg, fam)
    rt_expire(rt, rtg)
    return {'reused'}
  end
  return {'revoked'}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'nouser'}
end

if op == 'logout' then
  redis.call('ZREM', rt, fam)
  redis.call('HDEL', rtg, fam)
  rt_expire(rt, rtg)
  return {'ok'}
elseif op == 'logoutall' then
  redis.call('DEL', rt, rtg)
  redis.call('UNLINK', KEYS[4], KEYS[5])
  return {'ok'}
elseif op == 'refresh' then
  if U > 0 then
    -- Per user: only a live token counts, so a revoked copy cannot spend
    -- the owner's refreshes.
    local denied, retry, news = gcra(6, 10 + 3 * G, U, now)
    if denied and not dry then return {'limited', denied, tostring(retry)} end
    if would == '' then would = denied or '' end
    gcra_take(6, news, U, now)
  end
  if ARGV[5] == '1' then
    if not late then
      cur = cur + 1
      redis.call('HSET', rtg, fam, string.format('%d:%s', cur, ARGV[4]))
      rt_expire(rt, rtg)
    end
    -- A late duplicate gets another token of the current generation.
    gen = cur
  end
end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, would)
table.insert(out, 1, string.format('%d', gen))
table.insert(out, 1, 'ok')
return out
