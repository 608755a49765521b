package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealGitPushScope: real git through the proxy to git's own
// git-http-backend, with a scoped credential. Pushes inside the scope
// land; a push that names any ref outside it lands nothing, and git
// prints "! [remote rejected] <ref> (<reason>)" for each of its refs.
func TestRealGitPushScope(t *testing.T) {
	root := t.TempDir()
	e := newEnvWith(t, func(e *env) http.HandlerFunc {
		h := gitHub(t, root, e.live)
		return func(w http.ResponseWriter, r *http.Request) {
			// net/http/cgi refuses chunked bodies; the server has
			// de-chunked it, and git-http-backend reads to EOF.
			r.TransferEncoding = nil
			h(w, r)
		}
	}, nil)
	writeScoped(t, e.credentials, e.token, testScope)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"HTTPS_PROXY=http://" + e.addr, "GIT_SSL_CAINFO=" + e.caFile,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Agent", "GIT_AUTHOR_EMAIL=agent@example.com", "GIT_COMMITTER_NAME=Agent", "GIT_COMMITTER_EMAIL=agent@example.com",
	}
	bare := filepath.Join(root, "octo", "hello.git")
	git := func(dir string, args ...string) (string, error) {
		t.Helper()
		return runClient(t, dir, env, "git", args...)
	}
	must := func(dir string, args ...string) string {
		t.Helper()
		out, err := git(dir, args...)
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must(root, "init", "-q", "--bare", "-b", "main", bare)
	must(root, "-C", bare, "config", "http.receivepack", "true")
	must(root, "-C", bare, "config", "receive.advertisePushOptions", "true")
	// Seed main and a user's branch directly (not through the proxy).
	seed := t.TempDir()
	must(seed, "init", "-q", "-b", "main", ".")
	must(seed, "commit", "-q", "--allow-empty", "-m", "seed")
	must(seed, "push", "-q", bare, "main", "main:users-work", "main:agent/old")
	refs := func() string { return must(root, "-C", bare, "for-each-ref", "--format=%(refname) %(objectname)") }

	work := t.TempDir()
	must(work, "clone", "-q", "https://github.com/octo/hello.git", "w")
	w := filepath.Join(work, "w")
	must(w, "commit", "-q", "--allow-empty", "-m", "agent's work")

	// Inside the scope: a new branch, push options, a delete, a force
	// push, and a push large enough for git's "0000" probe.
	for _, args := range [][]string{
		{"push", "-q", "origin", "HEAD:refs/heads/agent/x"},
		{"push", "-q", "-o", "ci.skip", "origin", "HEAD:refs/heads/agent/opts"},
		{"push", "-q", "origin", ":refs/heads/agent/old"},
		{"push", "-q", "--force", "origin", "HEAD~1:refs/heads/agent/x"},
	} {
		must(w, args...)
	}
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(i*7919 + i/13)
	}
	if err := os.WriteFile(filepath.Join(w, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	must(w, "add", "big.bin")
	must(w, "commit", "-q", "-m", "big")
	before := len(e.github.requests())
	if out, err := git(w, "-c", "http.postBuffer=4096", "push", "-q", "origin", "HEAD:refs/heads/docs-fix"); err != nil {
		t.Fatalf("big push: %v\n%s\n%s", err, out, e.logs.String())
	}
	sawProbe := false
	for _, r := range e.github.requests()[before:] {
		sawProbe = sawProbe || (r.Path == "/octo/hello.git/git-receive-pack" && string(r.Body) == "0000")
	}
	if !sawProbe {
		t.Error("the large push sent no probe, or the probe did not reach GitHub")
	}
	after := refs()
	for _, want := range []string{"refs/heads/agent/x", "refs/heads/agent/opts", "refs/heads/docs-fix"} {
		if !strings.Contains(after, want+" ") {
			t.Errorf("%s did not land:\n%s", want, after)
		}
	}
	if strings.Contains(after, "refs/heads/agent/old") {
		t.Errorf("the delete did not land:\n%s", after)
	}

	// Outside the scope: nothing lands, and git says why for each ref.
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"push", "origin", "HEAD:main"}, []string{"! [remote rejected] HEAD -> main (github-token-proxy: refused: git push would write branch \"main\" (update), which is outside this session's write scope (rule branch_not_in_scope). " + scopeMsg + ")"}},
		{[]string{"push", "origin", ":users-work"}, []string{"! [remote rejected] users-work (github-token-proxy: refused: git push would write branch \"users-work\" (delete)"}},
		{[]string{"push", "--atomic", "origin", "HEAD:refs/heads/agent/y", "HEAD:main"}, []string{"! [remote rejected] HEAD -> agent/y (github-token-proxy: refused: git push would write branch \"main\"", "! [remote rejected] HEAD -> main ("}},
		{[]string{"push", "origin", "HEAD:refs/heads/agent/z", "HEAD:main"}, []string{"! [remote rejected] HEAD -> agent/z (", "! [remote rejected] HEAD -> main ("}},
		{[]string{"push", "origin", "HEAD:refs/tags/v1"}, []string{"! [remote rejected] HEAD -> v1 (github-token-proxy: refused: git push would write \"refs/tags/v1\" (create), which is not a branch"}},
		{[]string{"-c", "http.postBuffer=4096", "push", "--force", "origin", "HEAD:main"}, []string{"! [remote rejected] HEAD -> main (github-token-proxy: refused: git push would write branch \"main\""}},
	} {
		before := refs()
		out, err := git(w, c.args...)
		t.Logf("git %s:\n%s", strings.Join(c.args, " "), out)
		if err == nil {
			t.Errorf("git %s succeeded:\n%s", strings.Join(c.args, " "), out)
		}
		for _, want := range c.want {
			if !strings.Contains(out, want) {
				t.Errorf("git %s: want %q in:\n%s", strings.Join(c.args, " "), want, out)
			}
		}
		if got := refs(); got != before {
			t.Errorf("git %s changed refs:\n%s\nto\n%s", strings.Join(c.args, " "), before, got)
		}
	}

	// A push from a shallow clone (shallow lines before the commands).
	must(work, "clone", "-q", "--depth", "1", "https://github.com/octo/hello.git", "s")
	s := filepath.Join(work, "s")
	must(s, "commit", "-q", "--allow-empty", "-m", "from shallow")
	must(s, "push", "-q", "origin", "HEAD:refs/heads/agent/shallow")
	if out, err := git(s, "push", "origin", "HEAD:main"); err == nil || !strings.Contains(out, "! [remote rejected] HEAD -> main (github-token-proxy: refused:") {
		t.Errorf("a shallow push to main: %v\n%s", err, out)
	}
}
