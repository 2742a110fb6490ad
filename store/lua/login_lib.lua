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
-- A[5]  created time, unix seconds
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
-- A[18] history: entries older than this (unix ms) are dropped
-- A[19] history: key TTL, ms
-- Returns {firstSeen ("1"/"0"), HGETALL of the user...}, or {"disabled"}
-- (nothing changed) when the user is disabled.
-- [mgmt] a disabled user gets no session, even from a code sent before.
local function complete_login(K, A)
  if redis.call('HGET', K[1], 'status') == 'disabled' then
    return {'disabled'}
  end
  local first = '0'
  if redis.call('EXISTS', K[1]) == 0 then
    first = '1'
    local ids = cjson.encode({A[2]})
    redis.call('HSET', K[1], 'userId', A[1], 'loginIds', ids,
      'createdTime', A[5], 'status', 'enabled',
      'name', A[6], 'givenName', A[7], 'middleName', A[8], 'familyName', A[9])
    if A[14] and A[14] ~= '' then
      local other = 'phone'
      if string.sub(A[14], 1, 1) ~= '+' then other = 'email' end
      if other ~= A[3] then redis.call('HSET', K[1], other, A[14]) end
    end
  end
  local verifiedField = 'verifiedEmail'
  if A[3] == 'phone' then verifiedField = 'verifiedPhone' end
  local current = redis.call('HGET', K[1], A[3])
  -- A proven address replaces an empty or unverified one, never another
  -- verified one (that takes an update).
  if A[4] ~= '' and (not current or current == '' or current == A[4]
      or redis.call('HGET', K[1], verifiedField) ~= '1') then
    redis.call('HSET', K[1], A[3], A[4], verifiedField, '1')
  end
  if A[13] == '1' then
    redis.call('DEL', K[2], K[3])
    redis.call('UNLINK', K[4], K[5])
  end
  if A[10] ~= '' then
    -- The new token starts a family of its own.
    rt_sweep(K[2], K[3], A[12])
    redis.call('ZADD', K[2], A[11], A[10])
    rt_evict(K[2], K[3], tonumber(A[15]), A[10])
    rt_expire(K[2], K[3])
  end
  -- [history] bounded by count and age.
  if A[16] ~= '' then
    redis.call('LPUSH', K[6], A[16])
    redis.call('LTRIM', K[6], 0, tonumber(A[17]) - 1)
    local cutoff = tonumber(A[18])
    while true do
      local last = redis.call('LINDEX', K[6], -1)
      if not last or tonumber(cjson.decode(last).t) >= cutoff then break end
      redis.call('RPOP', K[6])
    end
    redis.call('PEXPIRE', K[6], A[19])
  end
  local out = redis.call('HGETALL', K[1])
  table.insert(out, 1, first)
  return out
end
