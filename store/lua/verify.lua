-- verify.lua: one verify attempt (verify_lib.lua, prepended with
-- limits_lib.lua, describes KEYS and ARGV).
local res, st = verify_code(KEYS, ARGV, 0)
if st then consume_code(st, false) end
return res
