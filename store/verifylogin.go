package store

import (
	"cmp"
	"context"
	"errors"
	"time"
)

// LoginDone is the login VerifyLogin completed in the verify's script.
type LoginDone struct {
	User      User
	FirstSeen bool
	// Indexed: a user this login created is in the project's search index
	// already (single node); otherwise the caller indexes it.
	Indexed bool
}

// OneTripVerifier is a store that can run a verify and the login it leads
// to as one script.
type OneTripVerifier interface {
	// VerifyLogin is VerifyCode and, in the same script, CompleteLogin(l)
	// for the user the code signs in (l.UserID, Contact, Address, Profile,
	// Unverified and RevokeOthers are taken from the code's record and
	// payload; l.Index is ignored). It does the login when the user's keys
	// are on the code's slot (always on a single node; on Redis Cluster
	// for a user created from this login id) and the code asks for nothing
	// but a login (no update; an owner, if any, is the bound user). done is
	// nil when it did not: the caller continues as after VerifyCode. A
	// disabled user is VerifyDisabled. The script is atomic: an error
	// means it did not run or its reply was lost, as for VerifyCode.
	VerifyLogin(ctx context.Context, a Attempt, l Login) (VerifyResult, *LoginDone, error)
}

var _ OneTripVerifier = (*RedisStore)(nil)

// VerifyLogin implements OneTripVerifier in one round trip (two in
// split-slot mode: the project-wide limits first).
func (s *RedisStore) VerifyLogin(ctx context.Context, a Attempt, l Login) (VerifyResult, *LoginDone, error) {
	vkeys, vargs, would, early, err := s.prepareVerify(ctx, a)
	if early != nil || err != nil {
		return *early, nil, err
	}
	entry, err := historyEntry(l.History)
	if err != nil {
		return VerifyResult{}, nil, err
	}
	loginID := a.Key.LoginID
	args := make([]any, 0, 9+len(vargs))
	args = append(args, dryFlag(!s.split), loginSlotTag(a.Key.Project, loginID),
		a.Key.Project, l.RefreshID, l.RefreshExpiry.UnixMilli(),
		cmp.Or(max(l.MaxRefreshTokens, 0), DefaultMaxRefreshTokens), entry,
		HistoryMaxEntries, HistoryMaxAge.Milliseconds())
	args = append(args, vargs...)
	keys := vkeys
	if s.split {
		// Redis Cluster: the keys of the user this login may create, on
		// this login id's slot, declared. A single node needs no
		// declaration: the script names the user's and the index keys.
		keys = append(keys, sessionKeys(a.Key.Project, a.NewUserID)...)
		keys = append(keys, HistoryKey(a.Key.Project, a.NewUserID))
	}
	res, err := s.run(ctx, s.verifyLogin, keys, args...)
	if err != nil {
		if errors.Is(err, ErrNotReplicated) && len(res) >= 9 {
			loginRan := res[8] == "2" || res[8] == "1" && !(len(res) == 10 && res[9] == "disabled")
			err = s.unreplicatedVerify(ctx, a.Key, res[:8], loginRan, err)
		}
		return VerifyResult{}, nil, s.runErr(err)
	}
	if len(res) < 9 {
		return VerifyResult{}, nil, errShape("verify_login.lua")
	}
	r := verifyResult(res[:8], would)
	if res[8] == "2" && r.Status == VerifyOK {
		return r, &LoginDone{User: freshUser(r, loginID, a.Now), FirstSeen: true, Indexed: !s.split}, nil
	}
	if res[8] != "1" {
		return r, nil, nil
	}
	out := res[9:]
	if len(out) == 1 && out[0] == "disabled" {
		return VerifyResult{Status: VerifyDisabled, WouldLimit: r.WouldLimit}, nil, nil
	}
	if len(out) == 1 && out[0] == "nouser" {
		// The login id names a user whose record is gone (erased, or
		// merged away): the code is spent, nobody is signed in.
		return VerifyResult{Status: VerifyNotFound, WouldLimit: r.WouldLimit}, nil, nil
	}
	u, first, err := loginReply(out)
	if err != nil {
		return VerifyResult{}, nil, err
	}
	return r, &LoginDone{User: u, FirstSeen: first, Indexed: r.NewUser && !s.split}, nil
}

// freshUser is the record verify_login.lua creates for a fresh user id
// from a code without payload, which it does not send back (its "2"
// reply): the user id, the login id, the verified address of the code's
// contact type, enabled, created and modified at now (to the millisecond,
// as stored). TestVerifyLoginFreshReplyMatchesRecord holds it equal to the
// stored record read back.
func freshUser(r VerifyResult, loginID string, now time.Time) User {
	at := time.UnixMilli(now.UnixMilli())
	u := User{UserID: r.UserID, LoginIDs: []string{loginID}, Status: "enabled", CreatedTime: at, ModifiedTime: at}
	if r.Address != "" {
		if r.Contact == ContactPhone {
			u.Phone, u.VerifiedPhone = r.Address, true
		} else {
			u.Email, u.VerifiedEmail = r.Address, true
		}
	}
	return u
}
