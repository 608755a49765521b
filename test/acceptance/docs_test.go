//go:build acceptance

package acceptance

// The docs cannot drift from the code: every shell block in README.md,
// docs/*.md and examples/*/README.md is run, as printed, against one
// `make dev` (a real Vault with the GitHub API double), file after file in
// the reading order of the README's list of guides, as one reader would
// in one shell, or is marked with why it cannot be; every policy the docs
// show is included from examples/policies. Markers, on the line before a
// fence:
//
//	<!-- not-run: REASON -->         a shell block this test does not run
//	<!-- include: examples/policies/FILE.hcl -->
//	                                 a block that must equal that file
//
// A command whose trailing comment starts with an HTTP status (`# 403:
// outside bound`, `# Code: 403 ...`) must fail with that status. A
// ```console block is a transcript: "$ " lines are commands, the lines
// after one are its output ("…" or "..." for any text), and the output
// must be what is printed.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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

// guideOrder is the reading order: README.md, then the files its list of
// guides links to, in order (between <!-- guides --> and <!-- /guides -->).
// Every file docFiles covers must be in it, once.
func guideOrder(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n<!-- guides")
	list, _, ok2 := strings.Cut(rest, "\n<!-- /guides -->")
	if !ok || !ok2 {
		t.Fatal("README.md: no <!-- guides: ... --> ... <!-- /guides --> list (the reading order)")
	}
	order := []string{"README.md"}
	for _, m := range regexp.MustCompile(`\]\(([^)#]+\.md)\)`).FindAllStringSubmatch(list, -1) {
		if slices.Contains(order, m[1]) {
			t.Errorf("README.md's list of guides names %s twice", m[1])
			continue
		}
		order = append(order, m[1])
	}
	for _, f := range docFiles(t) {
		if !slices.Contains(order, f) {
			t.Errorf("%s is not in README.md's list of guides (the reading order the docs test runs)", f)
		}
	}
	for _, f := range order {
		if _, err := os.Stat(filepath.Join(repoRoot, f)); err != nil {
			t.Errorf("README.md's list of guides: %v", err)
		}
	}
	return order
}

// transcript is one command of a console block and the output the block
// shows for it.
type transcript struct {
	where string // file:line of the command
	cmd   string
	want  string
}

// consoleTranscripts splits a console block: "$ " starts a command (with
// its continuation lines), the lines up to the next command are its output.
func consoleTranscripts(b docBlock) ([]transcript, error) {
	var out []transcript
	lines := strings.Split(strings.TrimSuffix(b.body, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		cmd, ok := strings.CutPrefix(l, "$ ")
		if !ok {
			if len(out) == 0 {
				return nil, fmt.Errorf("%s:%d: a console block starts with a command, \"$ ...\"", b.file, b.line)
			}
			out[len(out)-1].want += l + "\n"
			continue
		}
		tr := transcript{where: fmt.Sprintf("%s:%d", b.file, b.line+1+i), cmd: cmd}
		for strings.HasSuffix(tr.cmd, "\\") && i+1 < len(lines) {
			i++
			tr.cmd += "\n" + lines[i]
		}
		out = append(out, tr)
	}
	return out, nil
}

// transcriptMatches: got is want, line for line (trailing spaces aside),
// where "…" or "..." in want stands for any text, across lines too.
func transcriptMatches(want, got string) bool {
	norm := func(s string) string {
		var ls []string
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			ls = append(ls, strings.TrimRight(l, " \t"))
		}
		return strings.Join(ls, "\n")
	}
	re := messagePattern(norm(want))
	return regexp.MustCompile(`(?s)\A(?:` + re.String() + `)\z`).MatchString(norm(got))
}

var tokenRE = regexp.MustCompile(`gh[sp]_[A-Za-z0-9]{20,}`)

