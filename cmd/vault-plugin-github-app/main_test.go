package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestProfilerOnlyWithTag: the plugin as make build, the release and the
// acceptance tests build it has no profiling listener; only a build with
// -tags pprof (pprof.go) imports net/http/pprof.
func TestProfilerOnlyWithTag(t *testing.T) {
	deps := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command("go", append(append([]string{"list", "-deps"}, args...), ".")...)
		cmd.Env = append(os.Environ(), "GOFLAGS=") // a caller's GOFLAGS=-tags=pprof would build it in
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	if slices.Contains(deps(), "net/http/pprof") {
		t.Error("the plugin imports net/http/pprof without -tags pprof")
	}
	if !slices.Contains(deps("-tags", "pprof"), "net/http/pprof") {
		t.Error("-tags pprof does not build the profiling listener in")
	}
}
