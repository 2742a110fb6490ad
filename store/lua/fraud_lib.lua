-- fraud_lib.lua: the pumping guard's counters (package fraud decides what
-- they mean; docs/abuse-protection.md). Prepended to start.lua and
-- fraud.lua.
--
-- An entity is a destination number prefix ("p:<digits>") or country
-- ("c:<ISO code>") of one project and phone channel. Entities live in
-- shard hashes, HKEY = otpd:{P:fg:<channel>:<shard>}, one field per
-- entity, beside a sorted set ZKEY = HKEY .. ':seen' (same slot) of
-- entity -> last seen ms, which caps the shard (the least recently seen
-- entity is forgotten past the cap) and ages entries out (at most two
-- stale ones removed per call, and both keys expire when idle).
--
-- A field's value: "<blocked until ms>;<slot>,<sends>,<verifies>;..." for
-- the slots of the window still alive (slot = floor(now / slotMs); a
-- window is nslots slots).
--
-- Parameters P (a table): slot (ms), nslots, cool (cool-off ms), ttl (ms:
-- window + cool-off), cap (entities per shard).

-- st.slots is a list of {slot, sends, verifies} (a list, not a table
-- indexed by slot number: an embedded Lua would size an array part to it).
local function fg_load(hkey, field, now, P)
  local st = {b = 0, slots = {}, sends = 0, verifies = 0}
  local raw = redis.call('HGET', hkey, field)
  if not raw then
    return st, false
  end
  local cur = math.floor(now / P.slot)
  local first = true
  for part in string.gmatch(raw, '[^;]+') do
    if first then
      st.b = tonumber(part) or 0
      first = false
    else
      local e, s, v = string.match(part, '^(%d+),(%d+),(%d+)$')
      e, s, v = tonumber(e), tonumber(s), tonumber(v)
      if e and e > cur - P.nslots and e <= cur then
        st.slots[#st.slots + 1] = {e, s, v}
        st.sends = st.sends + s
        st.verifies = st.verifies + v
      end
    end
  end
  return st, true
end

-- fg_save writes an entity back. Only when it opens a slot (or is new,
-- or changes state) does it also mark the entity seen, age out stale
-- ones, enforce the cap and renew the TTLs: once per slot, so the common
-- send costs an HGET and an HSET. The keys outlive the last slot opened
-- by the window, the cool-off and one slot.
local function fg_save(hkey, zkey, field, st, now, P, fresh)
  local out = {string.format('%d', st.b)}
  for _, x in ipairs(st.slots) do
    out[#out + 1] = string.format('%d,%d,%d', x[1], x[2], x[3])
  end
  redis.call('HSET', hkey, field, table.concat(out, ';'))
  if not fresh then
    return
  end
  local added = redis.call('ZADD', zkey, now, field)
  -- Age out: entities not seen for a whole window and cool-off.
  local stale = redis.call('ZRANGEBYSCORE', zkey, '-inf', now - P.ttl - P.slot, 'LIMIT', 0, 2)
  for _, f in ipairs(stale) do
    redis.call('HDEL', hkey, f)
    redis.call('ZREM', zkey, f)
  end
  -- Cap: past it the least recently seen entity (never this one) goes.
  if added == 1 and redis.call('ZCARD', zkey) > P.cap then
    local old = redis.call('ZRANGE', zkey, 0, 1)
    for _, f in ipairs(old) do
      if f ~= field then
        redis.call('HDEL', hkey, f)
        redis.call('ZREM', zkey, f)
        break
      end
    end
  end
  redis.call('PEXPIRE', hkey, P.ttl + P.slot)
  redis.call('PEXPIRE', zkey, P.ttl + P.slot)
end

-- fg_check judges one entity before a send: it answers the block's end
-- (ms) when the entity is blocked (already, or now: at least minSends
-- sends in the window and fewer than minConv of them verified), else nil;
-- and the entity's state, for fg_add. A new block clears the counts, so
-- that once it lifts the entity is judged on new sends only. A lifted
-- block is forgotten.
local function fg_check(hkey, zkey, field, now, minSends, minConv, P)
  local st, found = fg_load(hkey, field, now, P)
  if not found then
    return nil, st
  end
  if st.b > now then
    redis.call('ZADD', zkey, now, field) -- a blocked entity stays tracked
    return st.b, st
  end
  if minSends > 0 and st.sends >= minSends and st.verifies < minConv * st.sends then
    st.b = now + P.cool
    st.slots, st.sends, st.verifies = {}, 0, 0
    fg_save(hkey, zkey, field, st, now, P, true)
    return st.b, st
  end
  if st.b > 0 then
    st.b = 0
    fg_save(hkey, zkey, field, st, now, P, true)
  end
  return nil, st
end

-- fg_add counts n sends (what = 's') or verifies ('v') in the current
-- slot; st is the entity's state from fg_check in the same script, or nil.
local function fg_add(hkey, zkey, field, now, what, n, P, st)
  local found = true
  if not st then
    st, found = fg_load(hkey, field, now, P)
  end
  local cur = math.floor(now / P.slot)
  local x
  for _, y in ipairs(st.slots) do
    if y[1] == cur then x = y end
  end
  local fresh = not found or not x
  if not x then -- (replicas' clocks may differ: at most one entry a slot)
    x = {cur, 0, 0}
    st.slots[#st.slots + 1] = x
  end
  if what == 's' then
    x[2] = x[2] + n
  else
    x[3] = x[3] + n
  end
  fg_save(hkey, zkey, field, st, now, P, fresh)
end

-- fg_params reads the parameters from ARGV[a0 .. a0+4].
local function fg_params(a0)
  return {slot = tonumber(ARGV[a0]), nslots = tonumber(ARGV[a0 + 1]), cool = tonumber(ARGV[a0 + 2]),
    ttl = tonumber(ARGV[a0 + 3]), cap = tonumber(ARGV[a0 + 4])}
end
