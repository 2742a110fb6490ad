-- Access keys of a project (store/accesskeys.go): one hash, key id ->
-- record JSON, on the project's slot.
--
-- KEYS[1] otpd:{P}:ak
-- ARGV[1] op: "create" | "cas" | "delete"
--   create: ARGV[2] id, ARGV[3] record, ARGV[4] cap (keys per project)
--   cas:    ARGV[2] id, ARGV[3] record read before, ARGV[4] new record
--   delete: ARGV[2] id
-- Returns {"ok"} | {"exists"} | {"cap"} | {"notfound"} | {"changed"}.
local op, id = ARGV[1], ARGV[2]
if op == 'create' then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
    return {'cap'}
  end
  if redis.call('HSETNX', KEYS[1], id, ARGV[3]) == 0 then
    return {'exists'}
  end
  return {'ok'}
elseif op == 'cas' then
  local cur = redis.call('HGET', KEYS[1], id)
  if not cur then
    return {'notfound'}
  end
  if cur ~= ARGV[3] then
    return {'changed'}
  end
  redis.call('HSET', KEYS[1], id, ARGV[4])
  return {'ok'}
elseif op == 'delete' then
  if redis.call('HDEL', KEYS[1], id) == 0 then
    return {'notfound'}
  end
  return {'ok'}
end
return redis.error_reply('accesskey.lua: unknown op')
