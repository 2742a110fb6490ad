-- limits.lua: apply a group of buckets on their own (Redis Cluster, where
-- the project-wide buckets live in another slot than the login id's).
-- KEYS: the buckets. ARGV[1] now ms, ARGV[2] "1" for dry run, ARGV[3..] triples.
-- Returns {status, name, retryMs}: ok (name = the bucket that would have
-- refused in a dry run, or "") | limited.
local now, n = tonumber(ARGV[1]), #KEYS
local denied, retry, news = gcra(1, 3, n, now)
if denied and ARGV[2] ~= '1' then
  return {'limited', denied, tostring(retry)}
end
gcra_take(1, news, n, now)
return {'ok', denied or '', tostring(retry)}
