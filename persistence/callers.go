package persistence

import (
	"crypto/sha256"
	"time"

	"github.com/maypok86/otter/v2"
)

// knownTokensMax bounds how many tokens the store remembers the users of,
// at about 100 bytes each.
const knownTokensMax = 100_000

// knownToken is what a token check found of a live token: its user, when
// it expires, and the number of the changes it was read under.
type knownToken struct {
	user    int64
	expires time.Time
	read    uint64
}

// knownTokens remembers the user of each token that a statement checked,
// so that a response kept for that user can be served to its holder
// without the database: the token is live as long as it has not expired
// (by the store's clock) and no token of the user has ended since it was
// read (a logout, a revocation, a password change, the account's
// deletion), which Changes hears from every instance.
type knownTokens struct {
	changes *Changes
	cache   *otter.Cache[[sha256.Size]byte, knownToken]
}

// Watch makes the store remember the users of the tokens it checks, kept
// true by ch.
func (s *Store) Watch(ch *Changes) {
	cache, err := otter.New(&otter.Options[[sha256.Size]byte, knownToken]{MaximumSize: knownTokensMax})
	if err != nil {
		// The options above are fixed: an error is a programming error.
		panic("persistence: known tokens: " + err.Error())
	}
	s.known = &knownTokens{changes: ch, cache: cache}
}

// readNumber is the number of the changes a token check is about to read
// under, 0 when the store watches none.
func (s *Store) readNumber() uint64 {
	if s.known == nil {
		return 0
	}
	return s.known.changes.Now()
}

// remember keeps what a check of the token of hash, read under number
// read, found of it.
func (s *Store) remember(hash [sha256.Size]byte, c *caller, read uint64) {
	if s.known == nil {
		return
	}
	s.known.cache.Set(hash, knownToken{user: c.ID, expires: c.expires, read: read})
}

// TokenUser returns the user of token as last checked, when that is still
// true: the token was checked on this instance, has not expired, and no
// token of its user has ended since. It reads nothing from the database;
// false means a statement must check the token.
func (s *Store) TokenUser(token string) (int64, bool) {
	if s.known == nil {
		return 0, false
	}
	k, ok := s.known.cache.GetIfPresent(tokenHash(token))
	if !ok || !s.now().Before(k.expires) || !s.known.changes.Unchanged(k.read, TokensOf(k.user)) {
		return 0, false
	}
	return k.user, true
}

// SeenDue reports whether the next check of token records its use and its
// user's last_seen: a request that would serve from memory must then go to
// the database instead.
func (s *Store) SeenDue(token string) bool {
	return s.seen.due(tokenHash(token), s.now())
}
