package mgmt

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/otpd/otpd/address"
	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
)

// Limits on what one call may carry or cost.
const (
	// MaxLoginIDs a user may have (the login id plus additional ones).
	MaxLoginIDs = 10
	// MaxBatch bounds a batch load, a history call and each search filter list.
	MaxBatch = 100
	// MaxPageSize is the largest search page (also the default).
	MaxPageSize = 100
	// MaxSearchOffset bounds page*limit: paging costs grow with the offset.
	MaxSearchOffset = 10000
	// MaxCandidates bounds the users a search reads one by one (the
	// holders of the emails or phones asked for, or the created-time
	// range of a search by modified time, verified flags or another
	// sort); a search that would read more is refused, never cut short.
	MaxCandidates = 10000
	// MaxDeleteTestUsers bounds one "delete all test users" call; call again
	// for more.
	MaxDeleteTestUsers = 10000
	// maxField bounds a name field (bytes); maxPicture a picture URL.
	maxField   = 256
	maxPicture = 2048
	// maxAttributes bounds custom attributes: keys, key length, JSON size,
	// and nesting (objects and arrays within the attributes' object: a
	// tenant's record is decoded by Redis' cjson, which fails past 1000).
	maxAttributes      = 50
	maxAttributeKey    = 64
	maxAttributesJSON  = 8 << 10
	maxAttributesDepth = 32
	// writeRetries bounds read-modify-write retries on a concurrent change.
	writeRetries = 3
)

// TestCoder stores a live code for a login id without sending it (the
// flow engine).
type TestCoder interface {
	TestCode(ctx context.Context, p *flow.Project, ch flow.Channel, loginID string, o flow.TestCodeOptions) (string, error)
}

// Service runs the management API's user operations.
type Service struct {
	st    store.Directory
	codes TestCoder
	clock clock.Clock
	rand  io.Reader
	log   *slog.Logger
}

// New returns a Service.
func New(st store.Directory, codes TestCoder, clk clock.Clock, random io.Reader, log *slog.Logger) *Service {
	return &Service{st: st, codes: codes, clock: clk, rand: random, log: log}
}

// UserInput is a whole user, as create and update carry it.
type UserInput struct {
	LoginID            string
	AdditionalLoginIDs []string
	Email, Phone       string
	VerifiedEmail      bool
	VerifiedPhone      bool
	Name, GivenName    string
	MiddleName         string
	FamilyName         string
	Picture            string
	CustomAttributes   map[string]any
	Test               bool
	// Status is "enabled" (default) or "disabled".
	Status string
	// Assignments are the user's roles and tenants (by name).
	Assignments Assignments
}

// Ref names a user by login id or user id.
type Ref struct{ LoginID, UserID string }

func storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNoUser):
		return apierr.ErrMgmtUserNotFound
	case errors.Is(err, store.ErrErased):
		return apierr.ErrMgmtUserNotFound.With("The user was deleted while it was being written")
	case errors.Is(err, store.ErrUnavailable):
		return errors.Join(apierr.ErrUnavailable, err)
	}
	return err
}

func (s *Service) loginID(p *flow.Project, raw string) (string, error) {
	return flow.CanonicalLoginID(raw, p.DefaultPhoneRegion)
}

// resolve finds the user id of a ref.
func (s *Service) resolve(ctx context.Context, p *flow.Project, r Ref) (string, error) {
	if r.UserID != "" {
		if len(r.UserID) > maxField {
			return "", apierr.ErrInvalidArgument.With("The userId is not valid")
		}
		return r.UserID, nil
	}
	if strings.TrimSpace(r.LoginID) == "" {
		return "", apierr.ErrMissingArgument.With("The loginId or userId field is required")
	}
	id, err := s.loginID(p, r.LoginID)
	if err != nil {
		return "", err
	}
	uid, err := s.st.LoginOwner(ctx, p.ID, id)
	if err != nil {
		return "", storeErr(err)
	}
	if uid == "" {
		return "", apierr.ErrMgmtUserNotFound
	}
	return uid, nil
}

// Load returns one user.
func (s *Service) Load(ctx context.Context, p *flow.Project, r Ref) (store.User, error) {
	uid, err := s.resolve(ctx, p, r)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.st.User(ctx, p.ID, uid)
	return u, storeErr(err)
}

// LoadMany returns the users that exist among ids (at most MaxBatch).
func (s *Service) LoadMany(ctx context.Context, p *flow.Project, ids []string) ([]store.User, error) {
	if len(ids) > MaxBatch {
		return nil, apierr.ErrValidation.With("At most %d userIds per call", MaxBatch)
	}
	us, err := s.st.Users(ctx, p.ID, ids)
	return us, storeErr(err)
}