// TestDocsShellBlocks runs the docs as a reader does: one `make dev`
// (detached, on a free port, in a copy of the repository), the commands
// it prints under "Use it from another shell", then every shell block of
// README.md and of the guides in the README's reading order, all in one
// bash (set -euo pipefail) from the repository root after `source
// .dev/env`, so each guide sees what the ones before it did. Blocks run
// as printed: nothing is substituted. Each guide must leave the shell
// where it found it, at the root, with nothing it started still running.
// A console block is a transcript: its "$ " commands run, and their
// output must be what the block shows; any other block that starts with
// a command is refused. The test fails on a not-run marker
// without a reason, on any command that fails (or, for a command marked
// with a status, one that succeeds), and on output that differs.
func TestDocsShellBlocks(t *testing.T) {
	t.Parallel()
	order := guideOrder(t)
	if t.Failed() {
		return
	}
	repo := t.TempDir()
	copyRepo(t, repo)
	port := freePort(t)
	for freePortFree(port+1) != nil {
		port = freePort(t)
	}
	// The proxy's try-it listens on DEV_PROXY_PORT (make dev writes it to
	// .dev/env), free like Vault's, so that runs at once do not collide.
	env := exampleEnv("DEV_DETACH=1", "DEV_VAULT_PORT="+strconv.Itoa(port), "DEV_PROXY_PORT="+strconv.Itoa(freePort(t)), "VAULT_BIN="+vaultBin)
	t.Cleanup(func() {
		if out, errOut, err := runBounded(t, repo, exampleEnv(), "", 60*time.Second, "bash", "scripts/dev-stop.sh"); err != nil {
			t.Errorf("dev-stop.sh: %v\n%s%s", err, out, errOut)
		}
	})
	devOut, errOut, err := runBounded(t, repo, env, "", 5*time.Minute, "bash", "scripts/dev.sh")
	if err != nil {
		t.Fatalf("make dev: %v\n%s%s", err, devOut, errOut)
	}
	// The commands make dev suggests.
	_, hint, ok := strings.Cut(devOut, "\nUse it from another shell:\n")
	hint, _, _ = strings.Cut(hint, "\n\n")
	var hints []string
	for _, l := range strings.Split(hint, "\n") {
		if c, ok := strings.CutPrefix(l, "  vault "); ok {
			hints = append(hints, "vault "+c)
		}
	}
	if !ok || len(hints) < 3 {
		t.Fatalf("make dev printed no \"Use it from another shell:\" commands:\n%s", devOut)
	}

	outDir := t.TempDir()
	var script strings.Builder
	fmt.Fprintf(&script, "set -euo pipefail\nroot=$PWD\nsource .dev/env\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n")
	// between: the shell is back at the root and nothing a guide started
	// in the background still runs (a few seconds for it to exit).
	between := func(prev string) {
		fmt.Fprintf(&script, "[ \"$PWD\" = \"$root\" ] || { echo %q \"$PWD\" >&2; exit 1; }\n", "### "+prev+" leaves the shell outside the repository root, in")
		fmt.Fprintf(&script, "for __i in $(seq 50); do [ -z \"$(jobs -pr)\" ] && break; sleep 0.2; done\n")
		fmt.Fprintf(&script, "[ -z \"$(jobs -pr)\" ] || { echo %q >&2; jobs -r >&2; exit 1; }\n", "### "+prev+" leaves a process it started running:")
	}
	script.WriteString("echo '### make dev: its suggested commands' >&2\n" + strings.Join(hints, "\n") + "\n")
	prev := "make dev's suggested commands"
	var transcripts []transcript
	blocks, files := 0, 0
	for _, rel := range order {
		var run []docBlock
		for _, b := range docBlocks(t, rel) {
			if b.marker == "not-run" {
				if !isShell(b.lang) {
					continue // TestDocsPoliciesIncluded reports it
				}
				if len(b.arg) < 10 {
					t.Errorf("%s:%d: not-run marker without a reason", b.file, b.line)
				}
				continue
			}
			if isShell(b.lang) {
				run = append(run, b)
				continue
			}
			// A command with its output is a transcript, run and compared.
			if first, _, _ := strings.Cut(b.body, "\n"); strings.HasPrefix(first, "$ ") || strings.HasPrefix(first, "vault ") {
				t.Errorf("%s:%d: a command and what it prints: make it a ```console block (\"$ \" before each command), which this test runs and compares", b.file, b.line)
			}
		}
		if len(run) == 0 {
			continue
		}
		between(prev)
		prev = rel
		files++
		for _, b := range run {
			blocks++
			fmt.Fprintf(&script, "echo '### %s:%d' >&2\n", b.file, b.line)
			if b.lang != "console" {
				script.WriteString(shellScript(b.body))
				continue
			}
			trs, err := consoleTranscripts(b)
			if err != nil {
				t.Error(err)
				continue
			}
			for _, tr := range trs {
				f := filepath.Join(outDir, strconv.Itoa(len(transcripts)))
				fmt.Fprintf(&script, "__out=$( { %s\n} 2>&1 ) || true\nprintf '%%s\\n' \"$__out\" > %q\n", tr.cmd, f)
				transcripts = append(transcripts, tr)
			}
		}
	}
	between(prev)
	done := filepath.Join(t.TempDir(), "done")
	fmt.Fprintf(&script, "echo '### done' >&2\ntouch %q\n", done)
	scriptPath := filepath.Join(t.TempDir(), "guides.sh")
	if err := os.WriteFile(scriptPath, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}
	out, errOut, err := runBounded(t, repo, exampleEnv(), "", 10*time.Minute, "bash", scriptPath)
	// Output is not logged whole: it holds tokens. The failing block and
	// the end of its error output are enough.
	if _, statErr := os.Stat(done); err != nil || statErr != nil {
		last := errOut
		if i := strings.LastIndex(errOut, "### "); i >= 0 {
			last = errOut[i:]
		}
		t.Fatalf("%v; the block that failed and its error output:\n%s\n(stdout %d bytes; script %s)", err, tokenRE.ReplaceAllString(clipTail(last, 3000), "gh?_REDACTED"), len(out), scriptPath)
	}
	for i, tr := range transcripts {
		got, err := os.ReadFile(filepath.Join(outDir, strconv.Itoa(i)))
		if err != nil {
			t.Errorf("%s: %v", tr.where, err)
			continue
		}
		if !transcriptMatches(tr.want, string(got)) {
			t.Errorf("%s: $ %s\nprints:\n%s\nthe block shows:\n%s", tr.where, tr.cmd, tokenRE.ReplaceAllString(string(got), "gh?_REDACTED"), tr.want)
		}
	}
	t.Logf("%d commands make dev suggests, then %d blocks of %d files in reading order (%d transcripts) ran against one make dev", len(hints), blocks, files, len(transcripts))
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
