-- session_user.lua: a user record, read only while one of the user's token
-- families is live (an update's verify: the session that started it must
-- not have logged out, been logged out everywhere, revoked by a disable or
-- reuse, or expired). On the user's slot; read-only.
--
-- KEYS[1] user hash, KEYS[2] rt (refresh_lib.lua)
-- ARGV[1] the family, ARGV[2] now, unix ms
-- Returns {'ok', HGETALL...} | {'nouser'} | {'revoked'}
local out = redis.call('HGETALL', KEYS[1])
if #out == 0 then return {'nouser'} end
local exp = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not exp or tonumber(exp) <= tonumber(ARGV[2]) then return {'revoked'} end
table.insert(out, 1, 'ok')
return out
