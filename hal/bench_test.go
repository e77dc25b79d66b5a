package hal_test

import (
	"strconv"
	"testing"
	"time"

	"microblog/hal"
)

// userPage is what GET /api/users?page=2&per_page=100 renders: a page of
// 100 users, each with the members and links resources gives a user, as
// user 1 sees them.
func userPage() *hal.Resource {
	seen := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	following := true
	items := make([]*hal.Resource, 100)
	for i := range items {
		id := int64(i + 1)
		path := "/api/users/" + strconv.FormatInt(id, 10)
		v := benchUser{ID: id, Username: "user" + strconv.FormatInt(id, 10), LastSeen: &seen,
			AboutMe: "Hi, I am user number " + strconv.FormatInt(id, 10) + ".", PostCount: 12, FollowerCount: 34, FollowingCount: 56}
		if id == 1 {
			v.Email = "user1@example.com"
		} else {
			v.IsFollowing = &following
		}
		res := hal.New(v).AddLink("self", hal.Link{Href: path}).
			AddLink("mb:followers", hal.Link{Href: path + "/followers"}).
			AddLink("mb:following", hal.Link{Href: path + "/following"}).
			AddLink("mb:posts", hal.Link{Href: path + "/posts"}).
			AddLink("mb:avatar", hal.Link{Href: "https://www.gravatar.com/avatar/0bc83cb571cd1c50ba6f3e8a78ef1346?d=identicon&s=128", Type: "image/png"})
		if id == 1 {
			res.AddLink("edit", hal.Link{Href: path})
		} else {
			res.AddLink("mb:unfollow", hal.Link{Href: "/api/users/1/following/" + strconv.FormatInt(id, 10)})
		}
		items[i] = res
	}
	p := hal.Page{Number: 2, Size: 100, TotalItems: 1000}
	return hal.New(struct {
		Meta hal.PageMeta `json:"_meta"`
	}{p.Meta()}).
		AddPageLinks("/api/users", p).
		AddCurie("mb", "/api/rels/{rel}").
		EmbedAll("mb:users", items)
}

// BenchmarkRenderUserPage renders a page of 100 users as resources' render
// does, without and with a base for the hrefs.
func BenchmarkRenderUserPage(b *testing.B) {
	res := userPage()
	for _, bm := range []struct{ name, base string }{{"root", ""}, {"prefixed", "/prefix"}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := res.AppendJSON(make([]byte, 0, 1024), bm.base); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
