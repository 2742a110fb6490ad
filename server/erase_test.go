package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/config"
)

// Issue 19 §2: an erased user stays erased. A management delete that
// answered 200 leaves no key of the user (record, refresh state, history,
// limit buckets, login ids, pending codes, index entries: only the
// erasure marker, which holds nothing but "1" and expires), and no
// session of the user works, whatever raced the delete.

// eraseUser is a user made for one race: loginIDs login ids (emails of one
// domain), the first its verified email, and a refresh JWT of a sign-in.
type eraseUser struct {
	uid, email, refresh string
	loginIDs            []string
}

func (e *env) eraseUser(round, loginIDs int) eraseUser {
	e.t.Helper()
	u := eraseUser{email: fmt.Sprintf("r%d-0@erase.test", round)}
	for i := range loginIDs {
		u.loginIDs = append(u.loginIDs, fmt.Sprintf("r%d-%d@erase.test", round, i))
	}
	add := "[]"
	if loginIDs > 1 {
		add = `["` + strings.Join(u.loginIDs[1:], `","`) + `"]`
	}
	c := userOf(e.t.(*testing.T), e.mustMgmt("POST", "/v1/mgmt/user/create", fmt.Sprintf(
		`{"loginId":%q,"additionalLoginIds":%s,"email":%q,"verifiedEmail":true}`, u.loginIDs[0], add, u.email)))
	u.uid = c["userId"].(string)
	// A session from before the delete.
	u.refresh = e.login("email", u.loginIDs[len(u.loginIDs)-1], u.email)["refreshJwt"].(string)
	return u
}

// erasedEverywhere fails the test unless nothing of u is left: every
// Redis key and index entry naming the user id or one of its login ids
// (the erasure marker aside), and the management API's view.
func (e *env) erasedEverywhere(t *testing.T, round int, u eraseUser) {
	t.Helper()
	ctx := context.Background()
	for _, k := range e.allKeys() {
		switch {
		case strings.HasSuffix(k, u.uid+":erased"):
			// The marker: "1", with a TTL.
			v, _ := e.redis.Get(ctx, k).Result()
			ttl, _ := e.redis.PTTL(ctx, k).Result()
			if v != "1" || ttl <= 0 {
				t.Errorf("round %d: the erasure marker %s holds %q with TTL %v (want \"1\" and a TTL)", round, k, v, ttl)
			}
		case strings.Contains(k, u.uid):
			t.Errorf("round %d: key %s of the erased user %s survived (type %s)", round, k, u.uid, e.redis.Type(ctx, k).Val())
		case strings.Contains(k, fmt.Sprintf("{%s:r%d-", e.project, round)) && strings.Contains(k, "}:rl:"):
			// A login id's abuse buckets: counters of the address, not of
			// any user, that expire with their window.
			if ttl, _ := e.redis.PTTL(ctx, k).Result(); ttl <= 0 {
				t.Errorf("round %d: rate-limit bucket %s has no TTL", round, k)
			}
		case strings.Contains(k, fmt.Sprintf("{%s:r%d-", e.project, round)):
			t.Errorf("round %d: login-id key %s of the erased user survived: %v", round, k, e.redis.HGetAll(ctx, k).Val())
		case strings.Contains(k, ":ix:"):
			var vals []string
			switch e.redis.Type(ctx, k).Val() {
			case "hash":
				vals = e.redis.HKeys(ctx, k).Val()
			case "zset":
				vals = e.redis.ZRange(ctx, k, 0, -1).Val()
			}
			for _, v := range vals {
				if strings.Contains(v, u.uid) {
					t.Errorf("round %d: index %s still names the erased user: %q", round, k, v)
				}
			}
		}
	}
	if s, b := e.mgmt("GET", "/v1/mgmt/user?userId="+u.uid, ""); s != 404 {
		t.Errorf("round %d: GET the erased user: %d %s", round, s, errCodeOf(b))
	}
	if s, b := e.mustMgmtHistory(u.uid); s != 200 || len(b) != 0 {
		t.Errorf("round %d: the erased user's history: %d %v", round, s, b)
	}
	if s, b := e.do("POST", "/v1/auth/refresh", "{}", e.bearer(u.refresh)); s != 401 {
		t.Errorf("round %d: the erased user's old refresh JWT: %d %s", round, s, errCodeOf(b))
	}
}

// allKeys lists every key, on every master of a Cluster.
func (e *env) allKeys() []string {
	e.t.Helper()
	ctx := context.Background()
	cc, ok := e.redis.(*redis.ClusterClient)
	if !ok {
		keys, err := e.redis.Keys(ctx, "*").Result()
		if err != nil {
			e.t.Fatal(err)
		}
		return keys
	}
	var mu sync.Mutex
	var keys []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, "*").Result()
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}

