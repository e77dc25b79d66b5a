package persistence_test

import (
	"fmt"
	"sync"
	"testing"

	"microblog/persistence"
)

// TestLikeCountsUnderToggles likes and unlikes one post from many users at
// once, each toggling several times: no deadlock, the count equals the
// rows, the author is notified once per user who ever liked, and the
// author's user row is never touched (its version stays).
func TestLikeCountsUnderToggles(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	author := createUser(t, s, "author")
	post, err := s.WritePost(ctx, author.ID, "like me")
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.User(ctx, author.ID)
	if err != nil {
		t.Fatal(err)
	}
	var likers []int64
	for i := range 50 {
		likers = append(likers, createUser(t, s, fmt.Sprintf("fan%d", i)).ID)
	}
	toggle(t, s, post.ID, likers)
	var count, rows, notified int64
	if err := pool.QueryRow(ctx, `SELECT like_count, (SELECT count(*) FROM likes WHERE post_id = $1),
		(SELECT count(*) FROM notifications WHERE user_id = $2 AND type = 'like') FROM posts WHERE id = $1`,
		post.ID, author.ID).Scan(&count, &rows, &notified); err != nil {
		t.Fatal(err)
	}
	// Those who toggled three times end liking, those who toggled four do not.
	if count != rows || rows != 25 || notified != 50 {
		t.Errorf("like_count %d, rows %d, like notifications %d; want 25, 25, 50", count, rows, notified)
	}
	after, err := s.User(ctx, author.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != before.Version {
		t.Errorf("the likes moved the author's version from %d to %d", before.Version, after.Version)
	}
	if _, err := s.Like(ctx, author.ID, post.ID); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1`, author.ID).Scan(&notified); err != nil || notified != 50 {
		t.Errorf("liking one's own post: %d notifications (%v), want still 50", notified, err)
	}
}

// toggle has each of likers like and unlike post at once with the others:
// the even ones three times (ending with a like), the odd ones four.
func toggle(t *testing.T, s *persistence.Store, post int64, likers []int64) {
	t.Helper()
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, len(likers))
	for i, id := range likers {
		wg.Go(func() {
			for round := range 3 + i%2 {
				var err error
				if round%2 == 0 {
					_, err = s.Like(ctx, id, post)
				} else {
					err = s.Unlike(ctx, id, post)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestReplies checks a reply's parent and the parent's count, the replies
// listed oldest first, the notification of the parent's author, and a
// parent's deletion, which keeps its replies without a parent.
func TestReplies(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	ann, bob := createUser(t, s, "ann"), createUser(t, s, "bob")
	token := login(t, s, "ann")
	parent, err := s.WritePost(ctx, ann.ID, "a question")
	if err != nil {
		t.Fatal(err)
	}
	var replies []int64
	for i, who := range []int64{bob.ID, ann.ID, bob.ID} {
		r, err := s.WriteReply(ctx, who, parent.ID, fmt.Sprintf("answer %d @ann", i))
		if err != nil {
			t.Fatal(err)
		}
		if r.ParentID != parent.ID {
			t.Errorf("reply %d: parent %d, want %d", r.ID, r.ParentID, parent.ID)
		}
		replies = append(replies, r.ID)
	}
	_, page, err := s.Replies(ctx, token, parent.ID, persistence.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := postIDs(page.Posts); fmt.Sprint(got) != fmt.Sprint(replies) || page.Total != 3 {
		t.Errorf("replies %v (total %d), want %v oldest first", got, page.Total, replies)
	}
	var kinds string
	if err := pool.QueryRow(ctx, `SELECT string_agg(type, ' ' ORDER BY id) FROM notifications WHERE user_id = $1`,
		ann.ID).Scan(&kinds); err != nil || kinds != "reply reply" {
		t.Errorf("ann's notifications %q (%v), want two replies and no mention besides them", kinds, err)
	}
	if _, err := s.WriteReply(ctx, bob.ID, 1<<40, "to nothing"); err != persistence.ErrNotFound {
		t.Errorf("a reply to no post: %v, want ErrNotFound", err)
	}
	if err := s.DeletePost(ctx, parent.ID, ann.ID, nil); err != nil {
		t.Fatal(err)
	}
	r, err := s.Post(ctx, replies[0])
	if err != nil || r.ParentID != 0 {
		t.Errorf("a reply after its parent's deletion: parent %d (%v), want none", r.ParentID, err)
	}
}

// TestLikersNewestFirst checks the order of a post's likers: the newest
// like first, and a like taken back and given again counts as new.
func TestLikersNewestFirst(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	author := createUser(t, s, "author")
	token := login(t, s, "author")
	post, err := s.WritePost(ctx, author.ID, "like me")
	if err != nil {
		t.Fatal(err)
	}
	var fans []int64
	for _, name := range []string{"first", "second", "third"} {
		fan := createUser(t, s, name)
		if _, err := s.Like(ctx, fan.ID, post.ID); err != nil {
			t.Fatal(err)
		}
		fans = append(fans, fan.ID)
	}
	if err := s.Unlike(ctx, fans[0], post.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Like(ctx, fans[0], post.ID); err != nil {
		t.Fatal(err)
	}
	page, err := s.Likers(ctx, token, post.ID, persistence.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, u := range page.Users {
		got = append(got, u.ID)
	}
	if want := []int64{fans[0], fans[2], fans[1]}; fmt.Sprint(got) != fmt.Sprint(want) || page.Total != 3 {
		t.Errorf("likers %v (total %d), want %v, newest like first", got, page.Total, want)
	}
}
