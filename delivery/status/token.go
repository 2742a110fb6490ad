package status

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// MaxTokenLen bounds a callback token; longer ones are refused unread.
const MaxTokenLen = 512

// ErrToken is any token that does not verify: malformed, signed by no
// known key, or expired. Callers answer it without saying which.
var ErrToken = errors.New("status: invalid callback token")

// Binding is what a callback URL is bound to: one job (one code), its
// project, and the provider the job was handed to.
type Binding struct {
	Job      string `json:"j"`
	Project  string `json:"p"`
	Provider string `json:"v"`
	Channel  string `json:"c"`
	// Pinned: the request named its provider, so an undelivered status
	// hands the job to no other.
	Pinned bool `json:"n,omitempty"`
	// Expires ends the token's validity (the code's expiry plus
	// Retention).
	Expires int64 `json:"e"` // unix seconds
}

// Signer signs and verifies callback tokens with keys derived from the
// queue's seal keys (newest first): rotating the seal keys rotates them,
// and the older keys keep verifying tokens already handed out.
type Signer struct{ keys [][]byte }

// NewSigner derives one token key per seal key.
func NewSigner(sealKeys [][]byte) (*Signer, error) {
	if len(sealKeys) == 0 {
		return nil, errors.New("status: no key to sign callback tokens")
	}
	s := &Signer{}
	for _, k := range sealKeys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte("otpd delivery callback token v1"))
		s.keys = append(s.keys, m.Sum(nil))
	}
	return s, nil
}

func mac(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)
}

// Token is b signed with the newest key: base64url(JSON) "." base64url(HMAC-SHA256).
func (s *Signer) Token(b Binding) string {
	raw, _ := json.Marshal(b)
	p := base64.RawURLEncoding.EncodeToString(raw)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(s.keys[0], []byte(p)))
}

// Verify returns the binding of a token signed by any of the keys
// (compared in constant time) that has not expired at now.
func (s *Signer) Verify(token string, now time.Time) (Binding, error) {
	if len(token) > MaxTokenLen {
		return Binding{}, ErrToken
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Binding{}, ErrToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return Binding{}, ErrToken
	}
	valid := false
	for _, k := range s.keys {
		// Every key is tried, so the time taken does not say which matched.
		valid = hmac.Equal(got, mac(k, []byte(p))) || valid
	}
	if !valid {
		return Binding{}, ErrToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Binding{}, ErrToken
	}
	var b Binding
	if json.Unmarshal(raw, &b) != nil || b.Job == "" || b.Project == "" || b.Provider == "" || b.Channel == "" {
		return Binding{}, ErrToken
	}
	if now.Unix() >= b.Expires {
		return Binding{}, ErrToken
	}
	return b, nil
}
