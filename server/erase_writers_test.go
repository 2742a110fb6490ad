package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/store"
)

// Issue 19 §2, continued: every other writer of a user's keys or login
// ids racing a delete (helpers in erase_test.go).

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
			// Keys of the project only: the worker's queue shards and the
			// health probe's key appear in the background.
			if !before[k] && strings.Contains(k, pid) && !strings.HasSuffix(k, ":erased") && !strings.Contains(k, "}:rl:") && !strings.Contains(k, ":ix:") {
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

// TestEraseRetryFinishes: a delete that failed part-way (its 503 is safe
// to retry, and the SDKs retry it) is finished by the retry, by user id
// or by the login id it named, though the record is gone; a delete of a
// user erased before is 404.
func TestEraseRetryFinishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, withProject(config.Project{ID: pid}), defaultMgmtKeys())
	st := store.NewRedisStore(e.redis)
	ctx := context.Background()
	for r, by := range []string{"userId", "loginId"} {
		round := 80000 + r
		u := e.eraseUser(round, 10)
		// The first try: its first step only (by user id), or every step
		// but the last unbind of the login id it named.
		if _, err := st.EraseUser(ctx, pid, u.uid, by == "loginId"); err != nil {
			t.Fatal(err)
		}
		ref := fmt.Sprintf(`{"userId":%q}`, u.uid)
		if by == "loginId" {
			for _, id := range u.loginIDs[1:] {
				if err := st.UnbindLoginID(ctx, pid, id, u.uid); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Unindex(ctx, pid, u.uid); err != nil {
				t.Fatal(err)
			}
			if err := st.FinishErase(ctx, pid, u.uid); err != nil {
				t.Fatal(err)
			}
			ref = fmt.Sprintf(`{"loginId":%q}`, u.loginIDs[0])
		}
		if s, b := e.mgmt("POST", "/v1/mgmt/user/delete", ref); s != 200 {
			t.Fatalf("retry by %s: %d %v", by, s, b)
		}
		e.erasedEverywhere(t, round, u)
		if s, b := e.mgmt("POST", "/v1/mgmt/user/delete", fmt.Sprintf(`{"userId":%q}`, u.uid)); s != 404 || errCodeOf(b) != "E112102" {
			t.Fatalf("delete of an erased user: %d %v", s, b)
		}
	}
}
