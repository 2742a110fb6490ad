-- undo_verify.lua: give a consumed code back after the login's next step
-- failed (login.lua unreachable: 503; a token that could not be minted),
-- so that the SDK's retry of the verify succeeds instead of hearing "wrong
-- code", and a login id bound to a fresh user id by that verify is unbound
-- again (no login id is left pointing at a user record that was never
-- written).
--
-- KEYS[1]  pending code hash      otpd:{P:L}:code:<channel>, consumed in
--          place (verify_lib.lua consume_code: b, fr, ua, f, lg)
-- KEYS[2]  login index hash       otpd:{P:L}:login
-- KEYS[3]  <code>:used, where the previous release moved a consumed record
--          (fields b, fr, t, f, lg, a): still given back after an upgrade
-- KEYS[4..9] the user's keys (user, rt, rtg, rtf, rtr, hist), when on this
--          slot: a user verify_login.lua created ('lg') with a fresh
--          binding is removed with the binding
-- KEYS[10..16] (single node) the project's user indexes (index_lib.lua),
--          from which that user is dropped
-- ARGV[1]  the user id the verify signed in
-- ARGV[2]  how long a record outlives its code, ms (its expiry is 'e' + this)
-- Returns 'restored' | 'gone' (nothing to undo: too late, or another
-- verify's record) | 'replaced' (a newer code was started meanwhile; the
-- old one is dropped, the binding still undone).
local function unbind(fresh, field, lg)
  if fresh == '1' and redis.call('HGET', KEYS[2], 'uid') == ARGV[1] then
    redis.call('HDEL', KEYS[2], 'uid', field)
    if lg == '1' and KEYS[9] then
      redis.call('DEL', unpack(KEYS, 4, 9))
      if KEYS[16] then index_user({unpack(KEYS, 10, 16)}, ARGV[1], '') end
    end
  end
end

local cur = redis.call('HMGET', KEYS[1], 'b', 'fr', 'f', 'lg', 'ua', 'e')
if cur[1] then
  if cur[1] ~= ARGV[1] then return 'gone' end
  unbind(cur[2], cur[3], cur[4])
  redis.call('HDEL', KEYS[1], 'b', 'fr', 'lg', 'ua')
  -- The successful attempt does not count against the retry.
  local a = (tonumber(cur[5]) or 1) - 1
  if a < 0 then a = 0 end
  redis.call('HSET', KEYS[1], 'a', string.format('%d', a))
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', (tonumber(cur[6]) or 0) + tonumber(ARGV[2])))
  return 'restored'
end

-- A record the previous release moved aside.
if redis.call('HGET', KEYS[3], 'b') ~= ARGV[1] then
  return 'gone'
end
local rec = redis.call('HMGET', KEYS[3], 'fr', 'f', 't', 'lg')
unbind(rec[1], rec[2], rec[4])
redis.call('HDEL', KEYS[3], 'b', 'fr', 't', 'lg')
redis.call('HINCRBY', KEYS[3], 'a', -1)
if redis.call('RENAMENX', KEYS[3], KEYS[1]) == 0 then
  redis.call('DEL', KEYS[3])
  return 'replaced'
end
local ttl = tonumber(rec[3]) or 0
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PEXPIRE', KEYS[1], 60000)
end
return 'restored'
