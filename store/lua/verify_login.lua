-- verify_login.lua: a verify and, on the same slot, the login it leads to,
-- in one script (one round trip). limits_lib.lua, refresh_lib.lua,
-- verify_lib.lua, login_lib.lua and index_lib.lua are prepended.
--
-- The login runs here when the user's keys are reachable from this script:
-- always on a single node (ARGV[3] = "1"), and on Redis Cluster when the
-- user id names this login id's slot (a user created from this login id,
-- see store/userid.go). Otherwise, and for a code whose payload asks for
-- more than a login (an update, or an owner that is not the bound user),
-- only the verify runs and the caller finishes with login.lua.
--
-- ARGV[1]  NK: verify_lib.lua's KEYS are KEYS[1..NK]
-- ARGV[2]  NA: verify_lib.lua's ARGV are ARGV[12..11+NA]
-- ARGV[3]  "1": any user's keys may be touched (single node)
-- ARGV[4]  the slot tag of this login id's keys (store/keyslot)
-- ARGV[5]  project id;  ARGV[6] the login id
-- ARGV[7]  refresh token id;  ARGV[8] its expiry, unix ms
-- ARGV[9]  the most token families a user keeps
-- ARGV[10] history entry JSON ("" for none);  ARGV[11] "max entries,
--          cutoff unix ms, key TTL ms"
-- KEYS[NK+1 .. NK+6]  the candidate (new) user's keys: user, rt, rtg, rtf,
--          rtr, hist (declared: the slot of this script)
-- KEYS[NK+7 .. NK+13] (single node only) the project's user indexes
--          (index_lib.lua), written for a user this login creates
-- Returns verify_lib.lua's 8 fields, then "1" and login_lib.lua's reply
-- when the login ran here, else "0".
local NK, NA = tonumber(ARGV[1]), tonumber(ARGV[2])
local VK, VA = {}, {}
for i = 1, NK do VK[i] = KEYS[i] end
for i = 1, NA do VA[i] = ARGV[11 + i] end
local res = verify_code(VK, VA, 11)
if res[1] ~= 'ok' then
  table.insert(res, '0')
  return res
end
local uid, addr, payload = res[5], res[3], res[4]
local function only_verified()
  table.insert(res, '0')
  return res
end

-- The user's key prefix: as store.userTag.
local function user_prefix(project, id)
  local tag = string.sub(id, 4, 7)
  if #id == 28 and string.sub(id, 1, 3) == 'U20' and string.match(string.sub(id, 4), '^[A-Z2-7]+$') then
    return 'otpd:{' .. tag .. '}:' .. project .. ':' .. id .. ':', tag
  end
  local esc = string.gsub(id, '[%%{}]', function(c) return string.format('%%%02X', string.byte(c)) end)
  return 'otpd:{' .. project .. ':' .. esc .. '}:', nil
end
local prefix, tag = user_prefix(ARGV[5], uid)
if ARGV[3] ~= '1' and tag ~= ARGV[4] then return only_verified() end

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
local prof = p.p
if type(prof) ~= 'table' then prof = {} end
local contact = 'email'
if string.sub(res[3], 1, 1) == '+' then contact = 'phone' end
local now = tonumber(VA[1])
local hist = {}
for v in string.gmatch(ARGV[11], '[^,]+') do hist[#hist + 1] = v end
local revoke = '0'
if p.r == true then revoke = '1' end
local LK = {prefix .. 'user', prefix .. 'rt', prefix .. 'rtg', prefix .. 'rtf', prefix .. 'rtr', prefix .. 'hist'}
local LA = {uid, ARGV[6], contact, addr, tostring(math.floor(now / 1000)),
  str(prof.name), str(prof.givenName), str(prof.middleName), str(prof.familyName),
  ARGV[7], ARGV[8], VA[1], revoke, str(p.x), ARGV[9], ARGV[10], hist[1], hist[2], hist[3]}
local out = complete_login(LK, LA)
-- The consumed record says the login ran (undo_verify.lua then removes
-- a user this script created).
redis.call('HSET', VK[1] .. ':used', 'lg', '1')
if out[1] == '1' and res[6] == '1' and KEYS[NK + 13] then
  local IK = {}
  for i = 1, 7 do IK[i] = KEYS[NK + 6 + i] end
  local email, phone = '', ''
  for _, a in ipairs({res[3], str(p.x)}) do
    if string.sub(a, 1, 1) == '+' then phone = a elseif a ~= '' then email = a end
  end
  index_user(IK, uid, '{"e":' .. cjson.encode(email) .. ',"p":' .. cjson.encode(phone) ..
    ',"s":"enabled","t":false,"c":' .. string.format('%d', math.floor(now / 1000) * 1000) .. '}')
end
table.insert(res, '1')
for _, v in ipairs(out) do table.insert(res, v) end
return res
