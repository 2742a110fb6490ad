package store

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The project's search indexes (see the layout in directory.go): index
// updates, pages of the (test, status) sets by created time, and exact
// look-ups of emails and phones.

type indexRec struct {
	E string `json:"e"`
	P string `json:"p"`
	S string `json:"s"`
	T bool   `json:"t"`
	C int64  `json:"c"`
}

func indexArgs(u User) (string, error) {
	b, err := json.Marshal(indexRec{E: u.Email, P: u.Phone, S: u.Status, T: u.Test, C: u.CreatedTime.UnixMilli()})
	return string(b), err
}

// Index implements Directory.
func (s *RedisStore) Index(ctx context.Context, project string, u User) error {
	b, err := indexArgs(u)
	if err != nil {
		return err
	}
	if err := mgmtIndexScript.Run(ctx, s.c, indexKeys(project), u.UserID, b).Err(); err != nil {
		return unavailable(err)
	}
	return s.unindexIfGone(ctx, project, u.UserID)
}

// unindexIfGone drops the index entry of a user whose record is gone. An
// index write is followed by it: an erasure deletes the record before it
// unindexes (mgmt.Service.Delete), so an entry written after the
// erasure's unindex is seen here and dropped (on Cluster the index lives
// on the project's slot, the record on the user's: no one script can
// check both).
func (s *RedisStore) unindexIfGone(ctx context.Context, project, userID string) error {
	_, err := s.c.HGet(ctx, UserKey(project, userID), "userId").Result()
	if errors.Is(err, redis.Nil) {
		return s.Unindex(ctx, project, userID)
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Unindex implements Directory.
func (s *RedisStore) Unindex(ctx context.Context, project, userID string) error {
	if err := mgmtIndexScript.Run(ctx, s.c, indexKeys(project), userID, "").Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// PageRange is a page of a created-time range of users.
type PageRange struct {
	Offset, Count int
	// From and To bound the created time, inclusive (zero: no bound).
	From, To time.Time
	// Desc lists newest first.
	Desc bool
}

// Page implements Directory.
func (s *RedisStore) Page(ctx context.Context, project string, sets []IndexSet, offset, count int) ([]string, int, error) {
	return s.PageRange(ctx, project, sets, PageRange{Offset: offset, Count: count})
}

// PageRange implements Directory.
func (s *RedisStore) PageRange(ctx context.Context, project string, sets []IndexSet, r PageRange) ([]string, int, error) {
	if len(sets) == 0 || r.Count <= 0 {
		return nil, 0, nil
	}
	keys := make([]string, len(sets))
	for i, k := range sets {
		keys[i] = k.key(project)
	}
	lo, hi, desc := "-inf", "+inf", ""
	if !r.From.IsZero() {
		lo = strconv.FormatInt(r.From.UnixMilli(), 10)
	}
	if !r.To.IsZero() {
		hi = strconv.FormatInt(r.To.UnixMilli(), 10)
	}
	if r.Desc {
		desc = "1"
	}
	res, err := mgmtSearchScript.Run(ctx, s.c, keys, "page", r.Offset, r.Count, lo, hi, desc).StringSlice()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	if len(res) == 0 {
		return nil, 0, errShape("mgmt_search.lua")
	}
	total, _ := strconv.Atoi(res[0])
	return res[1:], total, nil
}

// Lookup implements Directory.
func (s *RedisStore) Lookup(ctx context.Context, project string, c Contact, addresses []string, limit int) ([]string, error) {
	if len(addresses) == 0 || limit <= 0 {
		return nil, nil
	}
	key := projectTag(project) + "ix:email"
	if c == ContactPhone {
		key = projectTag(project) + "ix:phone"
	}
	args := []any{"lex", limit}
	for _, a := range addresses {
		args = append(args, a)
	}
	res, err := mgmtSearchScript.Run(ctx, s.c, []string{key}, args...).StringSlice()
	if err != nil {
		return nil, unavailable(err)
	}
	return res, nil
}
