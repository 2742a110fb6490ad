package mgmt

import (
	"context"
	"slices"
	"strings"
	"time"

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
	UserIDs     []string
	// Created and modified time bounds, Unix ms, inclusive; 0: none.
	FromCreated, ToCreated   int64
	FromModified, ToModified int64
	// VerifiedEmail and VerifiedPhone, when set, must match.
	VerifiedEmail, VerifiedPhone *bool
	// Sort keys, in order; none: created time, oldest first.
	Sort []SortKey
	// RoleNames and TenantIDs keep users holding any of those project
	// roles / a member of any of those tenants (authz_users.go); alone,
	// their holders are the candidates (authz_index.go).
	RoleNames, TenantIDs []string
}

// SortKey is one key of a search's order.
type SortKey struct {
	Field string
	Desc  bool
}

// sortFields are the fields a search sorts by, with how to compare two
// users by each.
var sortFields = map[string]func(a, b store.User) int{
	"createdTime":  func(a, b store.User) int { return a.CreatedTime.Compare(b.CreatedTime) },
	"modifiedTime": func(a, b store.User) int { return a.Modified().Compare(b.Modified()) },
	"userId":       func(a, b store.User) int { return strings.Compare(a.UserID, b.UserID) },
	"loginId":      func(a, b store.User) int { return strings.Compare(first(a.LoginIDs), first(b.LoginIDs)) },
	"email":        func(a, b store.User) int { return strings.Compare(a.Email, b.Email) },
	"phone":        func(a, b store.User) int { return strings.Compare(a.Phone, b.Phone) },
	"name":         func(a, b store.User) int { return strings.Compare(a.Name, b.Name) },
	"displayName":  func(a, b store.User) int { return strings.Compare(a.Name, b.Name) },
	"givenName":    func(a, b store.User) int { return strings.Compare(a.GivenName, b.GivenName) },
	"middleName":   func(a, b store.User) int { return strings.Compare(a.MiddleName, b.MiddleName) },
	"familyName":   func(a, b store.User) int { return strings.Compare(a.FamilyName, b.FamilyName) },
	"status":       func(a, b store.User) int { return strings.Compare(a.Status, b.Status) },
}

// maxSortKeys bounds the sort keys of one search.
const maxSortKeys = 5

