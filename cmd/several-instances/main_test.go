package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSeveralInstances runs the whole flow with a shorter load: two
// instances behind nginx, one killed halfway, and no idempotent request
// lost. It needs nginx, as CI installs it; without it the test fails.
func TestSeveralInstances(t *testing.T) {
	if _, err := findNginx(); err != nil {
		t.Fatalf("this test runs nginx in front of the instances: %v", err)
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"-duration", "4s", "-workers", "6"}, &out, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{
		"migrations applied by each",
		"client-visible failures of idempotent requests (GET): 0 (target 0)",
		"moved to the other instance by nginx",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
}

func TestFlagsRefused(t *testing.T) {
	for _, args := range [][]string{{"-duration", "0s"}, {"-workers", "0"}, {"stray"}} {
		var out bytes.Buffer
		if err := run(t.Context(), args, &out, &out); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
