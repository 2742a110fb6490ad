-- The authorization model of one project (store/authz.go): permissions,
-- roles and tenants, all under the project's hash tag (one slot).
--
-- KEYS[1] perm  hash  name -> {"d": description}
-- KEYS[2] role  hash  name -> {"id": n, "d": description, "p": [permission names], "def": bool}
-- KEYS[3] rid   hash  role id -> role name
-- KEYS[4] ten   hash  tenant id -> {"s": n, "n": name, "dom": [domains], "ca": {...}, "dr": [role names]}
-- KEYS[5] seq   string  the project's counter of role ids and tenant incarnations
-- KEYS[6] def   set   names of the default roles (every new user gets them)
-- KEYS[7] dom   hash  self-provisioning domain -> tenant id (one tenant per domain)
-- KEYS[8] ver   string  the model's version: a fresh random value at every call (store/authz_cache.go)
-- ARGV[1] op, ARGV[2] JSON arguments, ARGV[3] JSON caps {"perms", "roles", "tenants"}, ARGV[4] the new version
--
-- A role or tenant gets a fresh number from seq when it is created; users
-- hold those numbers, so a deleted role or tenant is gone from every user at
-- once (claims resolve only numbers that are still live), and one created
-- again under the same name is a new one nobody holds.
--
-- Returns {"ok"} | {"exists"} | {"notfound"} | {"cap", what} | {"missing", kind, name}
-- | {"domain", domain} (another tenant has it).
local op = ARGV[1]
local a = cjson.decode(ARGV[2])
local caps = cjson.decode(ARGV[3])
-- Every call moves the version, in the same script as its change (a call
-- that changes nothing only costs the claims caches a reload).
redis.call('SET', KEYS[8], ARGV[4])

local function get(key, field)
  local v = redis.call('HGET', key, field)
  if not v then return nil end
  return cjson.decode(v)
end

-- An empty list is left out of a record (cjson cannot tell an empty
-- array from an empty object); Go reads a missing list as empty.
local function arr(t)
  if t == nil or #t == 0 then return nil end
  return t
end

local function obj(t)
  if t == nil or next(t) == nil then return nil end
  return t
end

local function each(key, fn)
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do fn(all[i], cjson.decode(all[i + 1])) end
end

