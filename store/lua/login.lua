-- login.lua: finish a verified login on the user's own slot: create the user
-- record on first sight, mark the address verified, and register the new
-- refresh token id so the session endpoints can revoke it.
-- refresh_lib.lua is prepended.
--
-- KEYS[1]  user hash          otpd:{P:U}:user
-- KEYS[2]  token families     otpd:{P:U}:rt   (see refresh_lib.lua)
-- KEYS[3]  generations        otpd:{P:U}:rtg  (see refresh_lib.lua)
-- KEYS[4], KEYS[5]  otpd:{P:U}:rtf, rtr: keys of an older release, removed
--          with the others by ARGV[13]; never read
-- ARGV[1]  user id
-- ARGV[2]  login id
-- ARGV[3]  contact field: "email" or "phone"
-- ARGV[4]  the verified address
-- ARGV[5]  created time, unix seconds
-- ARGV[6..9] name, givenName, middleName, familyName (sign-up profile; may be "")
-- ARGV[10] refresh token id
-- ARGV[11] refresh token expiry, unix ms
-- ARGV[12] now, unix ms
-- ARGV[13] "1" to revoke every other refresh token of the user
-- ARGV[14] an address of the other contact type, stored unverified on a new
--          user ("" for none)
-- ARGV[15] the most token families the user keeps (the oldest are evicted)
-- KEYS[6]  login history      otpd:{P:U}:hist (list, newest first; see history below)
-- ARGV[16] history entry (JSON with "t" = unix ms), "" for none
-- ARGV[17] history: max entries kept
-- ARGV[18] history: entries older than this (unix ms) are dropped
-- ARGV[19] history: key TTL, ms
-- Returns {firstSeen ("1"/"0"), HGETALL of the user...}, or {"disabled"}
-- (nothing changed) when the user is disabled.
-- [mgmt] a disabled user gets no session, even from a code sent before.
if redis.call('HGET', KEYS[1], 'status') == 'disabled' then
  return {'disabled'}
end
local first = '0'
if redis.call('EXISTS', KEYS[1]) == 0 then
  first = '1'
  local ids = cjson.encode({ARGV[2]})
  redis.call('HSET', KEYS[1], 'userId', ARGV[1], 'loginIds', ids,
    'createdTime', ARGV[5], 'status', 'enabled',
    'name', ARGV[6], 'givenName', ARGV[7], 'middleName', ARGV[8], 'familyName', ARGV[9])
  if ARGV[14] and ARGV[14] ~= '' then
    local other = 'phone'
    if string.sub(ARGV[14], 1, 1) ~= '+' then other = 'email' end
    if other ~= ARGV[3] then redis.call('HSET', KEYS[1], other, ARGV[14]) end
  end
end
local verifiedField = 'verifiedEmail'
if ARGV[3] == 'phone' then verifiedField = 'verifiedPhone' end
local current = redis.call('HGET', KEYS[1], ARGV[3])
-- A proven address replaces an empty or unverified one, never another
-- verified one (that takes an update).
if ARGV[4] ~= '' and (not current or current == '' or current == ARGV[4]
    or redis.call('HGET', KEYS[1], verifiedField) ~= '1') then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4], verifiedField, '1')
end
if ARGV[13] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('UNLINK', KEYS[4], KEYS[5])
end
if ARGV[10] ~= '' then
  -- The new token starts a family of its own.
  rt_sweep(KEYS[2], KEYS[3], ARGV[12])
  redis.call('ZADD', KEYS[2], ARGV[11], ARGV[10])
  rt_evict(KEYS[2], KEYS[3], tonumber(ARGV[15]), ARGV[10])
  rt_expire(KEYS[2], KEYS[3])
end
-- [history] bounded by count and age.
if ARGV[16] ~= '' then
  redis.call('LPUSH', KEYS[6], ARGV[16])
  redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[17]) - 1)
  local cutoff = tonumber(ARGV[18])
  while true do
    local last = redis.call('LINDEX', KEYS[6], -1)
    if not last or tonumber(cjson.decode(last).t) >= cutoff then break end
    redis.call('RPOP', KEYS[6])
  end
  redis.call('PEXPIRE', KEYS[6], ARGV[19])
end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, first)
return out
