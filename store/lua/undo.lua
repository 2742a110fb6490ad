-- undo.lua: take back a start that failed after it charged (Redis Cluster:
-- the start is several round trips; a later one failed, and the caller
-- answers 503, which the SDKs retry). On one slot:
--   - with a code key (KEYS[1], ARGV[1] = its hash): delete the code only if
--     it is still ours, and refund the buckets only then (our start ran);
--   - without (ARGV[1] = ""): refund the buckets (on Cluster: one
--     project-wide bucket, KEYS[1] = KEYS[2], which the caller knows it
--     charged: refund-on-deny, or a later step failed).
-- A refund moves a GCRA bucket's TAT back by window/count: exactly what one
-- charge added, whatever other charges happened since.
-- KEYS[1] the code key or any key of the slot ("" hash: unused); KEYS[2..] buckets
-- ARGV[1] the code's hash or ""; ARGV[2..] (count, window ms) per bucket
-- Returns 1 if it undid, 0 if the code was not ours.
if ARGV[1] ~= '' then
  if redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then
    return 0
  end
  redis.call('DEL', KEYS[1])
end
for i = 2, #KEYS do
  local count = tonumber(ARGV[2 * i - 2])
  local window = tonumber(ARGV[2 * i - 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or 0)
  if tat > 0 then
    local ttl = redis.call('PTTL', KEYS[i])
    local new = tat - window / count
    if ttl > 0 and new > 0 then
      redis.call('SET', KEYS[i], string.format('%.3f', new), 'PX', ttl)
    end
  end
end
return 1
