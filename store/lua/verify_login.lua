-- verify_login.lua: a verify and, on the same slot, the login it leads to,
-- in one script (one round trip). limits_lib.lua, refresh_lib.lua,
-- verify_lib.lua, login_lib.lua and index_lib.lua are prepended.
--
-- The login runs here when the user's keys are reachable from this script:
-- always on a single node (ARGV[1] = "1"), and on Redis Cluster when the
-- user id names this login id's slot (a user created from this login id,
-- see store/userid.go). Otherwise, and for a code whose payload asks for
-- more than a login (an update, or an owner that is not the bound user),
-- only the verify runs and the caller finishes with login.lua.
--
-- ARGV[1]  "1": any user's keys may be touched (single node)
-- ARGV[2]  the slot tag of this login id's keys (store/keyslot)
-- ARGV[3]  project id
-- ARGV[4]  refresh token id;  ARGV[5] its expiry, unix ms
-- ARGV[6]  the most token families a user keeps
-- ARGV[7]  history entry JSON ("" for none)
-- ARGV[8]  history: max entries;  ARGV[9] history: max age ms (entries
--          older than now minus it are dropped; the key's TTL)
-- ARGV[10..] verify_lib.lua's A (A[1] now, A[2] the candidate user id,
--          A[5] the login id)
-- KEYS: verify_lib.lua's K, then (Redis Cluster only) the candidate (new)
--          user's keys: user, rt, rtg, rtf, rtr, hist, declared: the slot
--          of this script. On a single node no user or index key is
--          declared: the script names them (as store.userTag and
--          store.indexKeys), and writes the project's user indexes
--          (index_lib.lua) for a user this login creates.
-- Returns verify_lib.lua's 8 fields, then "1" and login_lib.lua's reply
-- when the login ran here, else "0"; or "2" alone when the login ran here
-- and created a user from the code alone (a fresh id, no payload): that
-- record holds only what the caller knows (user id, login id, the verified
-- address, enabled, created and modified now), so it is not sent back
-- (each reply element costs redis-server a conversion; store.VerifyLogin
-- builds the same User, TestVerifyLoginFreshReplyMatchesRecord).
local single = ARGV[1] == '1'
local VK = KEYS
if not single then
  VK = {}
  for i = 1, #KEYS - 6 do VK[i] = KEYS[i] end
end
local VA = {unpack(ARGV, 10)}
local res, st = verify_code(VK, VA, 9)
if not st then
  res[9] = '0'
  return res
end
local uid, addr, payload = res[5], res[3], res[4]
local function only_verified()
  consume_code(st, false)
  res[9] = '0'
  return res
end

local function esc(s)
  return (string.gsub(s, '[%%{}]', function(c) return string.format('%%%02X', string.byte(c)) end))
end
-- The user's key prefix: as store.userTag.
local function user_prefix(project, id)
  if #id == 28 and string.match(id, '^U20[A-Z2-7]+$') then
    local tag = string.sub(id, 4, 7)
    return 'otpd:{' .. tag .. '}:' .. project .. ':' .. id .. ':', tag
  end
  return 'otpd:{' .. project .. ':' .. esc(id) .. '}:', nil
end
local prefix, tag = user_prefix(ARGV[3], uid)
if not single and tag ~= ARGV[2] then return only_verified() end

-- The pending payload (flow/pending.go): p profile, x other address,
-- o owner, r revoke others, u update.
local p = {}
if payload ~= '' then
  local ok, decoded = pcall(cjson.decode, payload)
  if not ok or type(decoded) ~= 'table' then return only_verified() end
  p = decoded
end
if p.u ~= nil then return only_verified() end
local function str(v)
  if type(v) == 'string' then return v end
  return ''
end
local owner = str(p.o)
if owner ~= '' and owner ~= uid then return only_verified() end
if owner ~= '' then addr = '' end -- a second factor only registers a session
-- The login runs: the consumed record says so (undo_verify.lua then
-- removes a user this script created), written before the login so that
-- a login that fails half way is undone whole.
consume_code(st, true)
local prof = p.p
if type(prof) ~= 'table' then prof = {} end
local contact = 'email'
if string.sub(res[3], 1, 1) == '+' then contact = 'phone' end
local now = st.now
local revoke = '0'
if p.r == true then revoke = '1' end
-- Numbers where complete_login only computes with them (no string to
-- parse), strings where they go to redis.call.
local LK = {prefix .. 'user', prefix .. 'rt', prefix .. 'rtg', false, false, prefix .. 'hist'}
if revoke == '1' then LK[4], LK[5] = prefix .. 'rtf', prefix .. 'rtr' end -- read only to revoke
local LA = {uid, VA[5], contact, addr, math.floor(now / 1000),
  str(prof.name), str(prof.givenName), str(prof.middleName), str(prof.familyName),
  ARGV[4], ARGV[5], VA[1], revoke, str(p.x), ARGV[6], ARGV[7], ARGV[8],
  now - tonumber(ARGV[9]), ARGV[9], res[6]}
-- LK[7] (the erasure marker) is not named: complete_login reads it only
-- for a fresh id bound in an earlier script; here a fresh id is bound by
-- this very script (LA[20] = "1"), and a bound one's missing record answers
-- {'nouser'} (an erased user: nothing is written, the code stays spent).
local out = complete_login(LK, LA)
if res[6] == '1' and single then
  -- A user created with a fresh id: into the project's indexes (as
  -- store.indexKeys: rec, email, phone, real:enabled).
  local ix = 'otpd:{' .. esc(ARGV[3]) .. '}:ix:'
  local email, phone = '', ''
  -- The login address last: it wins over an unverified one of its type
  -- (which the user record does not keep either, login_lib.lua).
  for _, a in ipairs({str(p.x), res[3]}) do
    if string.sub(a, 1, 1) == '+' then phone = a elseif a ~= '' then email = a end
  end
  index_new({ix .. 'rec', ix .. 'email', ix .. 'phone', ix .. 'real:enabled'}, uid, email, phone,
    string.format('%d', now))
end
if res[6] == '1' and payload == '' then
  return {res[1], res[2], res[3], res[4], res[5], res[6], res[7], res[8], '2'}
end
-- One table of the final size (appending one by one grows it in steps).
return {res[1], res[2], res[3], res[4], res[5], res[6], res[7], res[8], '1', unpack(out)}
