-- verify_lib.lua: verify_code(K, A, ao), one verify attempt, atomically,
-- and consume_code(st, lg), which the caller runs in the same script after
-- an 'ok'. Every attempt that reaches the comparison is counted (in the
-- same atomic script as the comparison); a match consumes the code
-- (consume_code marks it spent), so under any number of concurrent
-- verifies exactly one succeeds. On success the login id is bound to a
-- user id (the caller's fresh candidate when it has none yet).
--
-- K[1]  pending code hash  otpd:{P:L}:code:<channel>
-- K[2]  login index hash   otpd:{P:L}:login
-- K[3..2+B] rate-limit buckets, charged on every attempt
-- K[3+B] (optional) a key a successful verify deletes: the login id's
--          resend cooldown, so a verified code never holds back the next flow
-- A[1]  now, unix ms
-- A[2]  candidate user id for a new user
-- A[3]  number of buckets B, A[4] "1" for a dry run
-- A[5]  the login id (the address of a record that names none)
-- A[6 .. 5+3B] bucket triples (name, count, window ms)
-- A[6+3B ..] candidate hashes (every secret x purpose); the stored one must equal one
-- Returns {status, purpose, address, payload, uid, fresh, attemptsLeft, extra},
-- and for 'ok' the state consume_code needs.
-- status: ok | nocode | expired | dead | wrong | exists | notfound | limited | disabled
-- extra: for limited the retry delay in ms (purpose holds the bucket name);
-- for dead the code's creation time in ms; otherwise the bucket a dry run
-- would have refused, or "".
-- ao: the offset of A in ARGV (limits_lib.lua reads ARGV itself).
local function verify_code(K, A, ao)
  local now, B = tonumber(A[1]), 0
  if A[3] ~= '0' then B = tonumber(A[3]) end
  local dry = ''
  if B > 0 then
    local denied, retry, news = gcra(3, 6 + ao, B, now)
    if denied and A[4] ~= '1' then
      return {'limited', denied, '', '', '', '0', '0', tostring(retry)}
    end
    gcra_take(3, news, B, now)
    dry = denied or ''
  end
  local first = 6 + 3 * B

  local rec = redis.call('HMGET', K[1], 'h', 'p', 'to', 'a', 'm', 'e', 'u', 'f', 'c', 'n', 'b')
  local stored = rec[1]
  -- A consumed record ('b', see consume_code) is no code.
  if not stored or rec[11] then
    return {'nocode', '', '', '', '', '0', '0', dry}
  end
  -- Fields start.lua leaves out when they say nothing (records of the
  -- previous release have them all): the address is the login id, the
  -- contact field the channel's.
  local addr = rec[3] or A[5]
  local field = rec[8] or (string.match(K[1], ':code:email$') and 'email' or 'phone')
  local attempts = tonumber(rec[4])
  local maxAttempts = tonumber(rec[5])
  if attempts >= maxAttempts then
    return {'dead', '', '', '', '', '0', '0', rec[9] or '0'}
  end
  if now >= tonumber(rec[6]) then
    return {'expired', '', '', '', '', '0', '0', dry}
  end
  -- This attempt counts: written below with the outcome (HINCRBY for a
  -- wrong code, with the consumed record's fields for a match; the
  -- refusals after a match delete the record).
  attempts = attempts + 1

  -- Compare against every candidate, without stopping early. Lua interns
  -- every string, so == between two strings is a pointer comparison: its
  -- time does not depend on how many leading bytes match.
  local matched = 0
  for i = first, #A do
    if A[i] == stored then matched = 1 end
  end
  if matched == 0 then
    redis.call('HINCRBY', K[1], 'a', 1)
    return {'wrong', '', '', '', '', '0', tostring(maxAttempts - attempts), dry}
  end

  local login = redis.call('HMGET', K[2], 'uid', 'dis')
  local uid = login[1]
  -- [mgmt] a disabled user's code is spent but signs nobody in.
  if uid and login[2] == '1' then
    redis.call('DEL', K[1])
    return {'disabled', '', '', '', '', '0', '0', dry}
  end
  -- A code issued to a new user ('n') binds the login id to a new user id;
  -- if a user took the login id meanwhile, the code (sent to an address that
  -- user never proved) must not sign into it. A code issued to an existing
  -- user went to an address the login index holds already: nothing to bind.
  -- (Records from before 'n' existed: new when the login id is unbound.)
  local new = not uid
  if rec[10] then new = rec[10] == '1' end
  if new and uid then
    redis.call('DEL', K[1])
    return {'exists', '', '', '', '', '0', '0', dry}
  end
  if not new and not uid then
    redis.call('DEL', K[1])
    return {'notfound', '', '', '', '', '0', '0', dry}
  end
  local fresh = '0'
  if new then
    uid = A[2]
    fresh = '1'
    redis.call('HSET', K[2], 'uid', uid, field, addr)
  end
  local st = {K = K, B = B, uid = uid, fresh = fresh, field = field, attempts = attempts, max = rec[5], now = now}
  return {'ok', rec[2] or '', addr, rec[7] or '', uid, fresh, '0', dry}, st
end

-- consume_code(st, lg) ends an 'ok' of verify_code (st is its second
-- result): the record stays where it is, marked consumed with the user it
-- signed in ('b'; 'ua' the attempts, this one counted), so that if the
-- login's next step fails undo_verify.lua can give the code back for the
-- SDK's retry. It is not a live code: verify_code answers 'nocode' for it.
-- 'a' is set to the maximum, so that a verify of an earlier release (a
-- rolling upgrade) reads the record as spent ('dead'), never as a live
-- code. fr, f and lg say what the verify did (a fresh binding, its contact
-- field, the login run in the same script), for an operator reading the
-- record. One HSET: the record keeps its own expiry (e + the grace, set by
-- start.lua; the expiry the undo restores), as long as an unverified code
-- is kept, so it costs no PEXPIRE (releases before this one shortened it
-- to a minute; a record they consumed keeps that). The resend cooldown
-- (K[3+B], optional) is cleared.
local function consume_code(st, lg)
  local K = st.K
  -- Numbers go to redis.call as strings ('%d' is cheaper than the %.17g
  -- Redis applies to a Lua number).
  local a = string.format('%d', st.attempts)
  if lg then
    redis.call('HSET', K[1], 'b', st.uid, 'fr', st.fresh, 'ua', a, 'a', st.max, 'f', st.field, 'lg', '1')
  else
    redis.call('HSET', K[1], 'b', st.uid, 'fr', st.fresh, 'ua', a, 'a', st.max, 'f', st.field)
  end
  if K[3 + st.B] then redis.call('DEL', K[3 + st.B]) end
end
