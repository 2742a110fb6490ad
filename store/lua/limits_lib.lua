-- limits_lib.lua: GCRA rate limiting, prepended to the scripts that use it.
-- A bucket allows `count` events per `window` ms with a burst of `count`; it
-- is one key holding the "theoretical arrival time" (TAT) in ms, expiring
-- when the bucket is full again. Bucket i of a group: KEYS[k0+i], and
-- ARGV[a0+3i] name, ARGV[a0+3i+1] count, ARGV[a0+3i+2] window ms.

-- gcra evaluates n buckets at `now` without changing them. It returns the
-- name of the first bucket that refuses (or nil), how long until it would
-- allow (ms), and the new TAT of every bucket that allows.
local function gcra(k0, a0, n, now)
  local denied, retry, news = nil, 0, {}
  for i = 0, n - 1 do
    local count = tonumber(ARGV[a0 + 3 * i + 1])
    local window = tonumber(ARGV[a0 + 3 * i + 2])
    local tat = tonumber(redis.call('GET', KEYS[k0 + i]) or 0)
    if tat < now then tat = now end
    local new = tat + window / count
    if new - now > window then
      if not denied then
        denied = ARGV[a0 + 3 * i]
        retry = math.ceil(new - now - window)
      end
    else
      news[i] = new
    end
  end
  return denied, retry, news
end

-- gcra_take records the events of gcra's allowing buckets.
local function gcra_take(k0, news, n, now)
  for i = 0, n - 1 do
    if news[i] then
      redis.call('SET', KEYS[k0 + i], string.format('%.3f', news[i]), 'PX', math.max(1, math.ceil(news[i] - now)))
    end
  end
end
