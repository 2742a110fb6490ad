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
	raceEraseVerify(t, e, e, 24, 10)
	raceEraseVerify(t, e, e, 12, 1)
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

// TestEraseRacingEveryWriter: a delete (by user id, or by login id) racing
// at once everything else that writes a user's keys or binds its login
// ids: a sign-in verify, an update-email verify that adds the new address
// as a login id, a refresh, and management writes (a login id replaced, a
// patch). Whatever answered 200, nothing of the user is left after the
// delete's 200, and no token of a racer works.
func TestEraseRacingEveryWriter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, withProject(config.Project{ID: pid}), defaultMgmtKeys())
	const rounds = 20
	wins := map[string]int{}
	for r := range rounds {
		round := 50000 + r
		u := e.eraseUser(round, 10)
		signin := u.loginIDs[5]
		if s, b := e.post("/v1/auth/otp/signin/email", fmt.Sprintf(`{"loginId":%q}`, signin)); s != 200 {
			t.Fatalf("start: %d %v", s, b)
		}
		signinCode := e.code(u.email)
		newAddr := fmt.Sprintf("r%d-new@erase.test", round)
		if s, b := e.do("POST", "/v1/auth/otp/update/email", fmt.Sprintf(`{"loginId":%q,"email":%q,"addToLoginIDs":true}`, u.loginIDs[2], newAddr), e.bearer(u.refresh)); s != 200 {
			t.Fatalf("update start: %d %v", s, b)
		}
		updateCode := e.code(newAddr)
		del := fmt.Sprintf(`{"userId":%q}`, u.uid)
		if r%2 == 1 {
			del = fmt.Sprintf(`{"loginId":%q}`, u.loginIDs[0])
		}
		type result struct {
			status int
			body   map[string]any
		}
		mk := mgmtAuth(e)
		racers := map[string]func() (int, map[string]any){
			"delete": func() (int, map[string]any) { return e.do("POST", "/v1/mgmt/user/delete", del, mk) },
			"verify": func() (int, map[string]any) {
				return e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, signin, signinCode))
			},
			"update": func() (int, map[string]any) {
				return e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, u.loginIDs[2], updateCode))
			},
			"refresh": func() (int, map[string]any) { return e.do("POST", "/v1/auth/refresh", "{}", e.bearer(u.refresh)) },
			"loginid": func() (int, map[string]any) {
				return e.do("POST", "/v1/mgmt/user/update/loginid", fmt.Sprintf(`{"loginId":%q,"newLoginId":"r%d-mgmt@erase.test"}`, u.loginIDs[9], round), mk)
			},
			"patch": func() (int, map[string]any) {
				return e.do("PATCH", "/v1/mgmt/user/patch", fmt.Sprintf(`{"loginId":%q,"givenName":"Racer"}`, u.loginIDs[1]), mk)
			},
		}
		results := map[string]result{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		i := 0
		for name, call := range racers {
			i++
			wg.Add(1)
			delay := time.Duration((r*7+i*3)%6) * 250 * time.Microsecond
			if name == "delete" {
				// The update verify takes a dozen round trips: a delete
				// held back up to 5 ms lands in every one of its steps.
				delay = time.Duration(r%11) * 500 * time.Microsecond
			}
			go func() {
				defer wg.Done()
				<-start
				time.Sleep(delay)
				s, b := call()
				mu.Lock()
				results[name] = result{s, b}
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		if d := results["delete"]; d.status != 200 {
			t.Fatalf("round %d: delete: %d %v", round, d.status, d.body)
		}
		for name, res := range results {
			if res.status == 200 {
				wins[name]++
			} else if res.status >= 500 {
				t.Errorf("round %d: %s answered %d %s", round, name, res.status, errCodeOf(res.body))
			}
			if tok, ok := res.body["refreshJwt"].(string); ok && tok != "" {
				if s, b := e.do("POST", "/v1/auth/refresh", "{}", e.bearer(tok)); s != 401 {
					t.Errorf("round %d: the refresh JWT %s got works after the delete: %d %s", round, name, s, errCodeOf(b))
				}
			}
		}
		e.erasedEverywhere(t, round, u)
	}
	t.Logf("racers that answered 200, of %d rounds: %v", rounds, wins)
}

func mgmtAuth(e *env) string { return "Bearer " + e.project + ":" + mgmtKey }

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

// TestEraseRacingCreate: a delete by login id racing the management
// create of that user (which binds the login ids, then writes the record).
// When the delete answered 200, the create either finished before it or
// fails, and nothing of the user is left: no record written after the
// erasure, no login id left bound.
func TestEraseRacingCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, withProject(config.Project{ID: pid}), defaultMgmtKeys())
	mk := mgmtAuth(e)
	const rounds = 24
	erased := 0
	for r := range rounds {
		round := 60000 + r
		before := map[string]bool{}
		for _, k := range e.allKeys() {
			before[k] = true
		}
		var ids []string
		for i := range 10 {
			ids = append(ids, fmt.Sprintf(`"r%d-%d@erase.test"`, round, i))
		}
		create := fmt.Sprintf(`{"loginId":%s,"additionalLoginIds":[%s],"email":"r%d-0@erase.test","verifiedEmail":true}`,
			ids[0], strings.Join(ids[1:], ","), round)
		var cs, ds int
		var cb map[string]any
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			cs, cb = e.do("POST", "/v1/mgmt/user/create", create, mk)
		}()
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(time.Duration(r%12) * 50 * time.Microsecond)
			// The first login id: bound first by the create, nine binds
			// before the record is written.
			ds, _ = e.do("POST", "/v1/mgmt/user/delete", fmt.Sprintf(`{"loginId":%s}`, ids[0]), mk)
		}()
		close(start)
		wg.Wait()
		if ds != 200 {
			// The delete came before the login id was bound: nothing was
			// promised. Clean up for the next round.
			if cs == 200 {
				e.mustMgmt("POST", "/v1/mgmt/user/delete", fmt.Sprintf(`{"userId":%q}`, userOf(t, cb)["userId"]))
			}
			continue
		}
		erased++
		if cs == 200 {
			if s, b := e.mgmt("GET", "/v1/mgmt/user?userId="+userOf(t, cb)["userId"].(string), ""); s != 404 {
				t.Errorf("round %d: the user created then deleted is back: %d %v", round, s, b)
			}
		} else if cs >= 500 {
			t.Errorf("round %d: create answered %d %v", round, cs, cb)
		}
		for _, k := range e.allKeys() {
			if !before[k] && !strings.HasSuffix(k, ":erased") && !strings.Contains(k, "}:rl:") && !strings.Contains(k, ":ix:") {
				t.Errorf("round %d: key %s left after the delete answered 200", round, k)
			}
		}
		for i := range 10 {
			if s, _ := e.mgmt("GET", fmt.Sprintf("/v1/mgmt/user?loginId=r%d-%d@erase.test", round, i), ""); s != 404 {
				t.Errorf("round %d: login id %d still loads a user: %d", round, i, s)
			}
		}
	}
	t.Logf("the delete answered 200 in %d of %d rounds", erased, rounds)
}