// mustMgmtHistory returns the login history entries of uid.
func (e *env) mustMgmtHistory(uid string) (int, []any) {
	e.t.Helper()
	s, raw := e.rawJSON("POST", "/v1/mgmt/user/history", fmt.Sprintf(`[%q]`, uid), "Bearer "+e.project+":"+mgmtKey, nil)
	if s != 200 {
		return s, nil
	}
	switch b := raw.(type) {
	case []any:
		return s, b
	case map[string]any:
		list, _ := b["usersAuthHistory"].([]any)
		return s, list
	}
	return s, nil
}

// TestEraseRacingVerify: a delete racing a verify by one of the user's
// login ids, many rounds on a real Redis, for users with ten login ids
// and with one. Both may answer 200 (the verify won), but then the
// verify's tokens die with the delete; and whatever the order, nothing of
// the user is left afterwards.
func TestEraseRacingVerify(t *testing.T) {
	t.Parallel()
	// No rate limits: every round verifies from one client address.
	e := newEnv(t, true, withProject(config.Project{ID: pid}), defaultMgmtKeys())
	raceEraseVerify(t, e, e, 40, 10)
	raceEraseVerify(t, e, e, 20, 1)
}

// stagger delays one side of round r's race, so that over the rounds the
// verify lands before, between and after the delete's steps.
func stagger(r int) time.Duration { return time.Duration(r/2%6) * 300 * time.Microsecond }

// raceEraseVerify runs the rounds: e deletes, v (e, or another otpd on the
// same Redis) verifies.
func raceEraseVerify(t *testing.T, e, v *env, rounds, loginIDs int) {
	t.Helper()
	both, refused := 0, 0
	for r := range rounds {
		round := loginIDs*1000 + r
		u := e.eraseUser(round, loginIDs)
		// A sign-in code for one of the login ids (the middle one).
		id := u.loginIDs[len(u.loginIDs)/2]
		if s, b := e.post("/v1/auth/otp/signin/email", fmt.Sprintf(`{"loginId":%q}`, id)); s != 200 {
			t.Fatalf("start: %d %v", s, b)
		}
		code := e.code(u.email)
		var wg sync.WaitGroup
		start := make(chan struct{})
		var delStatus, verStatus int
		var delBody, verBody map[string]any
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			if r%2 == 1 {
				time.Sleep(stagger(r))
			}
			delStatus, delBody = e.do("POST", "/v1/mgmt/user/delete", fmt.Sprintf(`{"userId":%q}`, u.uid), "Bearer "+e.project+":"+mgmtKey)
		}()
		go func() {
			defer wg.Done()
			<-start
			if r%2 == 0 {
				time.Sleep(stagger(r))
			}
			verStatus, verBody = v.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, code))
		}()
		close(start)
		wg.Wait()
		if delStatus != 200 {
			t.Fatalf("round %d: delete: %d %v", round, delStatus, delBody)
		}
		if verStatus == 200 {
			both++
			if s, b := e.do("POST", "/v1/auth/refresh", "{}", e.bearer(verBody["refreshJwt"])); s != 401 {
				t.Errorf("round %d: the racing verify's refresh JWT works after the delete: %d %s", round, s, errCodeOf(b))
			}
			if s, b := e.do("GET", "/v1/auth/me", "", e.bearer(verBody["refreshJwt"])); s != 401 {
				t.Errorf("round %d: me with the racing verify's refresh JWT after the delete: %d %s", round, s, errCodeOf(b))
			}
		} else if verStatus == 400 || verStatus == 401 || verStatus == 404 {
			refused++
		} else {
			t.Errorf("round %d: the racing verify answered %d %v (want 200 or a refusal)", round, verStatus, verBody)
		}
		e.erasedEverywhere(t, round, u)
	}
	t.Logf("%d login ids: of %d rounds, the verify answered 200 in %d, was refused in %d", loginIDs, rounds, both, refused)
}

// TestClusterEraseRacingVerify: the same race on a real 3+3 Redis Cluster,
// the delete on one otpd and the verify on another. A user created by the
// management API lives on the slot of its first login id; its other login
// ids are on other slots, so a verify by one of them runs its login in a
// second script on the user's slot: the case where no transaction spans
// the user's keys and its login ids.
func TestClusterEraseRacingVerify(t *testing.T) {
	t.Parallel()
	pair := newClusterPair(t, defaultMgmtKeys())
	raceEraseVerify(t, pair.a, pair.b, 16, 10)
}
