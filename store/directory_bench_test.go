package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
)

// BenchmarkReadSearchCandidates reads 10,000 user records (mgmt's
// MaxCandidates: the most a search reads one by one) from a real
// redis-server in one call of Users, as such a search does. Reports the
// time and Go allocation of one read and the reply bytes per record.
func BenchmarkReadSearchCandidates(b *testing.B) {
	_, c := testredis.Real(b)
	ctx := context.Background()
	s := store.NewRedisStore(c)
	const n = 10000
	ids := make([]string, n)
	now := time.Now()
	for i := range n {
		u := store.User{UserID: fmt.Sprintf("U2bench%06d", i), LoginIDs: []string{fmt.Sprintf("user%06d@example.com", i)},
			Email: fmt.Sprintf("user%06d@example.com", i), VerifiedEmail: true, Phone: "+14155550100", Status: "enabled",
			Profile: store.Profile{Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace"}, CreatedTime: now, ModifiedTime: now,
			CustomAttributes: map[string]any{"plan": "pro"}}
		if _, err := s.WriteUser(ctx, "P", u.UserID, store.UserWrite{Create: true, Set: store.UserFields(u)}); err != nil {
			b.Fatal(err)
		}
		ids[i] = u.UserID
	}
	var bytes int
	for _, v := range c.HGetAll(ctx, store.UserKey("P", ids[0])).Val() {
		bytes += len(v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		us, err := s.Users(ctx, "P", ids)
		if err != nil || len(us) != n {
			b.Fatalf("%d users, %v", len(us), err)
		}
	}
	b.ReportMetric(float64(bytes), "record-bytes")
}
