-- retry.lua: take a failed entry off the stream and park it for a later try.
-- KEYS[1] stream, KEYS[2] delayed sorted set
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] due (unix ms), ARGV[4] the entry for later (JSON)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
