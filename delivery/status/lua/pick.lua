-- pick.lua: choose the provider that gets a job now, and remember it.
-- KEYS[1] the job's record (otpd:dlv:{<job>})
-- ARGV[1] project, [2] channel, [3] address, [4] sealed job, [5] code expiry (ms),
-- [6] record expiry (unix ms), [7] n, then n pairs (provider, "1" when its circuit is open),
-- in the channel's order.
-- A provider that accepted the job ("ok:<p>") is never picked again, and once
-- one accepted it no provider is picked ("done") until callback.lua hands it over. The first
-- provider with a closed circuit and no transient failure for this job wins;
-- else the first with a closed circuit (a retry, with the same idempotency key).
-- Returns the provider, "" when every provider accepted the job already, or
-- "!open" when the ones left all have an open circuit, or "!project" when the
-- record belongs to another project.
local k = KEYS[1]
local p = redis.call('HGET', k, 'p')
if p and p ~= ARGV[1] then return '!project' end
if not p then
  redis.call('HSET', k, 'p', ARGV[1], 'c', ARGV[2], 'to', ARGV[3], 'j', ARGV[4], 'exp', ARGV[5])
end
redis.call('PEXPIREAT', k, ARGV[6])
-- A provider accepted the job: it is done (a duplicate run, as after a
-- reclaim, sends nothing) until an undelivered status hands it over.
if redis.call('HGET', k, 'done') == '1' then return '' end
local n = tonumber(ARGV[7])
local chosen, left = nil, false
for pass = 1, 2 do
  for i = 0, n - 1 do
    local name, open = ARGV[8 + 2 * i], ARGV[9 + 2 * i]
    if redis.call('HEXISTS', k, 'ok:' .. name) == 0 then
      left = true
      if open ~= '1' and (pass == 2 or redis.call('HEXISTS', k, 'tf:' .. name) == 0) then
        chosen = name
        break
      end
    end
  end
  if chosen then break end
end
if chosen then
  redis.call('HSET', k, 'try:' .. chosen, '1', 'last', chosen)
  return chosen
end
if left then return '!open' end
return ''
