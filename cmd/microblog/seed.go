package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

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
	stop := v.animate()
	err := store.Seed(ctx, opts, func(s persistence.SeedStep) { v.update(s, time.Now()) })
	stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded %d users (seed1 to seed%d, password %q), %d follows each, %d posts each, %d celebrity followers of seed1, in %s\n",
		opts.Users, opts.Users, seedPassword, opts.FollowsPerUser, opts.PostsPerUser, opts.CelebrityFollowers,
		time.Since(v.start).Round(time.Millisecond))
	return nil
}

// plainEvery is how often a status line is printed while a step runs, when
// the output is not a terminal.
const plainEvery = 5 * time.Second

// seedView shows a seed's progress. It prints a line when a load has sent
// its last row and when a step ends, each with the time since the seed
// started. Between them, a status line says what runs and for how long,
// with what PostgreSQL reports of its work: on a terminal it is redrawn in
// place with a spinner and a bar, elsewhere printed every plainEvery.
type seedView struct {
	out   io.Writer
	start time.Time
	// width returns the terminal's width; nil when out is not a terminal.
	width func() int

	mu        sync.Mutex
	step      persistence.SeedStep
	stepStart time.Time
	printed   time.Time // when the last line was printed
	allSent   bool      // the step's "all rows sent" line is printed
	drawn     bool      // a status line is on the terminal
	frame     int       // of the spinner
}

// newSeedView returns a view of a seed started at now, printing to out.
func newSeedView(out io.Writer, now time.Time) *seedView {
	v := &seedView{out: out, start: now}
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

// animate ticks the view until stop is called, which clears a status line
// left on the terminal.
func (v *seedView) animate() (stop func()) {
	every := time.Second
	if v.width != nil {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				v.tick(now)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		v.mu.Lock()
		defer v.mu.Unlock()
		v.clear()
	}
}

// update takes a report of the seed's progress.
func (v *seedView) update(s persistence.SeedStep, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
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
		v.draw(now)
	}
	// Otherwise the next tick draws the news, so that a terminal is not
	// redrawn for every report.
}

// tick moves the spinner on a terminal and elsewhere prints a status line
// if none was printed for plainEvery.
func (v *seedView) tick(now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.frame++
	if v.width == nil && v.step.Name != "" && !v.step.Done && now.Sub(v.printed) >= plainEvery {
		v.println(now, v.status(now))
	}
	v.draw(now)
}

// status says what the current step does and for how long.
func (v *seedView) status(now time.Time) string {
	s := v.step
	took := short(now.Sub(v.stepStart))
	var line string
	switch {
	case s.Load && s.Sent < s.Total:
		line = fmt.Sprintf("%s: %d/%d rows sent in %s", s.Name, s.Sent, s.Total, took)
	case s.Load:
		line = fmt.Sprintf("%s: %d rows sent, COPY running for %s", s.Name, s.Sent, took)
	default:
		line = fmt.Sprintf("%s: running for %s", s.Name, took)
	}
	if s.Database != "" {
		line += "; PostgreSQL: " + s.Database
	}
	return line
}

// println prints line, with the time since the seed started, above the
// status line on a terminal.
func (v *seedView) println(now time.Time, line string) {
	v.clear()
	fmt.Fprintf(v.out, "seed: %s (%s)\n", line, short(now.Sub(v.start)))
	v.printed = now
}

// draw redraws the status line of a running step on a terminal.
func (v *seedView) draw(now time.Time) {
	if v.width == nil || v.step.Name == "" || v.step.Done {
		return
	}
	spinner := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
	line := string(spinner[v.frame%len(spinner)]) + " "
	if s := v.step; s.Load && s.Sent < s.Total {
		done := int(20 * s.Sent / s.Total)
		line += "[" + strings.Repeat("=", done) + strings.Repeat(" ", 20-done) + "] "
	}
	// A line wider than the terminal would wrap, and \r would then
	// redraw only its last part.
	r := []rune(line + v.status(now))
	if w := v.width() - 1; len(r) > w {
		r = r[:w]
	}
	fmt.Fprint(v.out, "\r\033[K"+string(r))
	v.drawn = true
}

// clear erases the status line from the terminal.
func (v *seedView) clear() {
	if v.drawn {
		fmt.Fprint(v.out, "\r\033[K")
		v.drawn = false
	}
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