func first(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// Search returns one page of matching users and the number of matches,
// oldest first unless Sort says otherwise.
//
// A search filtered at most by test flag, status and created time, in
// created-time order, pages the project's (test, status) indexes by score.
// A search with id, login id, email or phone filters starts from the
// exact-match indexes; any other (modified time, verified flags, another
// sort) reads the users of the created-time range, at most MaxCandidates,
// and is refused when the range holds more. Either way it never scans
// the keyspace, and every candidate's record is re-checked against the
// filters.
func (s *Service) Search(ctx context.Context, p *flow.Project, q Query) ([]store.User, int, error) {
	if q.Limit <= 0 || q.Limit > MaxPageSize {
		q.Limit = MaxPageSize
	}
	if q.Page < 0 || q.Page*q.Limit > MaxSearchOffset {
		return nil, 0, apierr.ErrValidation.With("page*limit may not exceed %d: narrow the search", MaxSearchOffset)
	}
	if err := checkQuery(q); err != nil {
		return nil, 0, err
	}
	sets, err := indexSets(q)
	if err != nil {
		return nil, 0, err
	}
	f, err := s.filters(p, q)
	if err != nil {
		return nil, 0, err
	}
	authzMatch, authzFailed, err := s.authzFilter(ctx, p, q)
	if err != nil {
		return nil, 0, err
	}
	byAuthz := len(q.RoleNames)+len(q.TenantIDs) > 0
	rng := store.PageRange{From: msTime(q.FromCreated), To: msTime(q.ToCreated)}
	if f.indexed() && byCreated(q.Sort) && !byAuthz {
		rng.Offset, rng.Count = q.Page*q.Limit, q.Limit
		rng.Desc = len(q.Sort) == 1 && q.Sort[0].Desc
		ids, total, err := s.st.PageRange(ctx, p.ID, sets, rng)
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
	var cands []string
	switch {
	case f.bounded():
		if cands, err = s.candidates(ctx, p, f); err != nil {
			return nil, 0, err
		}
	case byAuthz:
		// The holders of the roles or tenants asked for (a superset).
		if cands, err = s.authzCandidates(ctx, p, q); err != nil {
			return nil, 0, err
		}
	default:
		// No exact-match filter: every user of the created-time range is a
		// candidate. Read one more than allowed to tell "too many".
		rng.Count = MaxCandidates + 1
		ids, total, err := s.st.PageRange(ctx, p.ID, sets, rng)
		if err != nil {
			return nil, 0, storeErr(err)
		}
		if total > MaxCandidates {
			return nil, 0, apierr.ErrValidation.With("%s: this search reads each of the %d users created in the range asked for, more than %d: "+
				"narrow it with fromCreatedTime/toCreatedTime, or filter by userIds, loginIds, emails or phones", f.scanReason(q), total, MaxCandidates)
		}
		cands = ids
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
		for _, k := range q.Sort {
			c := sortFields[k.Field](a, b)
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		if c := a.CreatedTime.Compare(b.CreatedTime); c != 0 {
			return c
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	from := min(q.Page*q.Limit, len(match))
	return match[from:min(from+q.Limit, len(match))], len(match), nil
}

// checkQuery refuses bad values before any read.
func checkQuery(q Query) error {
	for _, l := range [][]string{q.Statuses, q.Emails, q.Phones, q.LoginIDs, q.UserIDs} {
		if len(l) > MaxBatch {
			return apierr.ErrValidation.With("At most %d values per search filter", MaxBatch)
		}
	}
	for _, id := range q.UserIDs {
		if id == "" || len(id) > maxField {
			return apierr.ErrInvalidArgument.With("userIds: %d-byte value is not a user id", len(id))
		}
	}
	for name, v := range map[string]int64{"fromCreatedTime": q.FromCreated, "toCreatedTime": q.ToCreated,
		"fromModifiedTime": q.FromModified, "toModifiedTime": q.ToModified} {
		if v < 0 || v > maxTimeMs {
			return apierr.ErrInvalidArgument.With("%s must be Unix milliseconds (0 for none)", name)
		}
	}
	if len(q.Sort) > maxSortKeys {
		return apierr.ErrValidation.With("At most %d sort keys", maxSortKeys)
	}
	for _, k := range q.Sort {
		if sortFields[k.Field] == nil {
			return apierr.ErrValidation.With("sort.field %q is not supported: otpd sorts by createdTime, modifiedTime, userId, loginId, "+
				"email, phone, name, givenName, middleName, familyName or status", truncate(k.Field, 64))
		}
	}
	return nil
}

// maxTimeMs is the year 9999 in Unix ms: beyond it a value is not a time.
const maxTimeMs = 253402300799999

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// byCreated: the order is the index's (created time, either direction).
func byCreated(keys []SortKey) bool {
	return len(keys) == 0 || (len(keys) == 1 && keys[0].Field == "createdTime")
}

// indexSets are the (test, status) index sets the query reads.
func indexSets(q Query) ([]store.IndexSet, error) {
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
			return nil, apierr.ErrInvalidArgument.With("Unknown status %q", truncate(st, 64))
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
	return sets, nil
}

type filters struct {
	emails, phones, loginIDs, userIDs []string
	fromCreated, toCreated            int64
	fromModified, toModified          int64
	verifiedEmail, verifiedPhone      *bool
}

// bounded: an exact-match filter names the candidates.
func (f filters) bounded() bool {
	return len(f.emails)+len(f.phones)+len(f.loginIDs)+len(f.userIDs) > 0
}

// indexed: the index sets and their created-time scores answer alone.
func (f filters) indexed() bool {
	return !f.bounded() && f.fromModified == 0 && f.toModified == 0 && f.verifiedEmail == nil && f.verifiedPhone == nil
}

// scanReason names what made a search read users one by one.
func (f filters) scanReason(q Query) string {
	switch {
	case f.fromModified != 0:
		return "fromModifiedTime"
	case f.toModified != 0:
		return "toModifiedTime"
	case f.verifiedEmail != nil:
		return "verifiedEmail"
	case f.verifiedPhone != nil:
		return "verifiedPhone"
	case len(q.Sort) > 0:
		return "sort"
	}
	return "search"
}

func inRange(t time.Time, from, to int64) bool {
	ms := t.UnixMilli()
	return (from == 0 || ms >= from) && (to == 0 || ms <= to)
}

func (f filters) match(u store.User) bool {
	switch {
	case len(f.userIDs) > 0 && !slices.Contains(f.userIDs, u.UserID),
		len(f.emails) > 0 && !slices.Contains(f.emails, u.Email),
		len(f.phones) > 0 && !slices.Contains(f.phones, u.Phone),
		len(f.loginIDs) > 0 && !slices.ContainsFunc(u.LoginIDs, func(id string) bool { return slices.Contains(f.loginIDs, id) }),
		!inRange(u.CreatedTime, f.fromCreated, f.toCreated),
		!inRange(u.Modified(), f.fromModified, f.toModified),
		f.verifiedEmail != nil && u.VerifiedEmail != *f.verifiedEmail,
		f.verifiedPhone != nil && u.VerifiedPhone != *f.verifiedPhone:
		return false
	}
	return true
}

func (s *Service) filters(p *flow.Project, q Query) (filters, error) {
	f := filters{userIDs: q.UserIDs, fromCreated: q.FromCreated, toCreated: q.ToCreated,
		fromModified: q.FromModified, toModified: q.ToModified, verifiedEmail: q.VerifiedEmail, verifiedPhone: q.VerifiedPhone}
	for _, e := range q.Emails {
		n, err := address.NormalizeEmail(e)
		if err != nil {
			return f, apierr.ErrInvalidArgument.With("Search: %q is not an email address", truncate(e, 64))
		}
		f.emails = append(f.emails, n)
	}
	for _, ph := range q.Phones {
		n, err := address.NormalizePhone(ph, p.DefaultPhoneRegion)
		if err != nil {
			return f, apierr.ErrInvalidArgument.With("Search: %q is not a phone number", truncate(ph, 64))
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

// candidates reads the user ids of the most selective filter given. An
// email or phone held by more than MaxCandidates users is refused rather
// than cut short.
func (s *Service) candidates(ctx context.Context, p *flow.Project, f filters) ([]string, error) {
	switch {
	case len(f.userIDs) > 0:
		return f.userIDs, nil
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
	}
	c, values, field := store.ContactEmail, f.emails, "emails"
	if len(f.emails) == 0 {
		c, values, field = store.ContactPhone, f.phones, "phones"
	}
	ids, err := s.st.Lookup(ctx, p.ID, c, values, MaxCandidates+1)
	if err != nil {
		return nil, storeErr(err)
	}
	if len(ids) > MaxCandidates {
		return nil, apierr.ErrValidation.With("%s: more than %d users hold the values asked for: "+
			"narrow the search with fromCreatedTime/toCreatedTime, userIds or loginIds", field, MaxCandidates)
	}
	return ids, nil
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
