-- verify.lua: one verify attempt (verify_lib.lua, prepended with
-- limits_lib.lua, describes KEYS and ARGV).
return verify_code(KEYS, ARGV, 0)
