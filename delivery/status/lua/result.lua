-- result.lua: record how a provider answered a job.
-- KEYS[1] the job's record
-- ARGV[1] provider, [2] "ok" (accepted), "tf" (transient failure) or "pf" (permanent),
-- [3] the provider's message id ("" when none), [4] error code.
-- Returns 1 when the provider's status changed (queued on acceptance, failed on a
-- permanent failure), 0 otherwise, -1 when the message id differs from the one a
-- callback already recorded.
local k, prov, what = KEYS[1], ARGV[1], ARGV[2]
if redis.call('EXISTS', k) == 0 then return 0 end
if what == 'tf' then
  redis.call('HSET', k, 'tf:' .. prov, '1')
  return 0
end
local ret = 0
if what == 'ok' then
  redis.call('HSET', k, 'ok:' .. prov, '1', 'done', '1')
  if ARGV[3] ~= '' then
    local known = redis.call('HGET', k, 'sid:' .. prov)
    if known and known ~= ARGV[3] then ret = -1 elseif not known then redis.call('HSET', k, 'sid:' .. prov, ARGV[3]) end
  end
  if redis.call('HEXISTS', k, 'rk:' .. prov) == 0 then
    redis.call('HSET', k, 'st:' .. prov, 'queued', 'rk:' .. prov, '1')
    if ret == 0 then ret = 1 end
  end
  return ret
end
if tonumber(redis.call('HGET', k, 'rk:' .. prov) or '0') < 3 then
  redis.call('HSET', k, 'st:' .. prov, 'failed', 'rk:' .. prov, '3', 'ok:' .. prov, '1')
  if ARGV[4] ~= '' then redis.call('HSET', k, 'ec:' .. prov, ARGV[4]) end
  return 1
end
return 0