-- replace (or drop when to is nil) the name from in a list field of every record of key
local function rename_in(key, field, from, to)
  each(key, function(k, rec)
    local list, out, hit = rec[field] or {}, {}, false
    for _, n in ipairs(list) do
      if n == from then
        hit = true
        if to then out[#out + 1] = to end
      else
        out[#out + 1] = n
      end
    end
    if hit then
      rec[field] = arr(out)
      redis.call('HSET', key, k, cjson.encode(rec))
    end
  end)
end

local function check_perms(list)
  for _, p in ipairs(list or {}) do
    if redis.call('HEXISTS', KEYS[1], p) == 0 then return p end
  end
  return nil
end

local function check_roles(list)
  for _, r in ipairs(list or {}) do
    if redis.call('HEXISTS', KEYS[2], r) == 0 then return r end
  end
  return nil
end

local function set_def(name, on)
  if on then redis.call('SADD', KEYS[6], name) else redis.call('SREM', KEYS[6], name) end
end

-- a domain another tenant than id holds, or nil
local function taken_domain(id, doms)
  for _, d in ipairs(doms or {}) do
    local owner = redis.call('HGET', KEYS[7], d)
    if owner and owner ~= id then return d end
  end
  return nil
end

local function set_domains(id, old, new)
  for _, d in ipairs(old or {}) do
    if redis.call('HGET', KEYS[7], d) == id then redis.call('HDEL', KEYS[7], d) end
  end
  for _, d in ipairs(new or {}) do redis.call('HSET', KEYS[7], d, id) end
end

if op == 'perm_create' then
  if redis.call('HEXISTS', KEYS[1], a.name) == 1 then return {'exists'} end
  if redis.call('HLEN', KEYS[1]) >= caps.perms then return {'cap', 'permissions'} end
  redis.call('HSET', KEYS[1], a.name, cjson.encode({d = a.description or ''}))
  return {'ok'}
elseif op == 'perm_update' then
  if redis.call('HEXISTS', KEYS[1], a.name) == 0 then return {'notfound'} end
  local to = a.newName
  if to ~= a.name and redis.call('HEXISTS', KEYS[1], to) == 1 then return {'exists'} end
  redis.call('HDEL', KEYS[1], a.name)
  redis.call('HSET', KEYS[1], to, cjson.encode({d = a.description or ''}))
  if to ~= a.name then rename_in(KEYS[2], 'p', a.name, to) end
  return {'ok'}
elseif op == 'perm_delete' then
  if redis.call('HDEL', KEYS[1], a.name) == 1 then rename_in(KEYS[2], 'p', a.name, nil) end
  return {'ok'}
elseif op == 'role_create' then
  if redis.call('HEXISTS', KEYS[2], a.name) == 1 then return {'exists'} end
  if redis.call('HLEN', KEYS[2]) >= caps.roles then return {'cap', 'roles'} end
  local miss = check_perms(a.permissionNames)
  if miss then return {'missing', 'permission', miss} end
  local id = redis.call('INCR', KEYS[5])
  redis.call('HSET', KEYS[2], a.name, cjson.encode({id = id, d = a.description or '', p = arr(a.permissionNames), def = a.default == true}))
  redis.call('HSET', KEYS[3], tostring(id), a.name)
  set_def(a.name, a.default == true)
  return {'ok'}
elseif op == 'role_update' then
  local rec = get(KEYS[2], a.name)
  if not rec then return {'notfound'} end
  local to = a.newName
  if to ~= a.name and redis.call('HEXISTS', KEYS[2], to) == 1 then return {'exists'} end
  local miss = check_perms(a.permissionNames)
  if miss then return {'missing', 'permission', miss} end
  rec.d, rec.p, rec.def = a.description or '', arr(a.permissionNames), a.default == true
  redis.call('HDEL', KEYS[2], a.name)
  redis.call('HSET', KEYS[2], to, cjson.encode(rec))
  if to ~= a.name then
    redis.call('HSET', KEYS[3], tostring(rec.id), to)
    rename_in(KEYS[4], 'dr', a.name, to)
    set_def(a.name, false)
  end
  set_def(to, rec.def)
  return {'ok'}
elseif op == 'role_delete' then
  local rec = get(KEYS[2], a.name)
  if rec then
    redis.call('HDEL', KEYS[2], a.name)
    redis.call('HDEL', KEYS[3], tostring(rec.id))
    rename_in(KEYS[4], 'dr', a.name, nil)
    set_def(a.name, false)
  end
  return {'ok'}
elseif op == 'tenant_create' then
  if redis.call('HEXISTS', KEYS[4], a.id) == 1 then return {'exists'} end
  if redis.call('HLEN', KEYS[4]) >= caps.tenants then return {'cap', 'tenants'} end
  local miss = check_roles(a.defaultRoles)
  if miss then return {'missing', 'role', miss} end
  local taken = taken_domain(a.id, a.domains)
  if taken then return {'domain', taken} end
  set_domains(a.id, nil, a.domains)
  local s = redis.call('INCR', KEYS[5])
  redis.call('HSET', KEYS[4], a.id, cjson.encode({s = s, n = a.name, dom = arr(a.domains), ca = obj(a.customAttributes), dr = arr(a.defaultRoles)}))
  return {'ok'}
elseif op == 'tenant_update' then
  local rec = get(KEYS[4], a.id)
  if not rec then return {'notfound'} end
  if a.setDefaultRoles then
    local miss = check_roles(a.defaultRoles)
    if miss then return {'missing', 'role', miss} end
    rec.dr = arr(a.defaultRoles)
  end
  local taken = taken_domain(a.id, a.domains)
  if taken then return {'domain', taken} end
  set_domains(a.id, rec.dom, a.domains)
  rec.n, rec.dom, rec.ca = a.name, arr(a.domains), obj(a.customAttributes)
  redis.call('HSET', KEYS[4], a.id, cjson.encode(rec))
  return {'ok'}
elseif op == 'tenant_delete' then
  local rec = get(KEYS[4], a.id)
  if not rec then return {'notfound'} end
  set_domains(a.id, rec.dom, nil)
  redis.call('HDEL', KEYS[4], a.id)
  return {'ok'}
end
return redis.error_reply('authz_model.lua: unknown op')
