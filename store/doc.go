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
//     so does a verify whose user's keys share the login id's slot (always on
//     a single node; on Cluster for a user created from that login id:
//     verify_login.lua), else two (verify on the login id's slot, login.lua on
//     the user's).
//   - Keys one script touches share a hash tag: {project:loginId} for the
//     login index and pending codes; for a user, the slot tag its id carries
//     (userid.go: the slot of the login id it was created from), or
//     {project:userId} for ids of an older release. So the same scripts run
//     on Redis Cluster.
//   - Only the keyed hash of a code is stored, never the code.
//   - Every key has a TTL except user records and the login index, which are
//     the service's durable data (they live until the user is deleted).
//   - A login never recreates a missing user record: only a user id the
//     verify bound just now to a fresh id gets one (Login.New), and not over
//     an erasure marker. So an erased (or merged-away) user stays gone,
//     whatever raced its erasure.
//
// Key layout (P = project id, L = login id with '%', '{' and '}'
// percent-escaped, U = user id, T = the slot tag in U):
//
//	otpd:{P:L}:login           hash  uid, email, phone
//	otpd:{P:L}:code:<channel>  hash  h (HMAC), a (attempts), m (max attempts), e (expiry ms),
//	                                 c (created ms), n (new user); to, u, o, f only when they
//	                                 say something (lua/start.lua)
//	otpd:{T}:P:U:user          hash  the user record ({P:U} for older ids)
//	otpd:{T}:P:U:rt            zset  refresh token family -> expiry ms
//	otpd:{T}:P:U:erased        string  erasure marker: the login ids while the
//	                                 erasure runs, then "1"; ErasedTTL
//	                                 (lua/mgmt_user.lua)
package store
