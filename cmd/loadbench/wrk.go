package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"microblog/persistence/pglocal/child"
)

// wrkSettings are the wrk options every scenario runs with.
type wrkSettings struct {
	path        string // the wrk binary
	threads     int
	connections int
	duration    time.Duration
	warmup      time.Duration
}

// wrkResult is what loadbench reads from one wrk run's output.
type wrkResult struct {
	requests  int64   // "N requests in ..."
	perSecond float64 // "Requests/sec:"
	p50, p99  time.Duration
	// non2xx is wrk's "Non-2xx or 3xx responses", 0 when wrk printed none.
	non2xx int64
	// socketErrors sums wrk's "Socket errors" (connect, read, write,
	// timeout), 0 when wrk printed none.
	socketErrors int64
	// likePUTs and likesMade are what the like scenario's script counts:
	// the PUTs it sent and the 201s it got back (likeScript).
	likePUTs, likesMade int64
}

// postScript is the Lua script of the POST scenario. The Authorization
// header comes from -H, which wrk puts into wrk.headers before the script
// runs.
const postScript = `wrk.method = "POST"
wrk.body = '{"body":"load test post"}'
wrk.headers["Content-Type"] = "application/json"
`

// runWrk runs wrk against url for d with the bearer token, and the Lua
// script at scriptPath when it is not empty, and parses what it prints.
func runWrk(ctx context.Context, s wrkSettings, d time.Duration, url, token, scriptPath string) (wrkResult, error) {
	args := []string{
		"-t" + strconv.Itoa(s.threads),
		"-c" + strconv.Itoa(s.connections),
		// wrk reads a number and a unit; Go's "1m0s" would not do.
		"-d" + strconv.Itoa(int(d/time.Second)) + "s",
		"--latency",
		"-H", "Authorization: Bearer " + token,
	}
	if scriptPath != "" {
		args = append(args, "-s", scriptPath)
	}
	args = append(args, url)
	// A terminal's Ctrl-C reaches this program only, which kills wrk
	// through ctx; interrupted, wrk would print partial results and exit 0.
	cmd := child.Command(ctx, syscall.SIGKILL, 0, s.path, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, ctx.Err()
		}
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	r, err := parseWrk(out.String())
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out.String())
	}
	return r, nil
}

// wrkVersion returns the first line of "wrk -v", or "" when it says
// nothing.
func wrkVersion(ctx context.Context, path string) string {
	// wrk -v prints its version and usage and exits 1.
	out, _ := child.Command(ctx, syscall.SIGKILL, 0, path, "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	return strings.TrimSpace(line)
}

// parseWrk reads the throughput, the median and 99th percentile latency
// and the error counts from the output of wrk --latency.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRate, haveP50, haveP99, inDistribution bool
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		fields := strings.Fields(line)
		var err error
		switch {
		case line == "Latency Distribution":
			inDistribution = true
		case inDistribution && len(fields) == 2 && strings.HasSuffix(fields[0], "%"):
			switch fields[0] {
			case "50%":
				r.p50, err = parseWrkDuration(fields[1])
				haveP50 = err == nil
			case "99%":
				r.p99, err = parseWrkDuration(fields[1])
				haveP99 = err == nil
			}
		case len(fields) >= 3 && fields[1] == "requests" && fields[2] == "in":
			inDistribution = false
			r.requests, err = strconv.ParseInt(fields[0], 10, 64)
		case strings.HasPrefix(line, "Requests/sec:"):
			r.perSecond, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			haveRate = err == nil
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			r.non2xx, err = strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
		case strings.HasPrefix(line, "Socket errors:"):
			r.socketErrors, err = sumSocketErrors(strings.TrimPrefix(line, "Socket errors:"))
		case strings.HasPrefix(line, "Like PUTs:"):
			_, err = fmt.Sscanf(line, "Like PUTs: %d sent, %d answered 201", &r.likePUTs, &r.likesMade)
		}
		if err != nil {
			return wrkResult{}, fmt.Errorf("parse wrk output line %q: %w", line, err)
		}
	}
	if !haveRate || !haveP50 || !haveP99 {
		return wrkResult{}, errors.New("parse wrk output: no Requests/sec, or no 50% and 99% lines under Latency Distribution (was it run with --latency?)")
	}
	return r, nil
}

// parseWrkDuration reads a latency as wrk prints it: a number with two
// decimals and the unit us, ms, s, m or h, all of which Go's durations
// know.
func parseWrkDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("latency %q: %w", s, err)
	}
	return d, nil
}

// sumSocketErrors adds up " connect 0, read 0, write 0, timeout 2".
func sumSocketErrors(s string) (int64, error) {
	var sum int64
	for part := range strings.SplitSeq(s, ",") {
		fields := strings.Fields(part)
		if len(fields) != 2 {
			return 0, fmt.Errorf("socket errors %q: want name and count", part)
		}
		n, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("socket errors: %w", err)
		}
		sum += n
	}
	return sum, nil
}

// writeScript writes a wrk Lua script into dir and returns its path.
func writeScript(dir, name, script string) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return "", fmt.Errorf("write wrk script: %w", err)
	}
	return path, nil
}
