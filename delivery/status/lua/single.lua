-- single.lua: record a provider's answer for a job that has one provider and
-- no status callback (no failover, no callback can come): it is
-- written only when the provider refused the job for good, in one HSET (for
-- otpd deadletters), and kept as long as asked.
-- KEYS[1] the job's record
-- ARGV[1] project, [2] provider, [3] status (queued or failed), [4] its rank,
-- [5] the provider's message id ("" when none), [6] error code, [7] record
-- expiry (unix ms).
local k, prov = KEYS[1], ARGV[2]
local f = {'p', ARGV[1], 'try:' .. prov, '1', 'ok:' .. prov, '1', 'st:' .. prov, ARGV[3], 'rk:' .. prov, ARGV[4]}
if ARGV[5] ~= '' then f[#f + 1] = 'sid:' .. prov; f[#f + 1] = ARGV[5] end
if ARGV[6] ~= '' then f[#f + 1] = 'ec:' .. prov; f[#f + 1] = ARGV[6] end
redis.call('HSET', k, unpack(f))
redis.call('PEXPIREAT', k, ARGV[7])
return 1
