-- login.lua: finish a verified login on the user's slot (login_lib.lua,
-- prepended with refresh_lib.lua, describes KEYS and ARGV).
return complete_login(KEYS, ARGV)
