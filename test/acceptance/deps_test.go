//go:build acceptance

package acceptance

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// depsRows is scripts/deps.sh's table: tool and Debian package.
func depsRows(t *testing.T) [][2]string {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "deps.sh"), "--list").Output()
	if err != nil {
		t.Fatalf("deps.sh --list: %v", err)
	}
	var rows [][2]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			t.Fatalf("deps.sh --list: line %q is not TOOL PACKAGE", l)
		}
		rows = append(rows, [2]string{f[0], f[1]})
	}
	if len(rows) < 5 {
		t.Fatalf("deps.sh --list: %d rows, want the whole table", len(rows))
	}
	return rows
}

// pathWithout builds a directory of links to every program on PATH except
// those hidden, as on a machine where they were never installed.
func pathWithout(t *testing.T, hidden func(name string) bool) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if hidden(name) {
				continue
			}
			src := filepath.Join(d, name)
			if fi, err := os.Stat(src); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				continue
			}
			if err := os.Symlink(src, filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrExist) {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// TestDepsMessage: on a machine without the tools the tests need, `make
// test-all`'s first step (scripts/deps.sh; --check, which never installs)
// stops at once with one message that names every missing tool, Go and
// Node.js included (those two with where to get them, not apt), and one
// apt-get command that installs every missing package. A Node.js older
// than the preload's undici needs (Debian 12's 18) is named as missing.
// With the tools present it says nothing. The README's quickstart names
// every package of the table, and Node.js.
func TestDepsMessage(t *testing.T) {
	t.Parallel()
	rows := depsRows(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repoRoot, "scripts", "deps.sh")

	// Present: nothing to say (this machine runs the tests, so it has them).
	out, errOut, err := runBounded(t, repoRoot, os.Environ(), "", time.Minute, bash, script, "--check")
	if err != nil || out != "" || errOut != "" {
		t.Fatalf("deps.sh --check with every tool present: %v, stdout %q, stderr %q", err, out, errOut)
	}

	// Missing: every tool of the table and Go, hidden from PATH.
	hide := map[string]bool{"go": true, "gofmt": true, "apt-get": true, "sudo": true, "node": true, "npm": true}
	for _, r := range rows {
		hide[r[0]] = true
		hide[r[1]] = true
	}
	path := pathWithout(t, func(name string) bool {
		return hide[name] || strings.HasPrefix(name, "python") || strings.HasPrefix(name, "git")
	})
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+path)
	out, errOut, err = runBounded(t, repoRoot, env, "", time.Minute, bash, script, "--check")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("deps.sh --check with the tools hidden: %v, want exit status 1\n%s", err, errOut)
	}
	if out != "" {
		t.Errorf("stdout %q, want the message on stderr only", out)
	}
	t.Logf("the message:\n%s", errOut)
	if !strings.HasPrefix(errOut, "deps: make test-all needs what this machine lacks:\n") {
		t.Errorf("the message does not start with its heading")
	}
	named := func(tool string) bool {
		return regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(tool) + ` +\S`).MatchString(errOut)
	}
	if !named("go") {
		t.Errorf("Go is not named")
	}
	nodeLine := regexp.MustCompile(`(?m)^  node +Node\.js 20\.18\.1 or newer, with npm: https://nodejs\.org/ or NodeSource's packages \(not Debian 12's nodejs, which is 18\)$`)
	if !nodeLine.MatchString(errOut) {
		t.Errorf("Node.js is not named with where to get it (nodejs.org or NodeSource, not Debian's nodejs)")
	}
	// The Python modules are looked for in /usr/bin/python3 too, where
	// apt puts them, which a PATH cannot hide.
	inSystemPython := func(module string) bool {
		return exec.Command("/usr/bin/python3", "-c", "import "+module).Run() == nil
	}
	modules := map[string]string{"PyYAML": "yaml", "python-requests": "requests"}
	var pkgs []string
	for _, r := range rows {
		if m, ok := modules[r[0]]; ok && inSystemPython(m) {
			continue
		}
		if !named(r[0]) {
			t.Errorf("%s (package %s) is missing but not named", r[0], r[1])
		}
		if !slices.Contains(pkgs, r[1]) {
			pkgs = append(pkgs, r[1])
		}
	}
	install := "  sudo apt-get update && sudo apt-get install -y " + strings.Join(pkgs, " ") + "\n"
	if !strings.Contains(errOut, install) {
		t.Errorf("the message lacks the command that installs every missing package:\n%s", install)
	}
	if n := strings.Count(errOut, "deps: "); n != 1 {
		t.Errorf("%d messages, want one", n)
	}

	// Everything present but a Node.js too old for the preload (Debian
	// 12's): the message names node alone, and no apt-get command.
	old := t.TempDir()
	for name, script := range map[string]string{"node": "echo v18.19.0", "npm": "echo 9.2.0"} {
		if err := os.WriteFile(filepath.Join(old, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env = nil
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+old+string(filepath.ListSeparator)+os.Getenv("PATH"))
	out, errOut, err = runBounded(t, repoRoot, env, "", time.Minute, bash, script, "--check")
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || out != "" {
		t.Fatalf("deps.sh --check with Node.js 18: %v, stdout %q, want exit status 1\n%s", err, out, errOut)
	}
	t.Logf("the message with Node.js 18:\n%s", errOut)
	if !nodeLine.MatchString(errOut) || strings.Count(errOut, "\n  ") != 1 || strings.Contains(errOut, "apt-get") {
		t.Errorf("with Node.js 18 and everything else present, want the message to name node alone")
	}

	// The quickstart lists the prerequisites.
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	quick, _, _ := strings.Cut(string(readme)[strings.Index(string(readme), "## Quickstart"):], "\n## ")
	for _, r := range rows {
		if !strings.Contains(quick, "`"+r[1]+"`") {
			t.Errorf("README.md's quickstart does not name the package `%s` (for %s)", r[1], r[0])
		}
	}
	if !strings.Contains(quick, "Node.js 20.18.1") || !strings.Contains(quick, "nodejs.org") {
		t.Errorf("README.md's quickstart does not name Node.js 20.18.1 and nodejs.org")
	}
}
