-- verify.lua: one verify attempt, atomically. The attempt is counted before
-- the comparison; a match consumes the code (DEL), so under any number of
-- concurrent verifies exactly one succeeds. On success the login id is bound
-- to a user id (the caller's fresh candidate when it has none yet).
--
-- KEYS[1]  pending code hash  otpd:{P:L}:code:<channel>
-- KEYS[2]  login index hash   otpd:{P:L}:login
-- ARGV[1]  now, unix ms
-- ARGV[2]  candidate user id for a new user
-- ARGV[3..] candidate hashes (every secret x purpose); the stored one must equal one
-- Returns {status, purpose, address, payload, uid, fresh, attemptsLeft}
-- status: ok | nocode | expired | dead | wrong | exists | notfound
local rec = redis.call('HMGET', KEYS[1], 'h', 'p', 'to', 'a', 'm', 'e', 'u', 'f')
local stored = rec[1]
if not stored then
  return {'nocode', '', '', '', '', '0', '0'}
end
local attempts = tonumber(rec[4])
local maxAttempts = tonumber(rec[5])
if attempts >= maxAttempts then
  return {'dead', '', '', '', '', '0', '0'}
end
if tonumber(ARGV[1]) >= tonumber(rec[6]) then
  return {'expired', '', '', '', '', '0', '0'}
end
attempts = redis.call('HINCRBY', KEYS[1], 'a', 1)

-- Compare against every candidate without stopping early, byte by byte.
local matched = 0
for i = 3, #ARGV do
  local c = ARGV[i]
  local diff = 0
  if #c ~= #stored then diff = 1 end
  for j = 1, #stored do
    if string.byte(stored, j) ~= string.byte(c, j) then diff = diff + 1 end
  end
  if diff == 0 then matched = 1 end
end
if matched == 0 then
  return {'wrong', '', '', '', '', '0', tostring(maxAttempts - attempts)}
end

local purpose = rec[2]
local uid = redis.call('HGET', KEYS[2], 'uid')
redis.call('DEL', KEYS[1])
if purpose == 'signup' and uid then
  return {'exists', '', '', '', '', '0', '0'}
end
if (purpose == 'signin' or purpose == 'update') and not uid then
  return {'notfound', '', '', '', '', '0', '0'}
end
local fresh = '0'
if not uid then
  uid = ARGV[2]
  fresh = '1'
  redis.call('HSET', KEYS[2], 'uid', uid, rec[8], rec[3])
elseif purpose ~= 'update' and redis.call('HEXISTS', KEYS[2], rec[8]) == 0 then
  redis.call('HSET', KEYS[2], rec[8], rec[3])
end
return {'ok', purpose, rec[3], rec[7] or '', uid, fresh, '0'}
