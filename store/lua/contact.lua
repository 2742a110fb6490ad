-- contact.lua: apply a verified contact change to a user record, on the
-- user's slot: set the address, mark it verified, optionally add it (and
-- merged login ids) to the user's login ids.
--
-- KEYS[1] user hash
-- ARGV[1] contact field: "email" or "phone"
-- ARGV[2] the new, verified address
-- ARGV[3] "1" to add ARGV[2] to loginIds
-- ARGV[4] JSON array of more login ids to add (a merge), or ""
-- ARGV[5] now, unix ms: the record's modifiedMs; kept as <contact>ChangedAt when the verified
--         address changes (a step-up or MFA code never goes to a contact
--         changed after its session signed in; flow/recent.go)
-- KEYS[2] (optional) the user's token families (rt, refresh_lib.lua)
-- ARGV[6] (optional) a family that must still be live in KEYS[2]: the
--         session that started the update (flow/pending.go); else
--         'revoked', nothing changed
-- Returns {status, HGETALL...}: ok | nouser | revoked
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'nouser'}
end
if ARGV[6] and ARGV[6] ~= '' then
  local exp = redis.call('ZSCORE', KEYS[2], ARGV[6])
  if not exp or tonumber(exp) <= tonumber(ARGV[5]) then return {'revoked'} end
end
local verified = 'verifiedEmail'
if ARGV[1] == 'phone' then verified = 'verifiedPhone' end
local before = redis.call('HMGET', KEYS[1], ARGV[1], verified)
if before[1] ~= ARGV[2] or before[2] ~= '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], verified, '1', ARGV[1] .. 'ChangedAt', ARGV[5] or '0')
end
if ARGV[5] and ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'modifiedMs', ARGV[5]) end
local ids = cjson.decode(redis.call('HGET', KEYS[1], 'loginIds') or '[]')
local have = {}
for _, v in ipairs(ids) do have[v] = true end
local add = {}
if ARGV[3] == '1' then table.insert(add, ARGV[2]) end
if ARGV[4] ~= '' then
  for _, v in ipairs(cjson.decode(ARGV[4])) do table.insert(add, v) end
end
for _, v in ipairs(add) do
  if not have[v] then
    table.insert(ids, v)
    have[v] = true
  end
end
redis.call('HSET', KEYS[1], 'loginIds', cjson.encode(ids))
-- A management read-modify-write that read the record before this change
-- must start over (mgmt_user.lua's "mv"), or it would write back login
-- ids without the one bound here: that login id would name the user
-- without the record knowing it, and an erasure would miss it.
redis.call('HINCRBY', KEYS[1], 'mv', 1)
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 'ok')
return out
