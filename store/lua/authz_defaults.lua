-- What a new user gets (store/authz.go NewUserAuthz): the project's
-- default roles, and the membership of the tenant whose self-provisioning
-- domain is the user's email domain, with that tenant's default roles.
--
-- KEYS[1] role, KEYS[2] ten, KEYS[3] def, KEYS[4] dom (see authz_model.lua)
-- ARGV[1] the email domain, lower case ("" for none)
--
-- Returns a flat list: "r", role id for each project default role; then,
-- when a tenant has the domain, "t", tenant id, incarnation, and "r", role
-- id for each of its default roles.
local out = {}
local function role(name)
  local raw = redis.call('HGET', KEYS[1], name)
  if raw then
    out[#out + 1] = 'r'
    out[#out + 1] = tostring(cjson.decode(raw).id)
  end
end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do role(name) end
if ARGV[1] ~= '' then
  local id = redis.call('HGET', KEYS[4], ARGV[1])
  if id then
    local raw = redis.call('HGET', KEYS[2], id)
    if raw then
      local rec = cjson.decode(raw)
      out[#out + 1] = 't'
      out[#out + 1] = id
      out[#out + 1] = tostring(rec.s)
      for _, name in ipairs(rec.dr or {}) do role(name) end
    end
  end
end
return out
