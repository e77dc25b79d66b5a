package persistence

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/alexedwards/argon2id"
)

// Hasher hashes and checks passwords with argon2id, running at most a fixed
// number of hashes at once: each one takes Params.Memory KiB, so the bound is
// also a bound on the memory that a burst of logins can take.
type Hasher struct {
	params *argon2id.Params
	slots  chan struct{}
	// waiting counts the hashes queued for a slot, done those computed.
	waiting, done atomic.Int64
	// dummy is a hash of a random password, checked when a username is
	// unknown so that a wrong username costs as much as a wrong password.
	dummy string
}

// NewHasher returns a hasher with the given argon2id parameters that runs at
// most concurrent hashes at once.
func NewHasher(params *argon2id.Params, concurrent int) (*Hasher, error) {
	h := &Hasher{params: params, slots: make(chan struct{}, max(concurrent, 1))}
	dummy, err := argon2id.CreateHash("not a password anyone has", params)
	if err != nil {
		return nil, fmt.Errorf("persistence: hasher: %w", err)
	}
	h.dummy = dummy
	h.giveBack()
	return h, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Queue returns how many hashes are waiting for a slot and how many run.
func (h *Hasher) Queue() (waiting, running int) {
	return int(h.waiting.Load()), len(h.slots)
}

// Done returns how many hashes have been computed, checks included.
func (h *Hasher) Done() int64 {
	return h.done.Load()
}

// release frees a slot, and the last hash to finish gives memory back.
func (h *Hasher) release() {
	h.done.Add(1)
	<-h.slots
	if len(h.slots) == 0 {
		h.giveBack()
	}
}

// giveBack returns the memory of finished hashes to the operating system
// at once. Params.Memory KiB a hash is most of what the server ever holds,
// and left to the garbage collector the blocks of finished hashes stay
// resident until the next collection, which at rest may be minutes away, or
// a second burst of logins finds the heap grown by the first. Hashes of
// less than 4 MiB (as in tests) are not worth the collection this costs.
func (h *Hasher) giveBack() {
	if h.params.Memory >= 4<<10 {
		debug.FreeOSMemory()
	}
}

// Hash returns the argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("persistence: hash: %w", err)
	}
	defer h.release()
	hash, err := argon2id.CreateHash(password, h.params)
	if err != nil {
		return "", fmt.Errorf("persistence: hash: %w", err)
	}
	return hash, nil
}

// Check reports whether password matches hash. An empty hash stands for an
// unknown user: the check still does the work of a real one, and fails.
func (h *Hasher) Check(ctx context.Context, password, hash string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, fmt.Errorf("persistence: check password: %w", err)
	}
	defer h.release()
	known := hash != ""
	if !known {
		hash = h.dummy
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return false, fmt.Errorf("persistence: check password: %w", err)
	}
	return ok && known, nil
}

// HashesDone returns how many password hashes the store has computed,
// checks included.
func (s *Store) HashesDone() int64 { return s.hasher.Done() }
