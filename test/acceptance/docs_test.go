//go:build acceptance

package acceptance

// The docs cannot drift from the code: every shell block in README.md,
// docs/*.md and examples/*/README.md is run against `make dev` (a real
// Vault with the GitHub API double) in document order, or is marked with
// why it cannot be; every policy the docs show is included from
// examples/policies. Markers, on the line before a fence:
//
//	<!-- not-run: REASON -->         a shell block this test does not run
//	<!-- include: examples/policies/FILE.hcl -->
//	                                 a block that must equal that file
//
// A command whose trailing comment starts with an HTTP status (`# 403:
// outside bound`, `# Code: 403 ...`) must fail with that status.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docBlock is one fenced block of a Markdown file.
type docBlock struct {
	file   string // relative to the repository root
	line   int    // of the opening fence, 1-based
	lang   string
	body   string // without the fence's indentation
	marker string // "not-run", "include" or ""
	arg    string // the marker's reason or file
}

var (
	fenceRE  = regexp.MustCompile("^( *)```([A-Za-z0-9_-]*)\\s*$")
	markerRE = regexp.MustCompile(`^\s*<!--\s*(not-run|include):\s*(.*?)\s*-->\s*$`)
)

// docFiles lists the Markdown files the docs tests cover, relative to the
// repository root.
func docFiles(t testing.TB) []string {
	t.Helper()
	files := []string{"README.md"}
	for _, pattern := range []string{"docs/*.md", "examples/*/README.md"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(repoRoot, f)
			files = append(files, rel)
		}
	}
	return files
}

// docBlocks parses the fenced blocks of a Markdown file.
func docBlocks(t testing.TB, rel string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var blocks []docBlock
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		b := docBlock{file: rel, line: i + 1, lang: m[2]}
		if i > 0 {
			if mm := markerRE.FindStringSubmatch(lines[i-1]); mm != nil {
				b.marker, b.arg = mm[1], mm[2]
			}
		}
		indent := len(m[1])
		var body []string
		j := i + 1
		for ; j < len(lines); j++ {
			if strings.TrimSpace(lines[j]) == "```" {
				break
			}
			l := lines[j]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			body = append(body, l)
		}
		if j == len(lines) {
			t.Errorf("%s:%d: unterminated code block", rel, i+1)
		}
		if len(body) > 0 {
			b.body = strings.Join(body, "\n") + "\n"
		}
		blocks = append(blocks, b)
		i = j
	}
	return blocks
}

func isShell(lang string) bool {
	switch lang {
	case "sh", "shell", "console", "bash":
		return true
	}
	return false
}

// TestDocsPoliciesIncluded: every policy a doc shows is one of
// examples/policies, byte for byte, named by an include marker; a block
// that looks like a policy without one fails, and so does a marker whose
// block differs from its file.
func TestDocsPoliciesIncluded(t *testing.T) {
	t.Parallel()
	n := 0
	for _, rel := range docFiles(t) {
		for _, b := range docBlocks(t, rel) {
			where := fmt.Sprintf("%s:%d", b.file, b.line)
			switch {
			case b.marker == "include":
				if !strings.HasPrefix(b.arg, "examples/policies/") {
					t.Errorf("%s: include of %s: only examples/policies/ files are included", where, b.arg)
					continue
				}
				want, err := os.ReadFile(filepath.Join(repoRoot, b.arg))
				if err != nil {
					t.Errorf("%s: include: %v", where, err)
					continue
				}
				if b.body != string(want) {
					t.Errorf("%s: the block differs from %s; copy the file in again", where, b.arg)
				}
				n++
			case regexp.MustCompile(`(?m)^\s*path\s+"`).MatchString(b.body):
				t.Errorf("%s: a policy shown without <!-- include: examples/policies/FILE.hcl --> on the line before", where)
			case b.marker == "not-run" && !isShell(b.lang):
				t.Errorf("%s: not-run marker on a %q block", where, b.lang)
			}
		}
	}
	t.Logf("%d included policies match their files", n)
}

// docRuns: every file with runnable shell blocks; they run as printed,
// from the repository root. A file missing here whose blocks are not all
// marked not-run fails TestDocsShellBlocks.
var docRuns = map[string]bool{
	"README.md":                        true,
	"docs/policies.md":                 true,
	"docs/troubleshooting.md":          true,
	"docs/runner-integration.md":       true,
	"docs/upgrading.md":                true,
	"docs/migration.md":                true,
	"docs/multi-app.md":                true,
	"docs/operations.md":               true,
	"docs/github-enterprise-server.md": true,
	"examples/policies/README.md":      true,
	"examples/runner/README.md":        true,
}

// expectRE finds a trailing comment that starts with an HTTP status: the
// command must fail with it.
var expectRE = regexp.MustCompile(`^(.*?)\s+#\s*(?:Code:\s*)?([45]\d\d)\b.*$`)

