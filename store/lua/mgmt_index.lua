-- mgmt_index.lua: index_user (index_lib.lua, prepended) for one user.
-- KEYS as index_lib.lua; ARGV[1] uid, ARGV[2] its record JSON or "".
return index_user(KEYS, ARGV[1], ARGV[2])
