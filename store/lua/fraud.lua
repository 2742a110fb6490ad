-- fraud.lua: the pumping guard on one entity (fraud_lib.lua), on its own:
-- Redis Cluster's starts (the entity lives in another slot than the login
-- id's keys), verified codes and failed deliveries.
--
-- KEYS[1] the shard hash; KEYS[2] its ':seen' set
-- ARGV[1] op: "check" (judge before a send), "s" (count sends), "v" (count
--         verified codes)
-- ARGV[2] entity field; ARGV[3] now ms; ARGV[4] n (for s, v)
-- ARGV[5] minSends; ARGV[6] minConv (for check)
-- ARGV[7..11] parameters (fg_params)
-- Returns the block's end (ms) for a blocked check, else 0.
local P = fg_params(7)
local now = tonumber(ARGV[3])
if ARGV[1] == 'check' then
  return fg_check(KEYS[1], KEYS[2], ARGV[2], now, tonumber(ARGV[5]), tonumber(ARGV[6]), P) or 0
end
fg_add(KEYS[1], KEYS[2], ARGV[2], now, ARGV[1], tonumber(ARGV[4]), P)
return 0
