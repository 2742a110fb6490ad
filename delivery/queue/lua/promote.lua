-- promote.lua: move parked entries whose time has come back onto the stream.
-- KEYS[1] stream, KEYS[2] delayed sorted set, KEYS[3] dead-letter stream
-- ARGV[1] now (unix ms), ARGV[2] at most this many, ARGV[3] stream max length,
-- ARGV[4] dead-letter max length
-- A member that is not an entry the worker parked (not JSON, a field
-- missing or not a string: corrupt, hand-edited, another version's) is
-- dead-lettered as it is, so that it cannot stop the entries behind it.
-- Returns the number of such members.
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local malformed = 0
for _, m in ipairs(due) do
  local ok, e = pcall(cjson.decode, m)
  local good = ok and type(e) == 'table'
  if good then
    for _, f in ipairs({'id', 'j', 'to', 'exp', 'a'}) do
      if type(e[f]) ~= 'string' then good = false end
    end
  end
  if good then
    redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '*',
      'id', e.id, 'j', e.j, 'to', e.to, 'exp', e.exp, 'a', e.a)
  else
    malformed = malformed + 1
    redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[4], '*',
      'reason', 'malformed', 'error', 'parked entry is not a job entry', 'raw', m, 'at', ARGV[1])
  end
  redis.call('ZREM', KEYS[2], m)
end
return malformed
