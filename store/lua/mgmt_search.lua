-- mgmt_search.lua: one page of user ids from a project's indexes, on the
-- project's slot.
--
-- op "page": KEYS = the (test, status) zsets to list (1 to 4).
--   ARGV[2] offset, ARGV[3] count. Returns {total, uid...}, oldest first
--   (by created time, then id): a k-way merge of the first offset+count of
--   each set, so the cost grows with offset+count, never with the project.
-- op "lex": KEYS[1] an email or phone zset; ARGV[2..] exact values.
--   Returns the user ids holding any of them.
local op = ARGV[1]
if op == 'lex' then
  local out, seen = {}, {}
  for i = 2, #ARGV do
    local v = ARGV[i] .. '\0'
    for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], '[' .. v, '(' .. ARGV[i] .. '\1', 'LIMIT', 0, 1000)) do
      local uid = string.sub(m, #v + 1)
      if not seen[uid] then seen[uid] = true; table.insert(out, uid) end
    end
  end
  return out
end
local offset, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local total, heads = 0, {}
for i = 1, #KEYS do
  total = total + redis.call('ZCARD', KEYS[i])
  heads[i] = redis.call('ZRANGE', KEYS[i], 0, offset + count - 1, 'WITHSCORES')
end
local out, pos, n = {tostring(total)}, {}, 0
for i = 1, #KEYS do pos[i] = 1 end
while n < offset + count do
  local best
  for i = 1, #KEYS do
    local h = heads[i]
    if pos[i] < #h then
      if not best then best = i else
        local s, bs = tonumber(h[pos[i] + 1]), tonumber(heads[best][pos[best] + 1])
        if s < bs or (s == bs and h[pos[i]] < heads[best][pos[best]]) then best = i end
      end
    end
  end
  if not best then break end
  n = n + 1
  if n > offset then table.insert(out, heads[best][pos[best]]) end
  pos[best] = pos[best] + 2
end
return out
