-- login.lua: finish a verified login on the user's own slot: create the user
-- record on first sight, mark the address verified, and register the new
-- refresh token id so the session endpoints can revoke it.
--
-- KEYS[1]  user hash          otpd:{P:U}:user
-- KEYS[2]  refresh token ids  otpd:{P:U}:rt   (sorted set: jti -> expiry ms)
-- KEYS[3]  token families     otpd:{P:U}:rtf  (hash: jti -> family)
-- KEYS[4]  spent tokens       otpd:{P:U}:rtr  (sorted set, see session.lua)
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
-- Returns {firstSeen ("1"/"0"), HGETALL of the user...}
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
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
end
if ARGV[10] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[12])
  redis.call('ZADD', KEYS[2], ARGV[11], ARGV[10])
  redis.call('HSET', KEYS[3], ARGV[10], ARGV[10])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  local spent = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
  local at = tonumber(last[2])
  if spent[2] and tonumber(spent[2]) > at then at = tonumber(spent[2]) end
  redis.call('PEXPIREAT', KEYS[2], at)
  redis.call('PEXPIREAT', KEYS[3], at)
end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, first)
return out
