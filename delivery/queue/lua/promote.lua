-- promote.lua: move parked entries whose time has come back onto the stream.
-- KEYS[1] stream, KEYS[2] delayed sorted set
-- ARGV[1] now (unix ms), ARGV[2] at most this many, ARGV[3] stream max length
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(due) do
  local e = cjson.decode(m)
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '*',
    'id', e.id, 'j', e.j, 'to', e.to, 'exp', e.exp, 'a', e.a)
  redis.call('ZREM', KEYS[2], m)
end
return #due
