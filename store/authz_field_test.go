package store

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestParseUserAuthzMatchesEncodingJSON: the reflection-free reader of a
// user's "authz" field gives what encoding/json gives, for every field
// UserAuthz.Field writes (tenant ids with quotes, backslashes, HTML
// characters and non-ASCII included), and refuses what encoding/json
// refuses.
func TestParseUserAuthzMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	ids := []string{"acme", "t-1", `q"uote`, `back\slash`, "<b>&", "ünï", "T2abcdefghijklmnopqrstuvwxyz", "tab\there"}
	for range 2000 {
		var a UserAuthz
		for range rng.IntN(4) {
			a.Roles = append(a.Roles, rng.Int64N(1<<40))
		}
		for range rng.IntN(4) {
			m := Membership{TenantID: ids[rng.IntN(len(ids))], Incarnation: rng.Int64N(1 << 40)}
			for range rng.IntN(3) {
				m.Roles = append(m.Roles, rng.Int64N(1000))
			}
			a.Tenants = append(a.Tenants, m)
		}
		f := a.Field()
		got, err := parseUserAuthz(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var want UserAuthz
		if f != "" {
			if err := json.Unmarshal([]byte(f), &want); err != nil {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", f, got, want)
		}
	}
	// Another writer's order or spacing: encoding/json reads it.
	got, err := parseUserAuthz(`{ "t": [{"r":[3],"s":2,"i":"x"}], "r": [1] }`)
	if err != nil || !reflect.DeepEqual(got, UserAuthz{Roles: []int64{1}, Tenants: []Membership{{TenantID: "x", Incarnation: 2, Roles: []int64{3}}}}) {
		t.Fatalf("other order: %+v %v", got, err)
	}
	for _, bad := range []string{`{"r":[1,`, `{"r":["x"]}`, `{"r":[1]}x`, `[`, `{"t":[{"i":"a","s":1}]`} {
		if _, err := parseUserAuthz(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// BenchmarkParseUserAuthz: reading the field of issue 21's benchmark user
// (5 roles, 3 tenants of 2 roles), without reflection and with it.
func BenchmarkParseUserAuthz(b *testing.B) {
	a := UserAuthz{Roles: []int64{1, 2, 3, 4, 5}}
	for i := range 3 {
		a.Tenants = append(a.Tenants, Membership{TenantID: "tenant-" + string(rune('0'+i)), Incarnation: int64(6 + i), Roles: []int64{int64(i + 1), int64(i + 2)}})
	}
	f := a.Field()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseUserAuthz(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var u UserAuthz
			if err := json.Unmarshal([]byte(f), &u); err != nil {
				b.Fatal(err)
			}
		}
	})
}
