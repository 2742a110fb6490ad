-- start.lua: begin an OTP flow for one login id on one channel, atomically.
-- Checks the user-existence rule, picks the address, and stores the keyed
-- hash of the new code, replacing any earlier code for this login id and
-- channel (so the earlier code stops working).
--
-- KEYS[1]  login index hash   otpd:{P:L}:login   (uid, dis, email, phone)
-- KEYS[2]  pending code hash  otpd:{P:L}:code:<channel>
-- KEYS[3..] the G project-wide then the L login-id rate-limit buckets;
--          the job stream is the last KEY (when there is a job)
-- ARGV[1]  rule: "new" (sign-up), "existing" (sign-in), "any", or "owner"
--          (the login id must belong to user ARGV[14]: step-up, MFA, update)
-- ARGV[2]  HMAC of the code (binary; the purpose is bound into it)
-- ARGV[3]  address for a new user ("" if none)
-- ARGV[4]  contact field of the channel: "email" or "phone"
-- ARGV[5]  max attempts
-- ARGV[6]  expiry, unix ms
-- ARGV[7]  record TTL, ms (longer than the code's life, so a late verify can say "expired")
-- ARGV[8]  now, unix ms
-- ARGV[9]  the login id: the record stores the address only when it is
--          another (verify reads a missing 'to' as the login id)
-- ARGV[10] delivery job id ("" for none); ARGV[11] its sealed payload;
--          ARGV[12] the job stream's max length ("" without a job)
-- The rest is sent only when one of its values says something (the
-- common start sends 12 arguments):
-- ARGV[13] opaque payload for verify ("" if none)
-- ARGV[14] the owning user id for the "owner" rule ("" if none)
-- ARGV[15] contact field to store as 'f': "" when it is the channel's
--          (email for ":code:email", else phone)
-- ARGV[16] G: number of project-wide rate-limit buckets (KEYS[3..3+G-1])
-- ARGV[17] L: number of login-id buckets (the next L KEYS), charged only
--          when a code is stored
-- ARGV[18] "1" for a dry run (refusals are reported, not enforced)
-- ARGV[19] "1" to charge the login-id buckets even when the existence rule
--          refuses (enumeration protection: known and unknown users then
--          hit the same limits)
-- ARGV[20..] bucket triples (name, count, window ms), G then L
-- [fraud] then, when the pumping guard judges this start (fraud_lib.lua):
-- ARGV[a] F entities, ARGV[a+1] "1" in shadow mode, ARGV[a+2..a+6] its
-- parameters, then F triples (entity field, minSends, minConv), where
-- a = 20 + 3 * (G + L); the entities' keys (hash, ':seen' set) follow the
-- buckets' in KEYS, before the job stream. A blocked entity answers
-- "blocked\n<block end ms>\n<entity>" before any bucket is charged (in
-- shadow mode the reply is "fg\n<entity>\n" then the usual one); a stored
-- code counts one send on every entity.
-- Returns one string (a table reply costs redis-server more to convert):
-- the status alone (exists | notfound | notowner | noaddress | disabled),
-- "ok\n<bucket a dry run would have refused, or empty>\n<address>", or
-- "limited\n<retry delay ms>\n<bucket>". The last part may hold anything.
-- With the "owner" rule ARGV[3] is the destination the engine chose (an
-- update's new address, or a step-up/MFA code's verified contact); the
-- record keeps the owner ('o') so that verify binds nothing for it.
-- Project-wide buckets are checked and charged first; then the existence
-- rule answers its own error (a start that sends nothing is not refused by
-- a send limit); then the login id's buckets, charged only with a code.
-- Numbers reach redis.call as the strings they came in (no conversion).
local rule = ARGV[1]
local payload, owner, field, G, L, dryRun, charge = '', '', '', 0, 0, false, false
if ARGV[13] then
  payload, owner, field = ARGV[13], ARGV[14], ARGV[15]
  G, L = tonumber(ARGV[16]), tonumber(ARGV[17])
  dryRun, charge = ARGV[18] == '1', ARGV[19] == '1'
end
local now = tonumber(ARGV[8])
-- [fraud] the pumping guard, before anything is charged or stored.
local F, fgA, fgP, fgWould, fgSt = 0, 20 + 3 * (G + L), nil, '', {}
if ARGV[fgA] then
  F = tonumber(ARGV[fgA])
  fgP = fg_params(fgA + 2)
end
for i = 0, F - 1 do
  local k, a = 3 + G + L + 2 * i, fgA + 7 + 3 * i
  local till
  till, fgSt[i] = fg_check(KEYS[k], KEYS[k + 1], ARGV[a], now, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), fgP)
  if till then
    if ARGV[fgA + 1] ~= '1' then
      return 'blocked\n' .. till .. '\n' .. ARGV[a]
    end
    if fgWould == '' then fgWould = 'fg\n' .. ARGV[a] .. '\n' end
  end
end
local gDenied, lDenied, lRetry, lNews
if G > 0 then
  local gRetry, gNews
  gDenied, gRetry, gNews = gcra(3, 20, G, now)
  if gDenied and not dryRun then
    return 'limited\n' .. gRetry .. '\n' .. gDenied
  end
  gcra_take(3, gNews, G, now)
