package status

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio's request signature is HMAC-SHA1.
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// TwilioSignature is Twilio's X-Twilio-Signature of a form POST: the
// base64 of HMAC-SHA1, keyed by the account's auth token, over the full
// URL Twilio called followed by every POST parameter's name and value,
// sorted by name (a repeated name: its values sorted too).
func TwilioSignature(authToken, fullURL string, form url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := slices.Clone(form[k])
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ValidTwilioSignature compares got with the expected signature in
// constant time; an empty got is never valid.
func ValidTwilioSignature(authToken, fullURL string, form url.Values, got string) bool {
	if got == "" || authToken == "" {
		return false
	}
	return hmac.Equal([]byte(got), []byte(TwilioSignature(authToken, fullURL, form)))
}
