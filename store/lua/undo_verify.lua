-- undo_verify.lua: give a consumed code back after the login's next step
-- failed (login.lua unreachable: 503; a token that could not be minted),
-- so that the SDK's retry of the verify succeeds instead of hearing "wrong
-- code", and undo the fresh binding that verify made (no login id is left
-- pointing at a user record that was never written).
--
-- KEYS[1]  pending code hash   otpd:{P:L}:code:<channel>, consumed in place
--          (verify_lib.lua consume_code: b, ua, ...)
-- KEYS[2]  login index hash    otpd:{P:L}:login
-- KEYS[3..8] the user's keys (user, rt, rtg, rtf, rtr, hist), when that
--          verify created the user in the same script (verify_login.lua)
--          on this slot: removed with the binding
-- KEYS[9..15] (single node) the project's user indexes (index_lib.lua),
--          from which that user is dropped
-- ARGV[1]  the user id the verify signed in
-- ARGV[2]  how long a record outlives its code, ms (its expiry is 'e' + this)
-- ARGV[3]  the contact field the verify bound a fresh user id under, ""
--          when it bound nothing
-- The binding is undone whatever became of the code record (a newer start
-- may have replaced it): the user id is random, so a login index naming it
-- was bound by that verify. Returns 'restored' | 'replaced' (the record is
-- another code now: kept) | 'gone' (no record left).
if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], 'uid') == ARGV[1] then
  redis.call('HDEL', KEYS[2], 'uid', ARGV[3])
  if KEYS[8] then
    redis.call('DEL', unpack(KEYS, 3, 8))
    if KEYS[15] then index_user({unpack(KEYS, 9, 15)}, ARGV[1], '') end
  end
end
local cur = redis.call('HMGET', KEYS[1], 'b', 'ua', 'e')
if cur[1] ~= ARGV[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 'replaced' end
  return 'gone'
end
redis.call('HDEL', KEYS[1], 'b', 'fr', 'lg', 'ua')
-- The successful attempt does not count against the retry.
local a = (tonumber(cur[2]) or 1) - 1
if a < 0 then a = 0 end
redis.call('HSET', KEYS[1], 'a', string.format('%d', a))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', (tonumber(cur[3]) or 0) + tonumber(ARGV[2])))
return 'restored'
