package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Login history bounds: each user keeps at most HistoryMaxEntries logins,
// none older than HistoryMaxAge (the key expires HistoryMaxAge after the
// last login). Enough for "was that me?" and support tickets; small enough
// that a user who signs in all day costs a few kB.
const (
	HistoryMaxEntries = 100
	HistoryMaxAge     = 90 * 24 * time.Hour
	// historyMaxUserAgent bounds the stored User-Agent (bytes).
	historyMaxUserAgent = 256
)

// ErrDisabled: the user is disabled; nothing was changed.
var ErrDisabled = errors.New("store: user is disabled")

// HistoryKey is the login history list of a user.
func HistoryKey(project, userID string) string { return userTag(project, userID) + "hist" }

type historyJSON struct {
	T  int64  `json:"t"`
	IP string `json:"ip,omitempty"`
	UA string `json:"ua,omitempty"`
	Ch string `json:"ch,omitempty"`
}

// historyEntry encodes r for login.lua ("" when r is zero).
func historyEntry(r LoginRecord) (string, error) {
	if r.Time.IsZero() {
		return "", nil
	}
	b, err := json.Marshal(historyJSON{T: r.Time.UnixMilli(), IP: r.IP, UA: truncateUTF8(r.UserAgent, historyMaxUserAgent), Ch: r.Channel})
	if err != nil {
		return "", fmt.Errorf("store: history entry: %w", err)
	}
	return string(b), nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune, and
// replaces invalid UTF-8 (the value is client-controlled).
func truncateUTF8(s string, n int) string {
	s = string([]rune(s)) // invalid bytes become U+FFFD
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// History returns a user's logins, newest first, without entries older
// than HistoryMaxAge at now.
func (s *RedisStore) History(ctx context.Context, project, userID string, now time.Time) ([]LoginRecord, error) {
	raw, err := s.c.LRange(ctx, HistoryKey(project, userID), 0, HistoryMaxEntries-1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	cutoff := now.Add(-HistoryMaxAge).UnixMilli()
	out := make([]LoginRecord, 0, len(raw))
	for _, r := range raw {
		var h historyJSON
		if json.Unmarshal([]byte(r), &h) != nil || h.T < cutoff {
			continue
		}
		out = append(out, LoginRecord{Time: time.UnixMilli(h.T), IP: h.IP, UserAgent: h.UA, Channel: h.Ch})
	}
	return out, nil
}
