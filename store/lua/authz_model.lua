-- The authorization model of one project (store/authz.go): permissions,
-- roles and tenants, all under the project's hash tag (one slot).
--
-- KEYS[1] perm  hash  name -> {"d": description}
-- KEYS[2] role  hash  name -> {"id": n, "d": description, "p": [permission names], "def": bool}
-- KEYS[3] rid   hash  role id -> role name
-- KEYS[4] ten   hash  tenant id -> {"s": n, "n": name, "dom": [domains], "ca": "<custom attributes' JSON>", "dr": [role names]}
--               (ca is kept as the string Go encoded: cjson would turn [] into {} and cut numbers to 14 digits)
-- KEYS[5] seq   string  the project's counter of role ids and tenant incarnations
-- KEYS[6] def   set   names of the default roles (every new user gets them)
-- KEYS[7] dom   hash  self-provisioning domain -> tenant id (one tenant per domain)
-- KEYS[8] ux    zset  the holder index (authz_index.lua): "r<role id>\0<user>\0<n>",
--                     "t<incarnation>\0<user>\0<n>", score 0
-- KEYS[9] ver   string  the model's version: a fresh random value at every call (store/authz_cache.go)
-- ARGV[1] op, ARGV[2] JSON arguments, ARGV[3] JSON caps {"perms", "roles", "tenants", "defaults"}, ARGV[4] the new version
--
-- A tenant-scoped role (a.tenantId) is stored in the same role hash under
-- the field "\31<tenant id>\31<name>" (names are printable, so it cannot
-- clash with a project role's name), its record carrying "t" (tenant id)
-- and "n" (name); rid maps its id to that field. Deleting the tenant
-- deletes its roles.
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
redis.call('SET', KEYS[9], ARGV[4])

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

-- the role hash field of a role: its name, or for a tenant's role "\31<tenant>\31<name>"
local function rkey(t, name)
  if t and t ~= '' then return '\31' .. t .. '\31' .. name end
  return name
end

-- drop every holder entry of a role id ('r') or tenant incarnation ('t')
local function drop_holders(kind, n)
  redis.call('ZREMRANGEBYLEX', KEYS[8], '[' .. kind .. tostring(n) .. '\0', '(' .. kind .. tostring(n) .. '\1')
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
  local t = a.tenantId or ''
  if t ~= '' and redis.call('HEXISTS', KEYS[4], t) == 0 then return {'missing', 'tenant', t} end
  local f = rkey(t, a.name)
  if redis.call('HEXISTS', KEYS[2], f) == 1 then return {'exists'} end
  if redis.call('HLEN', KEYS[2]) >= caps.roles then return {'cap', 'roles'} end
  local miss = check_perms(a.permissionNames)
  if miss then return {'missing', 'permission', miss} end
  if a.default == true and redis.call('SCARD', KEYS[6]) >= caps.defaults then return {'cap', 'default roles'} end
  local id = redis.call('INCR', KEYS[5])
  local rec = {id = id, d = a.description or '', p = arr(a.permissionNames), def = t == '' and a.default == true}
  if t ~= '' then rec.t, rec.n = t, a.name end
  redis.call('HSET', KEYS[2], f, cjson.encode(rec))
  redis.call('HSET', KEYS[3], tostring(id), f)
  if t == '' then set_def(a.name, a.default == true) end
  return {'ok'}
elseif op == 'role_update' then
  local t = a.tenantId or ''
  local f = rkey(t, a.name)
  local rec = get(KEYS[2], f)
  if not rec then return {'notfound'} end
  local to = rkey(t, a.newName)
  if to ~= f and redis.call('HEXISTS', KEYS[2], to) == 1 then return {'exists'} end
  local miss = check_perms(a.permissionNames)
  if miss then return {'missing', 'permission', miss} end
  if t == '' and a.default == true and rec.def ~= true and redis.call('SCARD', KEYS[6]) >= caps.defaults then return {'cap', 'default roles'} end
  rec.d, rec.p, rec.def = a.description or '', arr(a.permissionNames), t == '' and a.default == true
  if t ~= '' then rec.n = a.newName end
  redis.call('HDEL', KEYS[2], f)
  redis.call('HSET', KEYS[2], to, cjson.encode(rec))
  if to ~= f then
    redis.call('HSET', KEYS[3], tostring(rec.id), to)
    if t == '' then
      rename_in(KEYS[4], 'dr', a.name, a.newName)
      set_def(a.name, false)
    end
  end
  if t == '' then set_def(a.newName, rec.def) end
  return {'ok'}
elseif op == 'role_delete' then
  local t = a.tenantId or ''
  local f = rkey(t, a.name)
  local rec = get(KEYS[2], f)
  if rec then
    redis.call('HDEL', KEYS[2], f)
    redis.call('HDEL', KEYS[3], tostring(rec.id))
    if t == '' then
      rename_in(KEYS[4], 'dr', a.name, nil)
      set_def(a.name, false)
    end
    drop_holders('r', rec.id)
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
  redis.call('HSET', KEYS[4], a.id, cjson.encode({s = s, n = a.name, dom = arr(a.domains), ca = a.customAttributes, dr = arr(a.defaultRoles)}))
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
  rec.n, rec.dom, rec.ca = a.name, arr(a.domains), a.customAttributes
  redis.call('HSET', KEYS[4], a.id, cjson.encode(rec))
  return {'ok'}
elseif op == 'tenant_delete' then
  local rec = get(KEYS[4], a.id)
  if not rec then return {'notfound'} end
  set_domains(a.id, rec.dom, nil)
  redis.call('HDEL', KEYS[4], a.id)
  drop_holders('t', rec.s)
  -- the tenant's own roles go with it (and so from every member)
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    if string.byte(all[i], 1) == 31 then
      local r = cjson.decode(all[i + 1])
      if r.t == a.id then
        redis.call('HDEL', KEYS[2], all[i])
        redis.call('HDEL', KEYS[3], tostring(r.id))
      end
    end
  end
  return {'ok'}
end
return redis.error_reply('authz_model.lua: unknown op')