// normalize validates a user's fields and puts addresses and login ids in
// canonical form.
func (s *Service) normalize(p *flow.Project, u *store.User) error {
	var err error
	if u.Email != "" {
		if u.Email, err = address.NormalizeEmail(u.Email); err != nil {
			return apierr.ErrInvalidArgument.With("The email is not a valid email address")
		}
	} else {
		u.VerifiedEmail = false
	}
	if u.Phone != "" {
		if u.Phone, err = address.NormalizePhone(u.Phone, p.DefaultPhoneRegion); err != nil {
			return apierr.ErrInvalidArgument.With("The phone is not a valid phone number")
		}
	} else {
		u.VerifiedPhone = false
	}
	for _, f := range []string{u.Name, u.GivenName, u.MiddleName, u.FamilyName} {
		if len(f) > maxField {
			return apierr.ErrValidation.With("Name fields are limited to %d bytes", maxField)
		}
	}
	if len(u.Picture) > maxPicture {
		return apierr.ErrValidation.With("The picture URL is limited to %d bytes", maxPicture)
	}
	if err := checkAttributes(u.CustomAttributes); err != nil {
		return err
	}
	switch u.Status {
	case "":
		u.Status = "enabled"
	case "enabled", store.StatusDisabled:
	default:
		return apierr.ErrInvalidArgument.With("The status must be 'enabled' or 'disabled'")
	}
	ids := make([]string, 0, len(u.LoginIDs))
	for _, raw := range u.LoginIDs {
		id, err := s.loginID(p, raw)
		if err != nil {
			return err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) > MaxLoginIDs {
		return apierr.ErrValidation.With("A user has at most %d login ids", MaxLoginIDs)
	}
	u.LoginIDs = ids
	return nil
}

func checkAttributes(m map[string]any) error {
	if len(m) > maxAttributes {
		return apierr.ErrValidation.With("At most %d custom attributes", maxAttributes)
	}
	for k := range m {
		if k == "" || len(k) > maxAttributeKey {
			return apierr.ErrValidation.With("Custom attribute keys are 1 to %d bytes", maxAttributeKey)
		}
	}
	if len(store.UserFields(store.User{CustomAttributes: m})["customAttributes"]) > maxAttributesJSON {
		return apierr.ErrValidation.With("Custom attributes are limited to %d bytes of JSON", maxAttributesJSON)
	}
	if depth(m) > maxAttributesDepth {
		return apierr.ErrValidation.With("Custom attributes are nested at most %d levels deep", maxAttributesDepth)
	}
	return nil
}

// depth is how deep v nests objects and arrays (a scalar is 0). The
// JSON size cap above bounds the walk.
func depth(v any) int {
	d := 0
	switch t := v.(type) {
	case map[string]any:
		for _, x := range t {
			d = max(d, depth(x))
		}
	case []any:
		for _, x := range t {
			d = max(d, depth(x))
		}
	default:
		return 0
	}
	return d + 1
}

// loginFields are the copies every login id of u carries: the addresses
// codes may go to, and the disabled flag. An address qualifies when it is
// verified, or when the operator made it one of the user's login ids (the
// operator vouches for it; no end user can bind a login id this way).
// Other addresses are kept on the record only: no code goes there.
func loginFields(u store.User) store.LoginFields {
	f := store.LoginFields{Disabled: u.Status == store.StatusDisabled}
	if u.VerifiedEmail || (u.Email != "" && slices.Contains(u.LoginIDs, u.Email)) {
		f.Email = u.Email
	}
	if u.VerifiedPhone || (u.Phone != "" && slices.Contains(u.LoginIDs, u.Phone)) {
		f.Phone = u.Phone
	}
	return f
}

// Create makes a user (test marks a test user).
func (s *Service) Create(ctx context.Context, p *flow.Project, in UserInput) (store.User, error) {
	if strings.TrimSpace(in.LoginID) == "" {
		return store.User{}, apierr.ErrMissingArgument.With("The loginId field is required")
	}
	u := store.User{
		LoginIDs: append([]string{in.LoginID}, in.AdditionalLoginIDs...),
		Email:    in.Email, Phone: in.Phone, VerifiedEmail: in.VerifiedEmail, VerifiedPhone: in.VerifiedPhone,
		Profile:     store.Profile{Name: in.Name, GivenName: in.GivenName, MiddleName: in.MiddleName, FamilyName: in.FamilyName},
		CreatedTime: s.now(), Status: in.Status, Test: in.Test,
		Picture: in.Picture, CustomAttributes: in.CustomAttributes,
	}
	if err := s.normalize(p, &u); err != nil {
		return store.User{}, err
	}
	if err := s.applyAssignments(ctx, p, &u, in.Assignments); err != nil {
		return store.User{}, err
	}
	// The user's keys live on the slot of its first login id (one script
	// per verify by that login id).
	uid, err := store.NewUserID(s.rand, p.ID, u.LoginIDs[0])
	if err != nil {
		return store.User{}, err
	}
	u.UserID, u.ModifiedTime = uid, u.CreatedTime
	if _, err := s.indexAuthz(ctx, p, uid, store.UserAuthz{}, u.Authz); err != nil {
		return store.User{}, err
	}
	bound, err := s.bind(ctx, p, u.LoginIDs, uid, loginFields(u))
	if err != nil {
		return store.User{}, err
	}
	out, err := s.st.WriteUser(ctx, p.ID, uid, store.UserWrite{Create: true, Set: store.UserFields(u)})
	if err != nil {
		s.unbind(ctx, p, bound, uid)
		return store.User{}, storeErr(err)
	}
	s.index(ctx, p, out)
	return out, nil
}

// bind binds every id to uid, undoing its own binds when one is taken.
func (s *Service) bind(ctx context.Context, p *flow.Project, ids []string, uid string, f store.LoginFields) ([]string, error) {
	var bound []string
	for _, id := range ids {
		if err := s.st.BindLoginID(ctx, p.ID, id, uid, f); err != nil {
			s.unbind(ctx, p, bound, uid)
			if errors.Is(err, store.ErrTaken) {
				return nil, apierr.ErrMgmtUserExists.With("The login id %q belongs to another user", id)
			}
			return nil, storeErr(err)
		}
		bound = append(bound, id)
	}
	return bound, nil
}

func (s *Service) unbind(ctx context.Context, p *flow.Project, ids []string, uid string) {
	for _, id := range ids {
		if err := s.st.UnbindLoginID(ctx, p.ID, id, uid); err != nil {
			s.log.WarnContext(ctx, "login id not unbound", "project", p.ID, "user", uid, "error", err)
		}
	}
}

func (s *Service) index(ctx context.Context, p *flow.Project, u store.User) {
	if err := s.st.Index(ctx, p.ID, u); err != nil {
		// The record is written; the next change indexes it again.
		s.log.WarnContext(ctx, "user index not updated", "project", p.ID, "user", u.UserID, "error", err)
	}
}

// modify is a read-modify-write of one user: fn changes a copy; new
// login ids are bound first, removed ones unbound after the write; every
// login id's copies and the indexes follow. A concurrent management write
// makes it start over (at most writeRetries times).
func (s *Service) modify(ctx context.Context, p *flow.Project, uid string, fn func(u *store.User) error) (store.User, error) {
	for range writeRetries {
		old, err := s.st.User(ctx, p.ID, uid)
		if err != nil {
			return store.User{}, storeErr(err)
		}
		nu := old
		nu.LoginIDs = slices.Clone(old.LoginIDs)
		nu.CustomAttributes = clone(old.CustomAttributes)
		if err := fn(&nu); err != nil {
			return store.User{}, err
		}
		if err := s.normalize(p, &nu); err != nil {
			return store.User{}, err
		}
		nu.ModifiedTime = s.now()
		if len(nu.LoginIDs) == 0 {
			return store.User{}, apierr.ErrValidation.With("A user needs at least one login id")
		}
		var added, removed []string
		for _, id := range nu.LoginIDs {
			if !slices.Contains(old.LoginIDs, id) {
				added = append(added, id)
			}
		}
		for _, id := range old.LoginIDs {
			if !slices.Contains(nu.LoginIDs, id) {
				removed = append(removed, id)
			}
		}
		seq, err := s.indexAuthz(ctx, p, uid, old.Authz, nu.Authz)
		if err != nil {
			return store.User{}, err
		}
		bound, err := s.bind(ctx, p, added, uid, loginFields(nu))
		if err != nil {
			return store.User{}, err
		}
		disable := nu.Status == store.StatusDisabled && old.Status != store.StatusDisabled
		out, err := s.st.WriteUser(ctx, p.ID, uid, store.UserWrite{
			Set: store.UserFields(nu), Revoke: disable, Expect: map[string]string{"mv": old.Version},
		})
		if errors.Is(err, store.ErrConflict) {
			s.unbind(ctx, p, bound, uid)
			continue
		}
		if err != nil {
			s.unbind(ctx, p, bound, uid)
			return store.User{}, storeErr(err)
		}
		s.unbind(ctx, p, removed, uid)
		s.unindexAuthz(ctx, p, uid, old.Authz, out.Authz, seq)
		if loginFields(out) != loginFields(old) {
			for _, id := range out.LoginIDs {
				if slices.Contains(added, id) {
					continue
				}
				if err := s.st.SetLoginFields(ctx, p.ID, id, uid, loginFields(out)); err != nil && !errors.Is(err, store.ErrNotOwner) {
					return store.User{}, storeErr(err)
				}
			}
		}
		s.index(ctx, p, out)
		return out, nil
	}
	return store.User{}, apierr.ErrUnavailable.With("The user kept changing; try again")
}

// now is the clock's time at the millisecond precision records keep.
func (s *Service) now() time.Time { return s.clock.Now().Truncate(time.Millisecond) }

func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
