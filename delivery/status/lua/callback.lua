-- callback.lua: record a status a provider reported for a job.
-- KEYS[1] the job's record
-- ARGV[1] project, [2] provider, [3] the provider's message id, [4] status,
-- [5] its rank, [6] error code, [7] now (ms), [8] n, then n providers of the
-- channel in order.
-- Returns {"unknown"} when the record is missing, of another project, or the
-- provider was never given the job; {"mismatch"} when the message id is not the
-- one recorded for the job; {"same"} when the status is not newer; else
-- {"changed", next, channel, address, sealed, expiry}: next is the provider an
-- undelivered or failed status hands the job to ("" when none), at most once per
-- job, before the code expires, never a provider that accepted it already.
local k, prov, sid = KEYS[1], ARGV[2], ARGV[3]
local p = redis.call('HGET', k, 'p')
if not p or p ~= ARGV[1] or redis.call('HEXISTS', k, 'try:' .. prov) == 0 then return {'unknown'} end
local known = redis.call('HGET', k, 'sid:' .. prov)
if known and known ~= sid then return {'mismatch'} end
if not known then redis.call('HSET', k, 'sid:' .. prov, sid) end
local rank = tonumber(ARGV[5])
if rank <= tonumber(redis.call('HGET', k, 'rk:' .. prov) or '0') then return {'same'} end
redis.call('HSET', k, 'st:' .. prov, ARGV[4], 'rk:' .. prov, ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', k, 'ec:' .. prov, ARGV[6]) end
local nxt = ''
local exp = redis.call('HGET', k, 'exp') or '0'
if (ARGV[4] == 'undelivered' or ARGV[4] == 'failed') and redis.call('HGET', k, 'last') == prov
    and tonumber(ARGV[7]) < tonumber(exp) and redis.call('HEXISTS', k, 'resend') == 0 then
  redis.call('HSET', k, 'ok:' .. prov, '1')
  for i = 1, tonumber(ARGV[8]) do
    local c = ARGV[8 + i]
    if c ~= prov and redis.call('HEXISTS', k, 'ok:' .. c) == 0 then nxt = c break end
  end
  if nxt ~= '' then
    redis.call('HSET', k, 'resend', nxt)
    redis.call('HDEL', k, 'done')
  end
end
return {'changed', nxt, redis.call('HGET', k, 'c') or '', redis.call('HGET', k, 'to') or '',
  redis.call('HGET', k, 'j') or '', exp}