// TestEraseTestUsersRacingVerify: "delete all test users" racing a
// verify by a test user's login id (the app's test suite signing in while
// another run cleans up).
func TestEraseTestUsersRacingVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, withProject(config.Project{ID: pid}), defaultMgmtKeys())
	mk := mgmtAuth(e)
	for r := range 12 {
		round := 70000 + r
		var ids []string
		for i := range 10 {
			ids = append(ids, fmt.Sprintf(`"r%d-%d@erase.test"`, round, i))
		}
		c := userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/create/test", fmt.Sprintf(
			`{"loginId":%s,"additionalLoginIds":[%s],"email":"r%d-0@erase.test","verifiedEmail":true}`, ids[0], strings.Join(ids[1:], ","), round)))
		u := eraseUser{uid: c["userId"].(string)}
		id := fmt.Sprintf("r%d-5@erase.test", round)
		b := e.mustMgmt("POST", "/v1/mgmt/tests/generate/otp", fmt.Sprintf(`{"deliveryMethod":"email","loginId":%q}`, id))
		first := e.post2xx("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, b["code"]))
		u.refresh = first["refreshJwt"].(string)
		b = e.mustMgmt("POST", "/v1/mgmt/tests/generate/otp", fmt.Sprintf(`{"deliveryMethod":"email","loginId":%q}`, id))
		var ds, vs int
		var vb map[string]any
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			ds, _ = e.do("DELETE", "/v1/mgmt/user/test/delete/all", "", mk)
		}()
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(stagger(r))
			vs, vb = e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":%q,"code":%q}`, id, b["code"]))
		}()
		close(start)
		wg.Wait()
		if ds != 200 {
			t.Fatalf("round %d: delete all test users: %d", round, ds)
		}
		if vs == 200 {
			if s, _ := e.do("POST", "/v1/auth/refresh", "{}", e.bearer(vb["refreshJwt"])); s != 401 {
				t.Errorf("round %d: the racing verify's refresh JWT works after the delete: %d", round, s)
			}
		}
		e.erasedEverywhere(t, round, u)
	}
}