// shellScript turns a block into bash: commands whose trailing comment
// starts with a status must fail and print "Code: <status>".
func shellScript(body string) string {
	var out strings.Builder
	lines := strings.Split(body, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		// A logical line: continuation lines joined.
		logical := l
		for strings.HasSuffix(strings.TrimRight(logical, " "), "\\") && i+1 < len(lines) {
			i++
			logical += "\n" + lines[i]
		}
		if m := expectRE.FindStringSubmatch(logical); m != nil && !strings.Contains(m[1], "'") {
			cmd, code := strings.TrimSpace(m[1]), m[2]
			fmt.Fprintf(&out, "if __out=$( { %s ; } 2>&1 ); then echo %q >&2; exit 1; fi\n", cmd, "expected HTTP "+code+", it succeeded: "+cmd)
			fmt.Fprintf(&out, "case \"$__out\" in *\"Code: %s\"*) ;; *) printf '%%s\\n' %q \"$__out\" >&2; exit 1 ;; esac\n", code, "expected HTTP "+code+": "+cmd)
			continue
		}
		out.WriteString(logical + "\n")
	}
	return out.String()
}

// copyRepo copies the working tree's files (no .git, no .dev) into dir.
func copyRepo(t testing.TB, dir string) {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		src := filepath.Join(repoRoot, f)
		fi, err := os.Stat(src)
		if err != nil {
			continue // deleted in the working tree
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDocsShellBlocks runs every shell block of the docs that is not
// marked not-run, as printed (nothing substituted): per file, a fresh
// `make dev` (detached, on a free port, in a copy of the repository), then
// the file's blocks in document order in one bash (set -euo pipefail) from
// the repository root, so later blocks see what earlier ones did. It fails on an unmarked block of a file it does not run, on a
// not-run marker without a reason, and on any command that fails (or, for
// a command marked with a status, one that succeeds).
func TestDocsShellBlocks(t *testing.T) {
	t.Parallel() // its files run one after the other
	for _, rel := range docFiles(t) {
		var run []docBlock
		for _, b := range docBlocks(t, rel) {
			if !isShell(b.lang) {
				continue
			}
			if b.marker == "not-run" {
				if len(b.arg) < 10 {
					t.Errorf("%s:%d: not-run marker without a reason", b.file, b.line)
				}
				continue
			}
			run = append(run, b)
		}
		if len(run) == 0 {
			continue
		}
		if !docRuns[rel] {
			for _, b := range run {
				t.Errorf("%s:%d: a shell block neither run by this test (docRuns) nor marked <!-- not-run: reason -->", b.file, b.line)
			}
			continue
		}
		t.Run(rel, func(t *testing.T) {
			runDocBlocks(t, rel, run)
		})
	}
}

func runDocBlocks(t *testing.T, rel string, blocks []docBlock) {
	repo := t.TempDir()
	copyRepo(t, repo)
	port := freePort(t)
	for freePortFree(port+1) != nil {
		port = freePort(t)
	}
	env := exampleEnv("DEV_DETACH=1", "DEV_VAULT_PORT="+strconv.Itoa(port), "VAULT_BIN="+vaultBin)
	t.Cleanup(func() {
		if out, errOut, err := runBounded(t, repo, exampleEnv(), "", 60*time.Second, "bash", "scripts/dev-stop.sh"); err != nil {
			t.Errorf("dev-stop.sh: %v\n%s%s", err, out, errOut)
		}
	})
	if out, errOut, err := runBounded(t, repo, env, "", 5*time.Minute, "bash", "scripts/dev.sh"); err != nil {
		t.Fatalf("make dev: %v\n%s%s", err, out, errOut)
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\nsource .dev/env\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n")
	for _, b := range blocks {
		fmt.Fprintf(&script, "echo '### %s:%d' >&2\n%s", b.file, b.line, shellScript(b.body))
	}
	done := filepath.Join(t.TempDir(), "done")
	fmt.Fprintf(&script, "echo '### done' >&2\ntouch %q\n", done)
	scriptPath := filepath.Join(t.TempDir(), "blocks.sh")
	if err := os.WriteFile(scriptPath, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runBounded(t, repo, exampleEnv(), "", 5*time.Minute, "bash", scriptPath)
	// Output is not logged whole: it holds tokens. The failing block and
	// the end of its error output are enough.
	if _, statErr := os.Stat(done); err != nil || statErr != nil {
		last := errOut
		if i := strings.LastIndex(errOut, "### "); i >= 0 {
			last = errOut[i:]
		}
		t.Fatalf("%s: %v; the block that failed and its error output:\n%s\n(stdout %d bytes; script %s)", rel, err, clipTail(last, 3000), len(out), scriptPath)
	}
	t.Logf("%s: %d blocks ran against make dev", rel, len(blocks))
}

func clipTail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// freePortFree reports whether port can be listened on (nil) now.
func freePortFree(port int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	return ln.Close()
}
