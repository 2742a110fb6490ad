package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotWritable is what Probe wraps when Redis answers but refuses writes
// (OOM at maxmemory, READONLY replica, MASTERDOWN).
var ErrNotWritable = errors.New("redis refuses writes")

// ErrSlotsUncovered is what Probe returns when a Cluster does not serve
// every slot.
var ErrSlotsUncovered = errors.New("redis cluster does not serve every slot")

const probeTTL = 10 * time.Second

// Probe checks that Redis can serve otpd: it writes a probe key with a
// short TTL. On a Cluster it first checks that the slot map covers all
// 16384 slots, then writes one probe key in a slot of every master, so a
// dead, failing-over or OOM master makes the probe fail.
func Probe(ctx context.Context, c redis.UniversalClient) error {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return write(ctx, c, "otpd:health")
	}
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return err
	}
	covered, keys := 0, map[string]string{}
	for _, s := range slots {
		covered += s.End - s.Start + 1
		if len(s.Nodes) == 0 {
			return ErrSlotsUncovered
		}
		if _, ok := keys[s.Nodes[0].Addr]; !ok {
			keys[s.Nodes[0].Addr] = keyInSlots(s.Start, s.End)
		}
	}
	if covered != 16384 {
		return fmt.Errorf("%w: %d of 16384", ErrSlotsUncovered, covered)
	}
	for _, k := range keys {
		if err := write(ctx, cc, k); err != nil {
			return err
		}
	}
	return nil
}

func write(ctx context.Context, c redis.Cmdable, key string) error {
	err := c.Set(ctx, key, "1", probeTTL).Err()
	if err != nil && (redis.IsOOMError(err) || redis.IsReadOnlyError(err) || redis.IsMasterDownError(err)) {
		return fmt.Errorf("%w: %w", ErrNotWritable, err)
	}
	return err
}

// keyInSlots returns a probe key whose hash slot is in [lo, hi].
func keyInSlots(lo, hi int) string {
	for i := 0; ; i++ {
		tag := "health:" + strconv.Itoa(i)
		if s := int(Slot(tag)); s >= lo && s <= hi {
			return "otpd:{" + tag + "}"
		}
	}
}

// Slot is the Redis Cluster hash slot of a key (the hash tag's, when the
// key has one): CRC16-XMODEM mod 16384.
func Slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
