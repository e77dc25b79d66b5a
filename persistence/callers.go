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

// TokenState is what the store knows of a token without the database.
type TokenState struct {
	// Live says that a statement on this instance checked the token, it
	// has not expired, and no token of its user has ended since; User is
	// then the token's user. Otherwise a statement must check the token.
	Live bool
	User int64
	// SeenDue says that the next check of the token records its use and
	// its user's last_seen: a request that would be served from memory
	// must go to the database instead.
	SeenDue bool
}

// Token returns what the store knows of token, reading nothing from the
// database.
func (s *Store) Token(token string) TokenState {
	hash, now := tokenHash(token), s.now()
	st := TokenState{SeenDue: s.seen.due(hash, now)}
	if s.known == nil {
		return st
	}
	k, ok := s.known.cache.GetIfPresent(hash)
	if ok && now.Before(k.expires) && s.known.changes.Unchanged(k.read, TokensOf(k.user)) {
		st.Live, st.User = true, k.user
	}
	return st
}
