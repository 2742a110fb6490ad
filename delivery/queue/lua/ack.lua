-- ack.lua: acknowledge and delete finished entries, atomically per stream
-- (an entry acknowledged but not deleted would stay in the stream, read by
-- no one; deleted but not acknowledged, it would stay pending).
-- KEYS[1..n] streams (one on Redis Cluster; several on a single node)
-- ARGV[1] group, ARGV[1+i] how many ids follow for KEYS[i], then the ids,
-- stream by stream. Returns the number of entries deleted.
local at, deleted = 2 + #KEYS, 0
for i, key in ipairs(KEYS) do
  local n = tonumber(ARGV[1 + i])
  if n > 0 then
    redis.call('XACK', key, ARGV[1], unpack(ARGV, at, at + n - 1))
    deleted = deleted + redis.call('XDEL', key, unpack(ARGV, at, at + n - 1))
    at = at + n
  end
end
return deleted
