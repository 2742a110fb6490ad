-- mgmt_search.lua: one page of user ids from a project's indexes, on the
-- project's slot.
--
-- op "page": KEYS = the (test, status) zsets to list (1 to 4).
--   ARGV[2] offset, ARGV[3] count, ARGV[4] min and ARGV[5] max created
--   time (ms, inclusive; "-inf"/"+inf" for none), ARGV[6] "1" for newest
--   first. Returns {total in the range, uid...} ordered by created time,
--   then id (both reversed for newest first): a k-way merge of the first
--   offset+count of each set, so the cost grows with offset+count, never
--   with the project.
-- op "lex": KEYS[1] an email or phone zset; ARGV[2] the most ids to
--   return; ARGV[3..] exact values. Returns the user ids holding any of
--   them (every holder, read 1,000 at a time, up to ARGV[2]).
local op = ARGV[1]
if op == 'lex' then
  local limit = tonumber(ARGV[2])
  local out, seen = {}, {}
  for i = 3, #ARGV do
    local v = ARGV[i] .. '\0'
    local from = 0
    while #out < limit do
      local chunk = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. v, '(' .. ARGV[i] .. '\1', 'LIMIT', from, 1000)
      for _, m in ipairs(chunk) do
        local uid = string.sub(m, #v + 1)
        if not seen[uid] and #out < limit then seen[uid] = true; table.insert(out, uid) end
      end
      if #chunk < 1000 then break end
      from = from + 1000
    end
  end
  return out
end
local offset, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local lo, hi, desc = ARGV[4] or '-inf', ARGV[5] or '+inf', ARGV[6] == '1'
local total, heads = 0, {}
for i = 1, #KEYS do
  total = total + redis.call('ZCOUNT', KEYS[i], lo, hi)
  if desc then
    heads[i] = redis.call('ZREVRANGEBYSCORE', KEYS[i], hi, lo, 'WITHSCORES', 'LIMIT', 0, offset + count)
  else
    heads[i] = redis.call('ZRANGEBYSCORE', KEYS[i], lo, hi, 'WITHSCORES', 'LIMIT', 0, offset + count)
  end
end
-- before(a, b): member a (score sa) comes first.
local function before(a, sa, b, sb)
  if desc then return sa > sb or (sa == sb and a > b) end
  return sa < sb or (sa == sb and a < b)
end
local out, pos, n = {tostring(total)}, {}, 0
for i = 1, #KEYS do pos[i] = 1 end
while n < offset + count do
  local best
  for i = 1, #KEYS do
    local h = heads[i]
    if pos[i] < #h then
      if not best then best = i else
        local bh = heads[best]
        if before(h[pos[i]], tonumber(h[pos[i] + 1]), bh[pos[best]], tonumber(bh[pos[best] + 1])) then best = i end
      end
    end
  end
  if not best then break end
  n = n + 1
  if n > offset then table.insert(out, heads[best][pos[best]]) end
  pos[best] = pos[best] + 2
end
return out
