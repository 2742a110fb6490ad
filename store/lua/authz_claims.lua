-- Resolves a user's role ids and tenant memberships (store/authz.go)
-- against the project's current model, in one round trip.
--
-- KEYS[1] role, KEYS[2] rid, KEYS[3] ten (see authz_model.lua)
-- ARGV[1] the user's assignments: {"r": [role ids], "t": [{"i": tenant id, "s": incarnation, "r": [role ids]}]}
--
-- Returns a flat list: "r", role name, role record JSON for each live
-- project role; then for each live membership "t", tenant id, tenant record
-- JSON, followed by its live roles as "r" triples. A deleted role (its id
-- no longer in rid) or tenant (gone, or another incarnation) is left out.
local a = cjson.decode(ARGV[1])
local out = {}

local function roles(ids)
  for _, id in ipairs(ids or {}) do
    local name = redis.call('HGET', KEYS[2], tostring(id))
    if name then
      local rec = redis.call('HGET', KEYS[1], name)
      if rec then
        out[#out + 1] = 'r'
        out[#out + 1] = name
        out[#out + 1] = rec
      end
    end
  end
end

roles(a.r)
for _, m in ipairs(a.t or {}) do
  local raw = redis.call('HGET', KEYS[3], m.i)
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == m.s then
      out[#out + 1] = 't'
      out[#out + 1] = m.i
      out[#out + 1] = raw
      roles(m.r)
    end
  end
end
return out
