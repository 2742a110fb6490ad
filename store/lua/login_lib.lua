-- login_lib.lua: complete_login(K, A) finishes a verified login on the
-- user's own slot: create the user record on first sight, mark the address verified, and register the new
-- refresh token id so the session endpoints can revoke it.
-- refresh_lib.lua is prepended before it.
--
-- <user> is the user's key prefix (store.userTag).
-- K[1]  user hash          <user>:user
-- K[2]  token families     <user>:rt   (see refresh_lib.lua)
-- K[3]  generations        <user>:rtg  (see refresh_lib.lua)
-- K[4], K[5]  otpd:{P:U}:rtf, rtr: keys of an older release, removed
--          with the others by A[13]; never read
-- A[1]  user id
-- A[2]  login id
-- A[3]  contact field: "email" or "phone"
-- A[4]  the verified address
-- A[5]  created time, unix seconds (a string, or a number: only written
--          for a new user)
-- A[6..9] name, givenName, middleName, familyName (sign-up profile; may be "")
-- A[10] refresh token id
-- A[11] refresh token expiry, unix ms
-- A[12] now, unix ms
-- A[13] "1" to revoke every other refresh token of the user
-- A[14] an address of the other contact type, stored unverified on a new
--          user ("" for none)
-- A[15] the most token families the user keeps (the oldest are evicted)
-- K[6]  login history      <user>:hist (list, newest first; see history below)
-- A[16] history entry (JSON with "t" = unix ms), "" for none
-- A[17] history: max entries kept
-- A[18] history: entries older than this (unix ms) are dropped (A[17],
--          A[18]: strings or numbers)
-- A[19] history: key TTL, ms
-- A[20] (optional) "1": A[1] is a user id this script bound just now to a
--          fresh id (verify_login.lua), so none of the user's keys exist:
--          the checks and the clean-up of older state are skipped.
--          "n": A[1] is a fresh id the verify bound in an earlier script
--          (login.lua): its record is created unless K[7] is set.
--          Otherwise the record must exist.
-- K[7]  the user's erasure marker (read only with A[20] = "n")
-- A[21] (optional) a token family of the user that must still be live in
--          K[2] (an update's verify: the session that started the update,
--          see flow/pending.go); else {"revoked"}, nothing changed.
-- Returns {firstSeen ("1"/"0"), HGETALL of the user...}, or {"disabled"}
-- (nothing changed) when the user is disabled, or {"nouser"} (nothing
-- changed) when the record is missing and may not be created.
-- [mgmt] a disabled user gets no session, even from a code sent before.
-- [erase] a login never recreates a missing record: only a fresh id's
-- record is created here, so a user erased (mgmt_user.lua) while a verify
-- by one of its login ids raced the erasure stays erased: that verify's
-- login finds no record and registers nothing.

-- history_time is the "t" (unix ms) of a history entry. Entries are
-- store.historyJSON, "t" first: read by a pattern; anything else (an entry
-- of another shape) by cjson.
local function history_time(e)
  local t = string.match(e, '^{"t":(%d+)[,}]')
  if t then return tonumber(t) end
  return tonumber(cjson.decode(e).t)
end

local function complete_login(K, A)
  local fresh = A[20] == '1'
  -- The record's createdMs (first sight) and modifiedMs.
  local now_ms = A[12]
  if type(now_ms) == 'number' then now_ms = string.format('%d', now_ms) end
  local verifiedField = 'verifiedEmail'
  if A[3] == 'phone' then verifiedField = 'verifiedPhone' end
  local first, out = '0', nil
  if not fresh then
    -- The user as it is: the reply, and what the checks below read.
    out = redis.call('HGETALL', K[1])
  end
  if not fresh and #out == 0 and (A[20] ~= 'n' or redis.call('EXISTS', K[7]) == 1) then
    return {'nouser'}
  end
  if A[21] and A[21] ~= '' then
    local exp = redis.call('ZSCORE', K[2], A[21])
    if not exp or tonumber(exp) <= tonumber(A[12]) then return {'revoked'} end
  end
  if fresh or #out == 0 then
    -- First sight: the whole record in one HSET; the reply is what
    -- HGETALL would answer after it.
    first = '1'
    local created = A[5]
    if type(created) == 'number' then created = string.format('%d', created) end
    out = {'userId', A[1], 'loginIds', cjson.encode({A[2]}),
      'createdTime', created, 'createdMs', now_ms, 'modifiedMs', now_ms, 'status', 'enabled',
      'name', A[6], 'givenName', A[7], 'middleName', A[8], 'familyName', A[9]}
    if A[14] and A[14] ~= '' then
      local other = 'phone'
      if string.sub(A[14], 1, 1) ~= '+' then other = 'email' end
      if other ~= A[3] then
        out[#out + 1] = other
        out[#out + 1] = A[14]
      end
    end
    if A[4] ~= '' then
      out[#out + 1] = A[3]
      out[#out + 1] = A[4]
      out[#out + 1] = verifiedField
      out[#out + 1] = '1'
    end
    redis.call('HSET', K[1], unpack(out))
  else
    -- The positions of the fields read (the value follows).
    local si, ci, vi, mi
    for i = 1, #out, 2 do
      local f = out[i]
      if f == 'status' then si = i elseif f == A[3] then ci = i elseif f == verifiedField then vi = i
      elseif f == 'modifiedMs' then mi = i end
    end
    if si and out[si + 1] == 'disabled' then
      return {'disabled'}
    end
    -- A proven address replaces an empty or unverified one, never another
    -- verified one (that takes an update). Written only when it changes
    -- something; the reply is patched as HGETALL would read it.
    local current = ci and out[ci + 1]
    local verified = vi and out[vi + 1]
    if A[4] ~= '' and (not current or current == '' or current == A[4] or verified ~= '1')
        and not (current == A[4] and verified == '1') then
      redis.call('HSET', K[1], A[3], A[4], verifiedField, '1', 'modifiedMs', now_ms)
      if ci then out[ci + 1] = A[4] else out[#out + 1] = A[3]; out[#out + 1] = A[4] end
      if vi then out[vi + 1] = '1' else out[#out + 1] = verifiedField; out[#out + 1] = '1' end
      if mi then out[mi + 1] = now_ms else out[#out + 1] = 'modifiedMs'; out[#out + 1] = now_ms end
    end
  end
  if A[13] == '1' and not fresh then
    redis.call('DEL', K[2], K[3])
    redis.call('UNLINK', K[4], K[5])
  end
  if A[10] ~= '' then
    if fresh then
      -- No families yet: the new one, and the set expires with it.
      redis.call('ZADD', K[2], A[11], A[10])
      redis.call('PEXPIREAT', K[2], A[11])
    else
      rt_register(K[2], K[3], A[12], A[10], A[11], tonumber(A[15]))
    end
  end
  -- [history] bounded by count and age.
  if A[16] ~= '' then
    -- LPUSH answers the length: LTRIM only when over the count.
    local n = redis.call('LPUSH', K[6], A[16])
    local max = tonumber(A[17])
    if max > 0 and n > max then
      redis.call('LTRIM', K[6], 0, max - 1)
      n = max
    end
    -- Entries are newest first: drop the oldest while older than the
    -- cutoff (when only A[16] is left, it is read without a command).
    local cutoff = tonumber(A[18])
    while n > 0 do
      local last = A[16]
      if n > 1 then last = redis.call('LINDEX', K[6], '-1') end
      if history_time(last) >= cutoff then break end
      redis.call('RPOP', K[6])
      n = n - 1
    end
    redis.call('PEXPIRE', K[6], A[19])
  end
  table.insert(out, 1, first)
  return out
end
