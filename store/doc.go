// Package store is otpd's state: pending codes, the login-id index, users and
// refresh-token ids, all in Redis.
//
// The interfaces here are what the flow engine needs; RedisStore implements
// them over any go-redis client that can run scripts (a single node,
// Sentinel, Cluster, or the embedded miniredis).
//
// Invariants:
//   - Every read-modify-write is one Lua script (lua/*.lua, embedded), never a
//     GET followed by a SET across round trips. A start costs one round trip;
//     a verify costs two (one on the login id's slot, one on the user's).
//   - Keys one script touches share a hash tag: {project:loginId} for the
//     login index and pending codes, {project:userId} for the user and its
//     refresh-token ids. So the same scripts run on Redis Cluster.
//   - Only the keyed hash of a code is stored, never the code.
//   - Every key has a TTL except user records and the login index, which are
//     the service's durable data (they live until the user is deleted).
//
// Key layout (P = project id, L = login id with '%', '{' and '}'
// percent-escaped, U = user id):
//
//	otpd:{P:L}:login           hash  uid, email, phone
//	otpd:{P:L}:code:<channel>  hash  h (HMAC), p (purpose), to (address), a (attempts),
//	                                 m (max attempts), e (expiry ms), u (profile), f (contact field)
//	otpd:{P:U}:user            hash  the user record
//	otpd:{P:U}:rt              zset  refresh token id -> expiry ms
package store
