package mgmt

import (
	"context"
	"slices"

	"github.com/otpd/otpd/address"
	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
)

// Query is a user search. Filters of different fields combine with AND,
// values of one filter with OR. Test users are left out unless WithTest or
// TestOnly is set (Descope's default).
type Query struct {
	// Limit is the page size (0: MaxPageSize; larger values are cut to
	// it); Page is zero-based.
	Limit, Page int
	TestOnly    bool
	WithTest    bool
	Statuses    []string
	Emails      []string
	Phones      []string
	LoginIDs    []string
	// RoleNames and TenantIDs keep users holding any of those project
	// roles / a member of any of those tenants (authz_users.go); they
	// narrow an address or login-id search.
	RoleNames, TenantIDs []string
}

// Search returns one page of matching users, oldest first, and the number
// of matches. Without address or login-id filters it pages the project's
// (test, status) indexes; with them it starts from the exact-match indexes.
// Either way it never scans the keyspace, and every candidate's record is
// re-checked against the filters.
func (s *Service) Search(ctx context.Context, p *flow.Project, q Query) ([]store.User, int, error) {
	if q.Limit <= 0 || q.Limit > MaxPageSize {
		q.Limit = MaxPageSize
	}
	if q.Page < 0 || q.Page*q.Limit > MaxSearchOffset {
		return nil, 0, apierr.ErrValidation.With("page*limit may not exceed %d: narrow the search", MaxSearchOffset)
	}
	for _, l := range [][]string{q.Statuses, q.Emails, q.Phones, q.LoginIDs} {
		if len(l) > MaxBatch {
			return nil, 0, apierr.ErrValidation.With("At most %d values per search filter", MaxBatch)
		}
	}
	enabled, disabled := len(q.Statuses) == 0, len(q.Statuses) == 0
	for _, st := range q.Statuses {
		switch st {
		case "enabled":
			enabled = true
		case store.StatusDisabled:
			disabled = true
		case "invited":
			// otpd sends no invitations: no user is ever invited.
		default:
			return nil, 0, apierr.ErrInvalidArgument.With("Unknown status %q", st)
		}
	}
	var sets []store.IndexSet
	for _, test := range []bool{false, true} {
		if (test && !q.TestOnly && !q.WithTest) || (!test && q.TestOnly) {
			continue
		}
		if enabled {
			sets = append(sets, store.IndexSet{Test: test})
		}
		if disabled {
			sets = append(sets, store.IndexSet{Test: test, Disabled: true})
		}
	}
	f, err := s.filters(p, q)
	if err != nil {
		return nil, 0, err
	}
	authzMatch, authzFailed, err := s.authzFilter(ctx, p, q, f.empty())
	if err != nil {
		return nil, 0, err
	}
	if f.empty() {
		ids, total, err := s.st.Page(ctx, p.ID, sets, q.Page*q.Limit, q.Limit)
		if err != nil {
			return nil, 0, storeErr(err)
		}
		users, err := s.st.Users(ctx, p.ID, ids)
		if err != nil {
			return nil, 0, storeErr(err)
		}
		s.dropStale(ctx, p, ids, users)
		return users, total, nil
	}
	cands, err := s.candidates(ctx, p, f)
	if err != nil {
		return nil, 0, err
	}
	users, err := s.st.Users(ctx, p.ID, cands)
	if err != nil {
		return nil, 0, storeErr(err)
	}
	var match []store.User
	for _, u := range users {
		if f.match(u) && slices.ContainsFunc(sets, func(k store.IndexSet) bool {
			return k.Test == u.Test && k.Disabled == (u.Status == store.StatusDisabled)
		}) && authzMatch(u) {
			match = append(match, u)
		}
	}
	if err := authzFailed(); err != nil {
		return nil, 0, err // a candidate's roles could not be read: no partial answer
	}
	slices.SortFunc(match, func(a, b store.User) int {
		if c := a.CreatedTime.Compare(b.CreatedTime); c != 0 {
			return c
		}
		if a.UserID < b.UserID {
			return -1
		}
		return 1
	})
	from := min(q.Page*q.Limit, len(match))
	return match[from:min(from+q.Limit, len(match))], len(match), nil
}

type filters struct{ emails, phones, loginIDs []string }

func (f filters) empty() bool { return len(f.emails)+len(f.phones)+len(f.loginIDs) == 0 }

func (f filters) match(u store.User) bool {
	if len(f.emails) > 0 && !slices.Contains(f.emails, u.Email) {
		return false
	}
	if len(f.phones) > 0 && !slices.Contains(f.phones, u.Phone) {
		return false
	}
	if len(f.loginIDs) > 0 && !slices.ContainsFunc(u.LoginIDs, func(id string) bool { return slices.Contains(f.loginIDs, id) }) {
		return false
	}
	return true
}

func (s *Service) filters(p *flow.Project, q Query) (filters, error) {
	var f filters
	for _, e := range q.Emails {
		n, err := address.NormalizeEmail(e)
		if err != nil {
			return f, apierr.ErrInvalidArgument.With("Search: %q is not an email address", e)
		}
		f.emails = append(f.emails, n)
	}
	for _, ph := range q.Phones {
		n, err := address.NormalizePhone(ph, p.DefaultPhoneRegion)
		if err != nil {
			return f, apierr.ErrInvalidArgument.With("Search: %q is not a phone number", ph)
		}
		f.phones = append(f.phones, n)
	}
	for _, id := range q.LoginIDs {
		n, err := s.loginID(p, id)
		if err != nil {
			return f, err
		}
		f.loginIDs = append(f.loginIDs, n)
	}
	return f, nil
}

// candidates reads the user ids of the most selective filter given.
func (s *Service) candidates(ctx context.Context, p *flow.Project, f filters) ([]string, error) {
	switch {
	case len(f.loginIDs) > 0:
		var ids []string
		for _, l := range f.loginIDs {
			uid, err := s.st.LoginOwner(ctx, p.ID, l)
			if err != nil {
				return nil, storeErr(err)
			}
			if uid != "" && !slices.Contains(ids, uid) {
				ids = append(ids, uid)
			}
		}
		return ids, nil
	case len(f.emails) > 0:
		ids, err := s.st.Lookup(ctx, p.ID, store.ContactEmail, f.emails)
		return ids, storeErr(err)
	default:
		ids, err := s.st.Lookup(ctx, p.ID, store.ContactPhone, f.phones)
		return ids, storeErr(err)
	}
}

// dropStale removes index entries of users whose record is gone (a user
// merged away by an update flow, or a crash between two steps of a
// delete), so the next page and total are right.
func (s *Service) dropStale(ctx context.Context, p *flow.Project, ids []string, users []store.User) {
	if len(users) == len(ids) {
		return
	}
	have := make(map[string]bool, len(users))
	for _, u := range users {
		have[u.UserID] = true
	}
	for _, id := range ids {
		if !have[id] {
			if err := s.st.Unindex(ctx, p.ID, id); err != nil {
				s.log.WarnContext(ctx, "stale index entry not removed", "project", p.ID, "user", id, "error", err)
			}
		}
	}
}