end
if L > 0 then
  lDenied, lRetry, lNews = gcra(3 + G, 20 + 3 * G, L, now)
end
local loginLimited = lDenied and not dryRun

-- replace stores a record in place of any earlier one. HSET answers how
-- many fields it added: fewer than it wrote means the key existed (every
-- record has 'h'), and may hold optional fields this one leaves out, or a
-- previous release's: the key is then written again from empty. A new
-- login id's start (the common one) costs one command.
local function replace(key, ...)
  if redis.call('HSET', key, ...) * 2 < select('#', ...) then
    redis.call('DEL', key)
    redis.call('HSET', key, ...)
  end
end

-- uid, disabled flag, and the user's address for the channel, in one read.
local idx = redis.call('HMGET', KEYS[1], 'uid', 'dis', ARGV[4])
local uid = idx[1]
if rule == 'new' and uid then
  return 'exists'
end
-- A start that sends nothing: the existence rule's refusals. Under
-- enumeration protection (ARGV[19]) a sign-in refused for a reason an
-- unknown user would not have gets a decoy: it charges the login id's
-- buckets and leaves a record no code can match, so verify attempts
-- count and die exactly as for a real code.
local refused
-- Where the code goes: an existing user's stored address for the channel
-- (the login index holds only addresses a verified code reached); under
-- the owner rule the address the caller chose (a second factor's verified
-- contact, an update's new address); for a new user ARGV[3]. A request
-- address never redirects an existing user's code.
local addr
if uid and idx[2] == '1' then
  -- [mgmt] a disabled user (flag set on each login id by the management
  -- API) gets no code (under enumeration protection, a decoy like an
  -- unknown user).
  refused = 'disabled'
elseif rule == 'existing' and not uid then
  refused = 'notfound'
elseif rule == 'owner' then
  if uid ~= owner then
    return 'notowner'
  end
  addr = ARGV[3]
elseif uid then
  addr = idx[3] or ''
else
  addr = ARGV[3]
end
if addr == '' then
  if not uid or rule == 'owner' then
    return 'noaddress'
  end
  refused = 'noaddress'
end
if refused then
  if not charge then return refused end
  if loginLimited then return 'limited\n' .. lRetry .. '\n' .. lDenied end
  if L > 0 then gcra_take(3 + G, lNews, L, now) end
  replace(KEYS[2], 'h', 'decoy', 'a', '0', 'm', ARGV[5], 'e', ARGV[6], 'c', ARGV[8])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  return refused
end
if loginLimited then
  return 'limited\n' .. lRetry .. '\n' .. lDenied
end
if L > 0 then gcra_take(3 + G, lNews, L, now) end
-- The record (verify_lib.lua reads it): h the code's keyed hash (32 raw
-- bytes), a attempts, m max attempts, e expiry ms, c created ms, n "1" for
-- a new user's code; only when they say something: to the address (when
-- not the login id), u payload, o owner, f contact field (when not the
-- channel's). The purpose is bound into h. Small enough to stay one
-- listpack allocation of 96 bytes.
local n = uid and '0' or '1'
if addr == ARGV[9] and payload == '' and owner == '' and field == '' then
  replace(KEYS[2], 'h', ARGV[2], 'a', '0', 'm', ARGV[5], 'e', ARGV[6], 'c', ARGV[8], 'n', n)
else
  local rec = {'h', ARGV[2], 'a', '0', 'm', ARGV[5], 'e', ARGV[6], 'c', ARGV[8], 'n', n}
  local function opt(name, value)
    rec[#rec + 1] = name
    rec[#rec + 1] = value
  end
  if addr ~= ARGV[9] then opt('to', addr) end
  if payload ~= '' then opt('u', payload) end
  if owner ~= '' then opt('o', owner) end
  if field ~= '' then opt('f', field) end
  replace(KEYS[2], unpack(rec))
end
redis.call('PEXPIRE', KEYS[2], ARGV[7])
-- [fraud] a stored code is a send.
for i = 0, F - 1 do
  local k = 3 + G + L + 2 * i
  fg_add(KEYS[k], KEYS[k + 1], ARGV[fgA + 7 + 3 * i], now, 's', 1, fgP, fgSt[i])
end
-- The job (delivery/queue reads it): no 'a' field (attempt 1 when absent,
-- for this release's worker and the previous one's). MAXLEN ~ trims whole
-- stream nodes only: the stream may pass its cap by less than one node
-- (stream-node-max-entries, 100 by default), and a start on a stream at
-- its cap (a provider outage) costs what one below it does, where an
-- exact trim would rewrite the oldest node on every XADD.
if ARGV[10] ~= '' then
  redis.call('XADD', KEYS[3 + G + L + 2 * F], 'MAXLEN', '~', ARGV[12], '*',
    'id', ARGV[10], 'j', ARGV[11], 'to', addr, 'exp', ARGV[6])
end
return fgWould .. 'ok\n' .. (gDenied or lDenied or '') .. '\n' .. addr
