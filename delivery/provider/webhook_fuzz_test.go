package provider

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyWebhook: a receiver runs VerifyWebhook on whatever reaches its
// endpoint. It never panics, fails only with its documented errors, and
// accepts a request only when the timestamp is within tolerance and one
// "v1=" entry is the HMAC-SHA256 of exactly that timestamp and body (an
// independent computation here). A request signed as Send signs verifies;
// changing its body, timestamp or secret makes it fail.
func FuzzVerifyWebhook(f *testing.F) {
	now := webhookClock()
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"id":"j1","code":"123456"}`)
	f.Add([]byte(webhookKey), ts, "v1="+webhookMAC([]byte(webhookKey), ts, body), body, int64(0), int64(300))
	f.Add([]byte(webhookKey), " "+ts+" ", "v0=00, v1=zz, v1="+webhookMAC([]byte(webhookKey), ts, body), body, int64(-299), int64(0))
	f.Add([]byte("k"), "+"+ts, "v1=", []byte{}, int64(1<<62), int64(-1))
	f.Add([]byte{}, "-1", ",,,", []byte("x"), int64(-1<<63), int64(1<<62))
	f.Add([]byte(webhookKey), "9223372036854775807", "V1=AB", body, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, secret []byte, timestamp, signature string, body []byte, skew, tolSecs int64) {
		tolerance := time.Duration(tolSecs) * time.Second
		if tolSecs > int64(1<<62)/int64(time.Second) || tolSecs < -int64(1<<62)/int64(time.Second) {
			tolerance = time.Duration(tolSecs) // no overflow; still any sign
		}
		err := VerifyWebhook(secret, timestamp, signature, body, now, tolerance)
		known := err == nil || errors.Is(err, ErrWebhookMalformed) || errors.Is(err, ErrWebhookExpired) ||
			errors.Is(err, ErrWebhookSignature) || (len(secret) == 0 && err != nil)
		if !known {
			t.Fatalf("undocumented error %v", err)
		}
		if err == nil {
			if len(secret) == 0 {
				t.Fatal("accepted with an empty secret")
			}
			ts := strings.TrimSpace(timestamp)
			secs, perr := strconv.ParseInt(ts, 10, 64)
			tol := tolerance
			if tol <= 0 {
				tol = DefaultWebhookTolerance
			}
			if perr != nil || secs < 0 || absDiff(now.Unix(), secs) > int64(tol/time.Second) {
				t.Fatalf("accepted timestamp %q at %d with tolerance %v", timestamp, now.Unix(), tol)
			}
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(ts + "."))
			m.Write(body)
			want := m.Sum(nil)
			signed := false
			for e := range strings.SplitSeq(signature, ",") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(e), "v1="); ok {
					got, derr := hex.DecodeString(v)
					signed = signed || (derr == nil && bytes.Equal(got, want))
				}
			}
			if !signed {
				t.Fatalf("accepted signature %q that is not the HMAC of %q and the body", signature, ts)
			}
		}

		// Round trip: what Send would sign at now+skew (within tolerance).
		if len(secret) == 0 {
			return
		}
		tol := tolerance
		if tol <= 0 {
			tol = DefaultWebhookTolerance
		}
		maxSkew := int64(tol / time.Second)
		if maxSkew <= 0 {
			return
		}
		s := skew % (maxSkew + 1)
		if now.Unix()+s < 0 {
			s = -s // Send never signs a time before 1970
		}
		sent := strconv.FormatInt(now.Unix()+s, 10)
		sig := WebhookSignatureVersion + "=" + webhookMAC(secret, sent, body)
		if err := VerifyWebhook(secret, sent, sig, body, now, tolerance); err != nil {
			t.Fatalf("a signed request (skew %ds, tolerance %v) failed: %v", s, tol, err)
		}
		if err := VerifyWebhook(secret, sent, sig, append(bytes.Clone(body), ' '), now, tolerance); !errors.Is(err, ErrWebhookSignature) {
			t.Fatalf("a changed body: %v", err)
		}
		if err := VerifyWebhook(append(bytes.Clone(secret), 'x'), sent, sig, body, now, tolerance); !errors.Is(err, ErrWebhookSignature) {
			t.Fatalf("another secret: %v", err)
		}
		if s != 0 {
			if err := VerifyWebhook(secret, strconv.FormatInt(now.Unix(), 10), sig, body, now, tolerance); !errors.Is(err, ErrWebhookSignature) {
				t.Fatalf("a replay with a new timestamp: %v", err)
			}
		}
		if err := VerifyWebhook(secret, strconv.FormatInt(now.Unix()+maxSkew+1, 10), sig, body, now, tolerance); !errors.Is(err, ErrWebhookExpired) {
			t.Fatalf("a timestamp past tolerance: %v", err)
		}
	})
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
