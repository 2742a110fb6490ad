package store

import (
	"context"
	"time"
)

// Outbox enqueues a sealed delivery job on its own, outside a start (a
// security notice after a contact change). The job goes to the same
// durable queue, with the same fields, as a start's.
type Outbox interface {
	Enqueue(ctx context.Context, j *Job, to string, expires time.Time) error
}

var _ Outbox = (*RedisStore)(nil)

// Enqueue implements Outbox: one XADD (MAXLEN ~ j.MaxLen).
func (s *RedisStore) Enqueue(ctx context.Context, j *Job, to string, expires time.Time) error {
	return s.enqueue(ctx, j, to, expires)
}
