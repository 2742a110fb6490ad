-- replay.lua: move one dead letter back to the job stream as a first
-- attempt (same job id and sealed payload), and delete it from the dead
-- letters. Returns 0 when the entry is gone (already replayed or purged).
-- KEYS[1] dead-letter stream, KEYS[2] job stream
-- ARGV[1] dead-letter entry id, ARGV[2] job stream max length
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return 0 end
local f = e[1][2]
local v = {}
for i = 1, #f, 2 do v[f[i]] = f[i + 1] end
if not v['id'] or not v['j'] then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '*',
  'id', v['id'], 'j', v['j'], 'to', v['to'] or '', 'exp', v['exp'] or '0', 'a', '1')
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
