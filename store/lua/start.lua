-- start.lua: begin an OTP flow for one login id on one channel, atomically.
-- Checks the user-existence rule, picks the address, and stores the keyed
-- hash of the new code, replacing any earlier code for this login id and
-- channel (so the earlier code stops working).
--
-- KEYS[1]  login index hash   otpd:{P:L}:login   (uid, email, phone)
-- KEYS[2]  pending code hash  otpd:{P:L}:code:<channel>
-- ARGV[1]  rule: "new" (sign-up), "existing" (sign-in), "any", or "owner"
--          (the login id must belong to user ARGV[11]: step-up, MFA, update)
-- ARGV[2]  HMAC of the code (binary)
-- ARGV[3]  purpose (unused: it is bound into the hash)
-- ARGV[4]  address for a new user ("" if none)
-- ARGV[5]  contact field of the channel: "email" or "phone"
-- ARGV[6]  max attempts
-- ARGV[7]  expiry, unix ms
-- ARGV[8]  record TTL, ms (longer than the code's life, so a late verify can say "expired")
-- ARGV[9]  opaque payload for verify ("" if none)
-- ARGV[10] the login id: the record stores the address only when it is
--          another (verify reads a missing 'to' as the login id)
-- ARGV[11] the owning user id for the "owner" rule
-- ARGV[12] G: number of project-wide rate-limit buckets (KEYS[3..3+G-1])
-- ARGV[13] L: number of login-id buckets (the next L KEYS), charged only
--          when a code is stored
-- ARGV[14] now, unix ms
-- ARGV[15] "1" for a dry run (refusals are reported, not enforced)
-- ARGV[16] "1" to charge the login-id buckets even when the existence rule
--          refuses (enumeration protection: known and unknown users then
--          hit the same limits)
-- ARGV[17] delivery job id ("" for none); ARGV[18] its sealed payload;
--          ARGV[19] the job stream's max length. The stream is the last KEY.
-- ARGV[20..] bucket triples (name, count, window ms), G then L
-- Returns {status, address, extra}: status is ok | exists | notfound |
-- notowner | noaddress | limited | disabled. For limited, address is the bucket name
-- and extra the retry delay in ms; for ok, extra names the bucket a dry run
-- would have refused ("" if none).
-- With the "owner" rule ARGV[4] is the destination the engine chose (an
-- update's new address, or a step-up/MFA code's verified contact); the
-- record keeps the owner ('o') so that verify binds nothing for it.
-- Project-wide buckets are checked and charged first; then the existence
-- rule answers its own error (a start that sends nothing is not refused by
-- a send limit); then the login id's buckets, charged only with a code.
local G, L, now = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local dryRun = ARGV[15] == '1'
local gDenied, gRetry, gNews = gcra(3, 20, G, now)
if gDenied and not dryRun then
  return {'limited', gDenied, tostring(gRetry)}
end
gcra_take(3, gNews, G, now)
local lDenied, lRetry, lNews = gcra(3 + G, 20 + 3 * G, L, now)
local denied = gDenied or lDenied
local function loginLimited()
  return lDenied and not dryRun
end

local uid = redis.call('HGET', KEYS[1], 'uid')
-- decoy: under enumeration protection (ARGV[16]), a start that sends
-- nothing to a sign-in still charges the login id's buckets and leaves a
-- record no code can match, so verify attempts count and die exactly as
-- for a real code.
local function decoy(status)
  if ARGV[16] ~= '1' then return {status, '', ''} end
  if loginLimited() then return {'limited', lDenied, tostring(lRetry)} end
  gcra_take(3 + G, lNews, L, now)
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'h', 'decoy', 'a', 0, 'm', ARGV[6], 'e', ARGV[7], 'c', ARGV[14])
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
  return {status, '', ''}
end
if ARGV[1] == 'new' and uid then
  return {'exists', '', ''}
end
-- [mgmt] a disabled user (flag set on each login id by the management API)
-- gets no code (under enumeration protection, a decoy like an unknown user).
if uid and redis.call('HGET', KEYS[1], 'dis') == '1' then
  return decoy('disabled')
end
if ARGV[1] == 'existing' and not uid then
  return decoy('notfound')
end
if ARGV[1] == 'owner' and uid ~= ARGV[11] then
  return {'notowner', '', ''}
end
-- Where the code goes: an existing user's stored address for the channel
-- (the login index holds only addresses a verified code reached); under
-- the owner rule the address the caller chose (a second factor's verified
-- contact, an update's new address); for a new user ARGV[4]. A request
-- address never redirects an existing user's code.
local addr
if ARGV[1] == 'owner' then
  addr = ARGV[4]
elseif uid then
  addr = redis.call('HGET', KEYS[1], ARGV[5]) or ''
else
  addr = ARGV[4]
end
if addr == '' then
  if uid and ARGV[1] ~= 'owner' then return decoy('noaddress') end
  return {'noaddress', '', ''}
end
if loginLimited() then
  return {'limited', lDenied, tostring(lRetry)}
end
gcra_take(3 + G, lNews, L, now)
redis.call('DEL', KEYS[2])
-- The record (verify_lib.lua reads it): h the code's keyed hash (32 raw
-- bytes), a attempts, m max attempts, e expiry ms, c created ms, n "1" for
-- a new user's code; only when they say something: to the address (when
-- not the login id), u payload, o owner, f contact field (when not the
-- channel's: email for ":code:email", else phone). The purpose is bound
-- into h. Small enough to stay one listpack allocation of 96 bytes.
local rec = {'h', ARGV[2], 'a', 0, 'm', ARGV[6], 'e', ARGV[7], 'c', ARGV[14], 'n', uid and '0' or '1'}
local function opt(field, value, default)
  if value ~= default then
    rec[#rec + 1] = field
    rec[#rec + 1] = value
  end
end
opt('to', addr, ARGV[10])
opt('u', ARGV[9], '')
opt('o', ARGV[11], '')
opt('f', ARGV[5], string.match(KEYS[2], ':code:email$') and 'email' or 'phone')
redis.call('HSET', KEYS[2], unpack(rec))
redis.call('PEXPIRE', KEYS[2], ARGV[8])
if ARGV[17] ~= '' then
  redis.call('XADD', KEYS[3 + G + L], 'MAXLEN', ARGV[19], '*',
    'id', ARGV[17], 'j', ARGV[18], 'to', addr, 'exp', ARGV[7], 'a', '1')
end
return {'ok', addr, denied or ''}
