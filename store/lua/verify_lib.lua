-- verify_lib.lua: verify_code(K, A, ao), one verify attempt, atomically.
-- The attempt is counted before
-- the comparison; a match consumes the code (DEL), so under any number of
-- concurrent verifies exactly one succeeds. On success the login id is bound
-- to a user id (the caller's fresh candidate when it has none yet).
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
-- Returns {status, purpose, address, payload, uid, fresh, attemptsLeft, extra}
-- status: ok | nocode | expired | dead | wrong | exists | notfound | limited | disabled
-- extra: for limited the retry delay in ms (purpose holds the bucket name);
-- for dead the code's creation time in ms; otherwise the bucket a dry run
-- would have refused, or "".
-- ao: the offset of A in ARGV (limits_lib.lua reads ARGV itself).
local function verify_code(K, A, ao)
  local now, B = tonumber(A[1]), tonumber(A[3])
  local denied, retry, news = gcra(3, 6 + ao, B, now)
  if denied and A[4] ~= '1' then
    return {'limited', denied, '', '', '', '0', '0', tostring(retry)}
  end
  gcra_take(3, news, B, now)
  local dry = denied or ''
  local first = 6 + 3 * B

  local rec = redis.call('HMGET', K[1], 'h', 'p', 'to', 'a', 'm', 'e', 'u', 'f', 'c', 'o', 'n')
  -- Fields start.lua leaves out when they say nothing (records of the
  -- previous release have them all): the address is the login id, the
  -- contact field the channel's.
  rec[2] = rec[2] or ''
  rec[3] = rec[3] or A[5]
  rec[8] = rec[8] or (string.match(K[1], ':code:email$') and 'email' or 'phone')
  local stored = rec[1]
  if not stored then
    return {'nocode', '', '', '', '', '0', '0', dry}
  end
  local attempts = tonumber(rec[4])
  local maxAttempts = tonumber(rec[5])
  if attempts >= maxAttempts then
    return {'dead', '', '', '', '', '0', '0', rec[9] or '0'}
  end
  if now >= tonumber(rec[6]) then
    return {'expired', '', '', '', '', '0', '0', dry}
  end
  attempts = redis.call('HINCRBY', K[1], 'a', 1)

  -- Compare against every candidate, without stopping early. Lua interns
  -- every string, so == between two strings is a pointer comparison: its
  -- time does not depend on how many leading bytes match.
  local matched = 0
  for i = first, #A do
    if A[i] == stored then matched = 1 end
  end
  if matched == 0 then
    return {'wrong', '', '', '', '', '0', tostring(maxAttempts - attempts), dry}
  end

  local purpose = rec[2]
  local uid = redis.call('HGET', K[2], 'uid')
  -- [mgmt] a disabled user's code is spent but signs nobody in.
  if uid and redis.call('HGET', K[2], 'dis') == '1' then
    redis.call('DEL', K[1])
    return {'disabled', '', '', '', '', '0', '0', dry}
  end
  -- A code issued to a new user ('n') binds the login id to a new user id;
  -- if a user took the login id meanwhile, the code (sent to an address that
  -- user never proved) must not sign into it. A code issued to an existing
  -- user went to an address the login index holds already: nothing to bind.
  -- (Records from before 'n' existed: new when the login id is unbound.)
  local new = not uid
  if rec[11] then new = rec[11] == '1' end
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
    redis.call('HSET', K[2], 'uid', uid, rec[8], rec[3])
  end
  -- The consumed record is kept for a minute under <code key>:used (same
  -- slot), with the user it signed in, so that if the login's next step
  -- fails (503) undo_verify.lua can give the code back for the SDK's retry.
  -- It is not a live code: no verify reads it.
  local ttl = redis.call('PTTL', K[1])
  local used = K[1] .. ':used'
  redis.call('RENAME', K[1], used)
  redis.call('HSET', used, 'b', uid, 'fr', fresh, 't', ttl, 'f', rec[8])
  redis.call('PEXPIRE', used, 60000)
  if K[3 + B] then redis.call('DEL', K[3 + B]) end
  return {'ok', purpose, rec[3], rec[7] or '', uid, fresh, '0', dry}
end
