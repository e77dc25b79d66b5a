package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"microblog/persistence"
)

// seedPassword is the password of every seeded user; it is printed.
const seedPassword = "seed-password"

// seed fills the database with demo data, showing its progress with a
// seedView.
func seed(ctx context.Context, store *persistence.Store, opts persistence.SeedOptions, out io.Writer) error {
	opts.Password = seedPassword
	v := newSeedView(out, time.Now())
	err := store.Seed(ctx, opts, func(s persistence.SeedStep) { v.update(s, time.Now()) })
	v.clear()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded %d users (seed1 to seed%d, password %q), %d follows each, %d posts each (%d%% of them replies), "+
		"%d likes each, %d celebrity followers of seed1 and %d likes of its newest post, in %s\n",
		opts.Users, opts.Users, seedPassword, opts.FollowsPerUser, opts.PostsPerUser, opts.RepliesPercent,
		opts.LikesPerUser, opts.CelebrityFollowers, opts.HotPostLikes, time.Since(v.start).Round(time.Millisecond))
	return nil
}

// plainEvery is how often a status line is printed while a step runs, when
// the output is not a terminal.
const plainEvery = 5 * time.Second

// seedView shows a seed's progress. It prints a line when a load has sent
// its last row and when a step ends, each with the time since the seed
// started. Between them, a status line says what runs, with what
// PostgreSQL reports of its work: on a terminal, progressbar redraws it in
// place, with a bar while a load sends rows and a spinner otherwise;
// elsewhere it is printed when no line was for plainEvery. Seed reports at
// least once a second, so the view needs no clock of its own.
type seedView struct {
	out   io.Writer
	start time.Time
	// width returns the terminal's width; nil when out is not a terminal.
	width func() int
	// redraw is how often progressbar may redraw the status line; zero
	// redraws it on every report only.
	redraw time.Duration

	step      persistence.SeedStep
	stepStart time.Time
	printed   time.Time                // when the last line was printed
	allSent   bool                     // the step's "all rows sent" line is printed
	bar       *progressbar.ProgressBar // the status line on the terminal, if drawn
}

// newSeedView returns a view of a seed started at now, printing to out.
func newSeedView(out io.Writer, now time.Time) *seedView {
	v := &seedView{out: out, start: now, redraw: 100 * time.Millisecond}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.width = func() int {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 1 {
				return w
			}
			return 80
		}
	}
	return v
}

// update takes a report of the seed's progress. Seed never makes two at
// once, and progressbar locks its own redrawing.
func (v *seedView) update(s persistence.SeedStep, now time.Time) {
	if s.Name != v.step.Name {
		v.stepStart, v.printed, v.allSent = now, now, false
	}
	v.step = s
	took := short(now.Sub(v.stepStart))
	switch {
	case s.Done && s.Load:
		v.println(now, fmt.Sprintf("%s done: %d rows in %s", s.Name, s.Sent, took))
	case s.Done:
		v.println(now, fmt.Sprintf("%s done in %s", s.Name, took))
	case s.Load && s.Sent == s.Total && s.Sent > 0 && !v.allSent:
		v.allSent = true
		v.println(now, fmt.Sprintf("%s: all %d rows sent in %s, PostgreSQL is finishing the COPY", s.Name, s.Sent, took))
		v.draw(s)
	case v.width != nil:
		v.draw(s)
	case now.Sub(v.printed) >= plainEvery:
		v.println(now, status(s, now.Sub(v.stepStart)))
	}
}

// println prints line, with the time since the seed started, in place of
// the status line on a terminal.
func (v *seedView) println(now time.Time, line string) {
	v.clear()
	fmt.Fprintf(v.out, "seed: %s (%s)\n", line, short(now.Sub(v.start)))
	v.printed = now
}

// draw shows step s on the terminal's status line, if out is one. A load
// sends its rows under a bar, whose time is the step's; what comes after,
// or a step without rows, turns a spinner, whose time is since it appeared.
func (v *seedView) draw(s persistence.SeedStep) {
	if v.width == nil {
		return
	}
	// A line wider than the terminal would wrap and could not be redrawn
	// in place. progressbar fits its bar to the terminal but not the
	// description, so that gets the width less what progressbar draws
	// around it: with a spinner at most 14 columns, with a bar of 20 at
	// most 41 (percentage, elapsed time up to "10h0m0s", brackets, spaces).
	total, around := int64(-1), 14 // -1: no total, a spinner
	if s.Load && s.Sent < s.Total {
		total, around = s.Total, 41
	}
	desc := status(s, 0)
	if r, room := []rune(desc), v.width()-1-around; len(r) > room {
		desc = string(r[:max(room-1, 0)]) + "…"
	}
	if v.bar != nil {
		v.bar.Describe(desc)
	} else {
		v.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(v.out),
			progressbar.OptionSetDescription(desc), progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetWidth(20), progressbar.OptionSpinnerType(14),
			progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(v.redraw), progressbar.OptionSetSpinnerChangeInterval(v.redraw),
			progressbar.OptionUseANSICodes(true), progressbar.OptionClearOnFinish(),
			progressbar.OptionSetRenderBlankState(true))
	}
	if total > 0 {
		_ = v.bar.Set64(s.Sent)
	}
}

// clear erases the status line from the terminal: a finished bar is
// cleared and its spinner stops.
func (v *seedView) clear() {
	if v.bar != nil {
		_ = v.bar.Finish()
		v.bar = nil
	}
}

// status says what step s does, and for how long unless took is zero.
func status(s persistence.SeedStep, took time.Duration) string {
	line, during := s.Name+": running", " for "
	if s.Load && s.Sent < s.Total {
		line, during = fmt.Sprintf("%s: %d/%d rows sent", s.Name, s.Sent, s.Total), " in "
	} else if s.Load {
		line = fmt.Sprintf("%s: %d rows sent, COPY running", s.Name, s.Sent)
	}
	if took > 0 {
		line += during + short(took).String()
	}
	if s.Database != "" {
		line += "; PostgreSQL: " + s.Database
	}
	return line
}

// short rounds a duration for people: milliseconds under a second, tenths
// of seconds under a minute, seconds above.
func short(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
