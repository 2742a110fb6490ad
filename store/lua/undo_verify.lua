-- undo_verify.lua: give a consumed code back after the login's next step
-- failed (login.lua unreachable: 503), so that the SDK's retry of the
-- verify succeeds instead of hearing "wrong code", and a login id bound to
-- a fresh user id by that verify is unbound again (no login id is left
-- pointing at a user record that was never written).
--
-- KEYS[1]  pending code hash      otpd:{P:L}:code:<channel>
-- KEYS[2]  login index hash       otpd:{P:L}:login
-- KEYS[3]  the consumed record    otpd:{P:L}:code:<channel>:used (same slot)
-- KEYS[4..9] the user's keys (user, rt, rtg, rtf, rtr, hist), when on this
--          slot: a user verify_login.lua created ('lg') with a fresh
--          binding is removed with the binding
-- KEYS[10..16] (single node) the project's user indexes (index_lib.lua),
--          from which that user is dropped
-- ARGV[1]  the user id the verify signed in
-- Returns 'restored' | 'gone' (nothing to undo: too late, or another
-- verify's record) | 'replaced' (a newer code was started meanwhile; the
-- old one is dropped, the binding still undone).
if redis.call('HGET', KEYS[3], 'b') ~= ARGV[1] then
  return 'gone'
end
local rec = redis.call('HMGET', KEYS[3], 'fr', 'f', 't', 'lg')
if rec[1] == '1' and redis.call('HGET', KEYS[2], 'uid') == ARGV[1] then
  redis.call('HDEL', KEYS[2], 'uid', rec[2])
  if rec[4] == '1' and KEYS[9] then
    redis.call('DEL', unpack(KEYS, 4, 9))
    if KEYS[16] then index_user({unpack(KEYS, 10, 16)}, ARGV[1], '') end
  end
end
redis.call('HDEL', KEYS[3], 'b', 'fr', 't', 'lg')
-- The successful attempt does not count against the retry.
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
