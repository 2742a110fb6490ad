package otpcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"sync"
)

// MinSecretLength is the minimum length of a Hasher secret in bytes.
const MinSecretLength = 32

// Errors returned by NewHasher.
var (
	ErrNoSecrets   = errors.New("otpcode: no hashing secrets configured")
	ErrShortSecret = errors.New("otpcode: hashing secret shorter than 32 bytes")
)

// Size is the length in bytes of every hash a Hasher returns.
const Size = sha256.Size

// maxPooledBuf caps the encoding buffer kept in a pool, so one huge input does
// not pin memory for the life of the process.
const maxPooledBuf = 1 << 10

// Input is what a code hash is bound to. All fields are hashed, in this order.
type Input struct {
	Project, Channel, LoginID, Purpose, Code string
}

// Hasher computes the keyed hash stored in place of a code:
// HMAC-SHA256(secret, encode(Input)). It is safe for concurrent use.
type Hasher struct {
	keys []*keyState // newest first; keys[0] hashes new codes
}

// keyState pools the HMAC state for one secret. hmac.New costs roughly three
// times a Reset, so each secret keeps a pool of ready instances.
type keyState struct {
	pool sync.Pool // of *macState
}

// macState is one pooled HMAC instance plus the scratch buffer the input is
// encoded into before being written to it.
type macState struct {
	mac hash.Hash
	buf []byte
}

// NewHasher returns a Hasher for secrets, newest first: secrets[0] hashes
// new codes and all of them are tried by Candidates. Each secret must be at
// least MinSecretLength bytes. The secrets are copied.
func NewHasher(secrets [][]byte) (*Hasher, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecrets
	}
	h := &Hasher{keys: make([]*keyState, len(secrets))}
	for i, s := range secrets {
		if len(s) < MinSecretLength {
			return nil, fmt.Errorf("%w: secret %d has %d bytes", ErrShortSecret, i, len(s))
		}
		key := append([]byte(nil), s...)
		ks := &keyState{}
		ks.pool.New = func() any {
			return &macState{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, 128)}
		}
		h.keys[i] = ks
	}
	return h, nil
}

// Sum returns HMAC-SHA256(secrets[0], encode(in)), Size bytes, for storing
// in place of in.Code.
func (h *Hasher) Sum(in Input) []byte {
	ks := h.keys[0]
	st := ks.pool.Get().(*macState)
	out := st.sum(make([]byte, 0, Size), in)
	ks.put(st)
	return out
}

// Candidates returns the hashes of in.Code under every secret and every
// purpose given, in.Purpose being ignored: len(secrets)*len(purposes)
// entries, secret-major (all purposes for secrets[0] first). A verifier that
// does not know which secret or purpose produced a stored hash compares it
// against each with Equal; it should compare against all of them rather than
// stop at the first match if timing matters.
func (h *Hasher) Candidates(in Input, purposes []string) [][]byte {
	n := len(h.keys) * len(purposes)
	if n == 0 {
		return nil
	}
	backing := make([]byte, n*Size)
	out := make([][]byte, 0, n)
	for _, ks := range h.keys {
		st := ks.pool.Get().(*macState)
		for _, p := range purposes {
			in.Purpose = p
			off := len(out) * Size
			out = append(out, st.sum(backing[off:off:off+Size], in))
		}
		ks.put(st)
	}
	return out
}

// sum appends the HMAC of encode(in) to dst.
func (st *macState) sum(dst []byte, in Input) []byte {
	st.buf = encode(st.buf[:0], in)
	st.mac.Reset()
	st.mac.Write(st.buf)
	return st.mac.Sum(dst)
}

func (ks *keyState) put(st *macState) {
	// The buffer held a code; wipe it before it sits in the pool.
	clear(st.buf)
	if cap(st.buf) > maxPooledBuf {
		st.buf = make([]byte, 0, 128)
	}
	ks.pool.Put(st)
}

// encode appends the unambiguous encoding of in to dst: each field as a
// 4-byte big-endian length followed by its bytes, in the order Project,
// Channel, LoginID, Purpose, Code.
func encode(dst []byte, in Input) []byte {
	for _, f := range [...]string{in.Project, in.Channel, in.LoginID, in.Purpose, in.Code} {
		if uint64(len(f)) > math.MaxUint32 {
			// Unreachable in practice (a 4 GiB field); refusing is safer than
			// an ambiguous encoding.
			panic("otpcode: input field longer than 4 GiB")
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// Equal reports whether a and b are the same hash, in time that depends only
// on their lengths (crypto/subtle). Empty hashes never match, so a missing
// stored hash cannot verify.
func Equal(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(a, b) == 1
}
