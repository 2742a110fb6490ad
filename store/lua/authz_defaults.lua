-- What a new user gets (store/authz.go NewUserAuthz): the project's
-- default roles, and the membership of the tenant whose self-provisioning
-- domain is the user's email domain, with that tenant's default roles.
--
-- KEYS[1] role, KEYS[2] ten, KEYS[3] def, KEYS[4] dom (see authz_model.lua)
-- KEYS[5] ux, KEYS[6] uxn: the holder index (authz_index.lua)
-- ARGV[1] the email domain, lower case ("" for none); ARGV[2] the new
-- user's id ("" for none)
--
-- The user is entered in the holder index of each project role and the
-- tenant it gets, here, before its record is written (so the search by
-- role or tenant finds it without another round trip on the verify).
--
-- Returns a flat list: "r", role id for each project default role; then,
-- when a tenant has the domain, "t", tenant id, incarnation, and "r", role
-- id for each of its default roles.
local out = {}
local held = {}
local function role(name, index)
  local raw = redis.call('HGET', KEYS[1], name)
  if raw then
    local id = tostring(cjson.decode(raw).id)
    out[#out + 1] = 'r'
    out[#out + 1] = id
    if index then held[#held + 1] = 'r' .. id end
  end
end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do role(name, true) end
if ARGV[1] ~= '' then
  local id = redis.call('HGET', KEYS[4], ARGV[1])
  if id then
    local raw = redis.call('HGET', KEYS[2], id)
    if raw then
      local rec = cjson.decode(raw)
      out[#out + 1] = 't'
      out[#out + 1] = id
      out[#out + 1] = tostring(rec.s)
      held[#held + 1] = 't' .. tostring(rec.s)
      for _, name in ipairs(rec.dr or {}) do role(name, false) end
    end
  end
end
if ARGV[2] ~= '' and #held > 0 then
  local seq = redis.call('INCR', KEYS[6])
  for _, e in ipairs(held) do
    redis.call('ZADD', KEYS[5], 0, e .. '\0' .. ARGV[2] .. '\0' .. seq)
  end
end
return out
