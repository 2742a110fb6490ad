package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Token kinds, the value of the drn claim (Descope's names).
const (
	DRNSession = "DS"
	DRNRefresh = "DSR"
)

// Default lifetimes, used when the Config leaves them zero.
const (
	DefaultSessionTTL = 10 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
)

// jtiBytes is the number of random bytes in a token id.
const jtiBytes = 16

// Config configures an Issuer.
type Config struct {
	ProjectID  string        // becomes iss
	SessionTTL time.Duration // default 10m if 0
	RefreshTTL time.Duration // default 720h (30 days) if 0
}

// Issuer mints token pairs for one project with the active key of its key
// set. It is immutable and safe for concurrent use, provided the injected
// random reader is.
type Issuer struct {
	projectID  string
	sessionTTL time.Duration
	refreshTTL time.Duration
	keys       *KeySet
	now        func() time.Time
	random     io.Reader
}

// NewIssuer returns an Issuer. now is the clock (time.Now in production) and
// random the source of token ids (crypto/rand.Reader in production).
func NewIssuer(cfg Config, keys *KeySet, now func() time.Time, random io.Reader) (*Issuer, error) {
	switch {
	case cfg.ProjectID == "":
		return nil, errors.New("token: issuer needs a project id")
	case keys == nil:
		return nil, errors.New("token: issuer needs a key set")
	case now == nil:
		return nil, errors.New("token: issuer needs a clock")
	case random == nil:
		return nil, errors.New("token: issuer needs a random source")
	case cfg.SessionTTL < 0 || cfg.RefreshTTL < 0:
		return nil, fmt.Errorf("token: negative token lifetime (session %v, refresh %v)", cfg.SessionTTL, cfg.RefreshTTL)
	}
	i := &Issuer{
		projectID:  cfg.ProjectID,
		sessionTTL: cfg.SessionTTL,
		refreshTTL: cfg.RefreshTTL,
		keys:       keys,
		now:        now,
		random:     random,
	}
	if i.sessionTTL == 0 {
		i.sessionTTL = DefaultSessionTTL
	}
	if i.refreshTTL == 0 {
		i.refreshTTL = DefaultRefreshTTL
	}
	if i.sessionTTL < time.Second || i.refreshTTL < time.Second {
		return nil, fmt.Errorf("token: token lifetimes must be at least 1s (session %v, refresh %v)", i.sessionTTL, i.refreshTTL)
	}
	return i, nil
}

// Keys returns the issuer's key set.
func (i *Issuer) Keys() *KeySet { return i.keys }

// Subject is who a token pair is minted for.
type Subject struct {
	UserID string
	AMR    []string       // authentication methods, e.g. ["email"]; omitted when empty
	Nsec   map[string]any // optional non-secure custom claims; omitted when empty
	StepUp bool           // adds "su": true to the session token only
	// RefreshUntil, when set, caps the refresh token's expiry (rotation
	// keeps a token family's original end instead of sliding it).
	RefreshUntil time.Time
	// RefreshID, when set, is the refresh token's jti instead of a random
	// one (rotation names the token's family and generation in it).
	RefreshID string
	// Authz, when set, adds Descope's authorization claims (roles,
	// permissions, tenants, dct) to both tokens.
	Authz *Authz
	// AuthTime is when the sign-in that started the session happened; it
	// becomes the refresh token's auth_time claim. Zero: now (a sign-in).
	// A refresh or an update carries the original one on, so that no
	// refresh makes a session's sign-in look recent.
	AuthTime time.Time
}

// Pair is a freshly minted session and refresh token.
type Pair struct {
	Session, Refresh             string
	SessionExpiry, RefreshExpiry time.Time // exactly the exp claims (whole seconds)
	RefreshID                    string    // the refresh token's jti, to track or revoke it
}

// wireClaims is the JWT claim set, both as minted and as verified. Field
// order is the serialization order.
type wireClaims struct {
	Iss  string         `json:"iss"`
	Sub  string         `json:"sub"`
	Iat  int64          `json:"iat"`
	Exp  int64          `json:"exp"`
	DRN  string         `json:"drn"`
	AMR  []string       `json:"amr,omitempty"`
	Nsec map[string]any `json:"nsec,omitempty"`
	SU   bool           `json:"su,omitempty"`
	// AuthTime (refresh tokens only) is when the sign-in that started the
	// token's session happened, unix seconds (OIDC's auth_time).
	AuthTime int64 `json:"auth_time,omitempty"`
	// Descope's authorization claims (authz.go); minted from the
	// pre-encoded authz fragment.
	Roles       []string               `json:"roles,omitempty"`
	Permissions []string               `json:"permissions,omitempty"`
	Tenants     map[string]TenantAuthz `json:"tenants,omitempty"`
	DCT         string                 `json:"dct,omitempty"`
	JTI         string                 `json:"jti"`
	// authz is Roles..DCT already encoded as JSON members, each preceded
	// by a comma (encodeAuthz); appendClaims copies it.
	authz []byte
}

// Mint signs a session and a refresh token for s with the active key.
func (i *Issuer) Mint(s Subject) (Pair, error) {
	if s.UserID == "" {
		return Pair{}, errors.New("token: subject has no user id")
	}
	// One random read for both token ids.
	var ids [2 * jtiBytes]byte
	if _, err := io.ReadFull(i.random, ids[:]); err != nil {
		return Pair{}, fmt.Errorf("token: reading random token id: %w", err)
	}
	nsec, err := encodeNsec(s.Nsec)
	if err != nil {
		return Pair{}, err
	}
	az, err := encodeAuthz(s.Authz)
	if err != nil {
		return Pair{}, err
	}
	now := i.now()
	c := wireClaims{
		Iss:   i.projectID,
		Sub:   s.UserID,
		Iat:   now.Unix(),
		AMR:   s.AMR,
		Nsec:  s.Nsec,
		authz: az,
	}
	key := i.keys.active

	c.DRN, c.Exp, c.SU = DRNSession, now.Add(i.sessionTTL).Unix(), s.StepUp
	c.JTI = base64.RawURLEncoding.EncodeToString(ids[:jtiBytes])
	session, err := key.sign(&c, nsec)
	if err != nil {
		return Pair{}, err
	}
	sessionExp := c.Exp

	refreshExp := now.Add(i.refreshTTL)
	if !s.RefreshUntil.IsZero() && s.RefreshUntil.Before(refreshExp) {
		refreshExp = s.RefreshUntil
	}
	c.DRN, c.Exp, c.SU = DRNRefresh, refreshExp.Unix(), false
	c.AuthTime = now.Unix()
	if !s.AuthTime.IsZero() {
		c.AuthTime = s.AuthTime.Unix()
	}
	c.JTI = base64.RawURLEncoding.EncodeToString(ids[jtiBytes:])
	if s.RefreshID != "" {
		c.JTI = s.RefreshID
	}
	refresh, err := key.sign(&c, nsec)
	if err != nil {
		return Pair{}, err
	}

	return Pair{
		Session:       session,
		Refresh:       refresh,
		SessionExpiry: time.Unix(sessionExp, 0),
		RefreshExpiry: time.Unix(c.Exp, 0),
		RefreshID:     c.JTI,
	}, nil
}

// MintSession signs only a session token for s (a refresh without
// rotation). It returns the token and its expiry.
func (i *Issuer) MintSession(s Subject) (string, time.Time, error) {
	if s.UserID == "" {
		return "", time.Time{}, errors.New("token: subject has no user id")
	}
	var id [jtiBytes]byte
	if _, err := io.ReadFull(i.random, id[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("token: reading random token id: %w", err)
	}
	nsec, err := encodeNsec(s.Nsec)
	if err != nil {
		return "", time.Time{}, err
	}
	az, err := encodeAuthz(s.Authz)
	if err != nil {
		return "", time.Time{}, err
	}
	now := i.now()
	c := wireClaims{
		Iss: i.projectID, Sub: s.UserID, Iat: now.Unix(), Exp: now.Add(i.sessionTTL).Unix(),
		DRN: DRNSession, AMR: s.AMR, Nsec: s.Nsec, SU: s.StepUp,
		JTI: base64.RawURLEncoding.EncodeToString(id[:]), authz: az,
	}
	tok, err := i.keys.active.sign(&c, nsec)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, time.Unix(c.Exp, 0), nil
}

// encodeNsec encodes the custom claims once for every token of a mint;
// nil when there are none (the claim is then omitted).
func encodeNsec(nsec map[string]any) ([]byte, error) {
	if len(nsec) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(nsec)
	if err != nil {
		return nil, fmt.Errorf("token: encoding custom claims: %w", err)
	}
	return b, nil
}

// VerifySession verifies a session token against the issuer's key set and
// clock, and requires drn "DS" and iss equal to the project id.
func (i *Issuer) VerifySession(token string) (*Claims, error) {
	return i.verify(token, DRNSession)
}

// VerifyRefresh verifies a refresh token against the issuer's key set and
// clock, and requires drn "DSR" and iss equal to the project id.
func (i *Issuer) VerifyRefresh(token string) (*Claims, error) {
	return i.verify(token, DRNRefresh)
}

func (i *Issuer) verify(token, drn string) (*Claims, error) {
	c, err := i.keys.Verify(token, i.now())
	if err != nil {
		return nil, err
	}
	if c.DRN != drn {
		return nil, fmt.Errorf("%w: drn is %q, want %q", ErrInvalidToken, c.DRN, drn)
	}
	if c.Issuer != i.projectID {
		return nil, fmt.Errorf("%w: issued for project %q", ErrInvalidToken, c.Issuer)
	}
	return c, nil
}

// RefreshExpiry is when a refresh token minted now expires, in whole
// seconds as its exp claim. With NewTokenID it lets a caller register a
// refresh token before minting it (Subject.RefreshID and RefreshUntil).
func (i *Issuer) RefreshExpiry() time.Time {
	return time.Unix(i.now().Add(i.refreshTTL).Unix(), 0)
}

// NewTokenID is a random token id (jti) of the shape Mint makes.
func (i *Issuer) NewTokenID() (string, error) {
	var id [jtiBytes]byte
	if _, err := io.ReadFull(i.random, id[:]); err != nil {
		return "", fmt.Errorf("token: reading random token id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(id[:]), nil
}
