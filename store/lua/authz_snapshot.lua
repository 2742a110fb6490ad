-- One project's authorization model as the claims cache needs it
-- (store/authz_cache.go), read atomically with the model's version.
--
-- KEYS[1] role, KEYS[2] ten, KEYS[3] def, KEYS[4] dom, KEYS[5] ver (see authz_model.lua)
--
-- Returns {version ("" when the model was never written), role hash as
-- HGETALL, tenant hash as HGETALL, default role names, domain hash as
-- HGETALL}.
return {redis.call('GET', KEYS[5]) or '', redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
  redis.call('SMEMBERS', KEYS[3]), redis.call('HGETALL', KEYS[4])}
