-- The holder index of a project (store/authz_index.go): which users may
-- hold a project role or be a member of a tenant, for the user search by
-- roleNames / tenantIds. A superset: the search checks every candidate's
-- record, so an entry too many costs a read, never a wrong answer.
--
-- KEYS[1] ux   zset  members "<kind><n>\0<user>\0<seq>", score 0 (kind "r":
--                    role id, "t": tenant incarnation); read by lex range
-- KEYS[2] uxn  string the index's counter (seq)
-- ARGV[1] op: "add" or "drop"; ARGV[2] user id; ARGV[3] for drop the seq
-- the add before the write returned; ARGV[4..] "<kind><n>" entries
--
-- add (before the user record is written): takes a new seq, and replaces
-- the user's entries for those (kind, n) with ones stamped with it;
-- returns {seq}. drop (after a write that ended them): removes the user's
-- entries for those (kind, n) stamped at most ARGV[3]. A writer that adds
-- one again after reading that record stamps it later, so a delayed drop
-- can never remove an entry the record needs.
local function entries(e, uid)
  local from = '[' .. e .. '\0' .. uid .. '\0'
  return redis.call('ZRANGEBYLEX', KEYS[1], from, '(' .. e .. '\0' .. uid .. '\1')
end

local uid = ARGV[2]
if ARGV[1] == 'add' then
  local seq = redis.call('INCR', KEYS[2])
  for i = 4, #ARGV do
    for _, m in ipairs(entries(ARGV[i], uid)) do redis.call('ZREM', KEYS[1], m) end
    redis.call('ZADD', KEYS[1], 0, ARGV[i] .. '\0' .. uid .. '\0' .. seq)
  end
  return {tostring(seq)}
elseif ARGV[1] == 'drop' then
  local upto = tonumber(ARGV[3])
  local prefix = #uid + 2
  for i = 4, #ARGV do
    for _, m in ipairs(entries(ARGV[i], uid)) do
      if tonumber(string.sub(m, #ARGV[i] + prefix + 1)) <= upto then redis.call('ZREM', KEYS[1], m) end
    end
  end
  return {}
end
return redis.error_reply('authz_index.lua: unknown op')
