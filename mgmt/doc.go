// Package mgmt is otpd's management API for users: what operators need to
// find, fix, disable and delete users (support tickets, erasure, test
// set-up), on the semantics of Descope's management.user.* calls.
//
// Invariants:
//   - Every call is authenticated by a management key of the project
//     (KeyRing: SHA-256 kept, compared in constant time, several active).
//   - A login id belongs to at most one user: it is bound on its own slot
//     before the user record names it, and unbound after the record drops
//     it, so a crash part-way leaves at worst a login id pointing at a user
//     that does not name it (sign-in then finds no record) — never two users
//     sharing one.
//   - An erased user stays erased (Service.erase): one script on the user's
//     slot sets its erasure marker and deletes its keys, then its login ids
//     are unbound and its index entry dropped. Every writer that raced it
//     either ran before (and its writes are deleted with the rest) or is
//     refused: logins never recreate a missing record, creates refuse a
//     marker, updates find no record and unbind what they bound.
//   - Disabling a user revokes its refresh tokens and marks every login id,
//     so starts, verifies and refreshes are refused at once.
//   - Only verified addresses are copied to the login ids, so codes still
//     go only to addresses the user (or the operator, by setting
//     verified=true) has vouched for.
//   - Search never scans the keyspace: it reads the project's indexes
//     (store.Directory) and re-checks every candidate's record.
package mgmt
