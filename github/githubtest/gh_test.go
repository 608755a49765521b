package githubtest_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// ghDouble runs the real gh (and git) against the double under github.com's
// names: a CONNECT proxy on loopback sends every host to the double, whose
// certificate names github.com and api.github.com.
type ghDouble struct {
	*gitDouble
	proxyURL string
	home     string
	token    string
}

func newGHDouble(t *testing.T) *ghDouble {
	t.Helper()
	if _, err := exec.LookPath("gh"); err != nil {
		t.Fatal("these tests need gh (Debian package gh):", err)
	}
	g := newGitDouble(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", "127.0.0.1:"+g.port)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			conn.Close()
			up.Close()
			return
		}
		wg.Add(2)
		go func() { defer wg.Done(); io.Copy(up, rw.Reader); up.(*net.TCPConn).CloseWrite() }()
		go func() { defer wg.Done(); io.Copy(conn, up); conn.Close() }()
	})}
	go srv.Serve(ln) //nolint:errcheck // ErrServerClosed
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	d := &ghDouble{gitDouble: g, proxyURL: "http://" + ln.Addr().String(), home: t.TempDir()}
	d.token = g.mint(t, nil)
	return d
}

// env is the environment of gh and git: the proxy, the double's CA, the
// token as GH_TOKEN for gh and from a credential helper for git.
func (d *ghDouble) env(extra ...string) []string {
	return append([]string{
		"HOME=" + d.home, "PATH=" + os.Getenv("PATH"),
		"HTTPS_PROXY=" + d.proxyURL, "https_proxy=" + d.proxyURL,
		"SSL_CERT_FILE=" + d.caFile, "GIT_SSL_CAINFO=" + d.caFile,
		"GH_TOKEN=" + d.token, "GH_HOST=github.com", "GH_CONFIG_DIR=" + filepath.Join(d.home, ".config", "gh"),
		"GH_NO_UPDATE_NOTIFIER=1", "GH_PROMPT_DISABLED=1", "NO_COLOR=1", "GH_PAGER=cat", "PAGER=cat",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	}, extra...)
}

// run runs a command in dir; it returns stdout and stderr.
func (d *ghDouble) run(t *testing.T, dir string, env []string, name string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// clone clones acme/widgets into a new directory, with a credential helper
// that gives git the token.
func (d *ghDouble) clone(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "widgets")
	helper := "credential.helper=!f() { test \"$1\" = get && echo username=x-access-token && echo password=" + d.token + "; }; f"
	if out, errOut, err := d.run(t, "", d.env(), "git", "-c", helper, "clone", "--quiet", "https://github.com/acme/widgets.git", dir); err != nil {
		t.Fatalf("clone: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := d.run(t, dir, d.env(), "git", "config", "credential.helper", helper[len("credential.helper="):]); err != nil {
		t.Fatalf("git config: %v\n%s%s", err, out, errOut)
	}
	return dir
}

// ghRun runs gh (or git) in dir and returns its output; the GraphQL
// documents gh sent (sorted) are compared with testdata/gh-<version>/<golden>.graphql
// (golden "" skips that), so that a gh whose queries change shows up here.
// GH_GOLDEN_UPDATE=1 writes the files instead.
func (d *ghDouble) ghRun(t *testing.T, dir, golden string, wantErr bool, args ...string) string {
	t.Helper()
	from := len(d.Calls())
	out, errOut, err := d.run(t, dir, d.env(), args[0], args[1:]...)
	if (err != nil) != wantErr {
		t.Fatalf("%s: %v, want error %v\n%s%s", strings.Join(args, " "), err, wantErr, out, errOut)
	}
	if golden == "" {
		return out + errOut
	}
	var docs []string
	for _, c := range d.Calls()[from:] {
		for _, q := range c.GraphQL {
			docs = append(docs, strings.TrimSpace(q))
		}
	}
	// gh sends some queries concurrently: compare them in sorted order.
	slices.Sort(docs)
	got := strings.Join(docs, "\n\n# ----\n\n") + "\n"
	file := filepath.Join("testdata", "gh-"+ghVersion(t), golden+".graphql")
	if os.Getenv("GH_GOLDEN_UPDATE") != "" {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("gh %s sent:\n%s\nno recorded queries to compare with (%v); run with GH_GOLDEN_UPDATE=1 to record them", golden, got, err)
	}
	if string(want) != got {
		t.Errorf("gh %s sent other GraphQL than %s recorded:\n%s", golden, file, got)
	}
	return out + errOut
}

var ghVersionOnce struct {
	sync.Once
	v string
}

// ghVersion is the installed gh's version, e.g. "2.23.0".
func ghVersion(t *testing.T) string {
	ghVersionOnce.Do(func() {
		out, _ := exec.Command("gh", "--version").Output()
		f := strings.Fields(string(out))
		if len(f) >= 3 {
			ghVersionOnce.v = f[2]
		}
	})
	if ghVersionOnce.v == "" {
		t.Fatal("cannot tell gh's version")
	}
	return ghVersionOnce.v
}

// commitAndPush commits file=content on a new branch from start and pushes
// it.
func (d *ghDouble) commitAndPush(t *testing.T, dir, branch, start, file string) string {
	t.Helper()
	d.ghRun(t, dir, "", false, "git", "checkout", "-q", "-B", branch, start)
	if err := os.WriteFile(filepath.Join(dir, file), []byte(branch+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.ghRun(t, dir, "", false, "git", "add", file)
	d.ghRun(t, dir, "", false, "git", "commit", "-q", "-m", "Add "+file)
	d.ghRun(t, dir, "", false, "git", "push", "-q", "origin", branch)
	return strings.TrimSpace(d.ghRun(t, dir, "", false, "git", "rev-parse", "HEAD"))
}

func (d *ghDouble) refsNow(t *testing.T) map[string]string {
	t.Helper()
	r, err := d.Refs("acme/widgets")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (d *ghDouble) last(t *testing.T) githubtest.RefChange {
	t.Helper()
	all := d.RefChanges()
	if len(all) == 0 {
		t.Fatal("no ref change")
	}
	return all[len(all)-1]
}

// The real gh against the double as github.com: pr create, view and merge
// (into the default branch and into a session branch), auto-merge, gh api
// REST and GraphQL. The queries gh 2.23 sends are recorded in testdata.
func TestGHAgainstDouble(t *testing.T) {
	d := newGHDouble(t)
	in := d.installation(t)
	in.Permissions["statuses"] = "write"
	d.token = d.mint(t, nil)
	dir := d.clone(t)
	main := d.refsNow(t)["refs/heads/main"]

	// gh repo view, which the proxy's acceptance test runs.
	out := d.ghRun(t, dir, "repo-view", false, "gh", "repo", "view", "acme/widgets")
	if !strings.Contains(out, "acme/widgets") || !strings.Contains(out, "Served by the GitHub double") {
		t.Fatalf("gh repo view printed %q", out)
	}

	// gh pr create, into the default branch.
	head := d.commitAndPush(t, dir, "feature", "origin/main", "f.txt")
	out = d.ghRun(t, dir, "pr-create", false, "gh", "pr", "create", "--title", "Feature", "--body", "Adds f", "--base", "main", "--head", "feature")
	if !strings.Contains(out, "https://github.com/acme/widgets/pull/1") {
		t.Fatalf("gh pr create printed %q", out)
	}
	out = d.ghRun(t, dir, "pr-view", false, "gh", "pr", "view", "1")
	if !strings.Contains(out, "Feature") || !strings.Contains(out, "OPEN") || !strings.Contains(out, d.BotLogin()) {
		t.Fatalf("gh pr view printed %q", out)
	}
	out = d.ghRun(t, dir, "pr-view-json", false, "gh", "pr", "view", "1", "--json", "number,state,headRefName,baseRefName,mergeable")
	if !strings.Contains(out, `"headRefName":"feature"`) || !strings.Contains(out, `"mergeable":"MERGEABLE"`) {
		t.Fatalf("gh pr view --json printed %q", out)
	}

	// What an agent does around a pull request, moving no ref.
	before := d.refsNow(t)
	changes := len(d.RefChanges())
	d.ghRun(t, dir, "pr-comment", false, "gh", "pr", "comment", "1", "--body", "A comment")
	d.ghRun(t, dir, "", false, "gh", "label", "create", "ready")
	d.ghRun(t, dir, "pr-edit", false, "gh", "pr", "edit", "1", "--title", "Feature!", "--add-label", "ready")
	d.ghRun(t, dir, "pr-review-comment", false, "gh", "pr", "review", "1", "--comment", "--body", "Reviewed")
	if out := d.ghRun(t, dir, "", true, "gh", "pr", "review", "1", "--approve"); !strings.Contains(out, "Can not approve your own pull request") {
		t.Errorf("gh pr review --approve printed %q", out)
	}
	d.ghRun(t, dir, "", false, "gh", "api", "-X", "POST", "repos/acme/widgets/statuses/"+head, "-f", "state=success", "-f", "context=ci")
	if out := d.ghRun(t, dir, "pr-checks", false, "gh", "pr", "checks", "1"); !strings.Contains(out, "ci") || !strings.Contains(out, "pass") {
		t.Errorf("gh pr checks printed %q", out)
	}
	d.ghRun(t, dir, "issue-create", false, "gh", "issue", "create", "--title", "Bug", "--body", "b")
	d.ghRun(t, dir, "pr-close", false, "gh", "pr", "close", "1")
	d.ghRun(t, dir, "pr-reopen", false, "gh", "pr", "reopen", "1")
	out = d.ghRun(t, dir, "", false, "gh", "api", "graphql", "-f", `query={ repository(owner: "acme", name: "widgets") { pullRequest(number: 1) { title labels(first: 5) { nodes { name } } comments { totalCount } reviews(first: 5) { nodes { state } } } } }`)
	if !strings.Contains(out, `"title":"Feature!"`) || !strings.Contains(out, `"name":"ready"`) || !strings.Contains(out, `"totalCount":1`) || !strings.Contains(out, `"state":"COMMENTED"`) {
		t.Errorf("pull request after the agent's writes: %s", out)
	}
	if fmt.Sprint(d.refsNow(t)) != fmt.Sprint(before) || len(d.RefChanges()) != changes {
		t.Fatalf("writes that move no ref moved refs: %v", d.refsNow(t))
	}

	// gh pr merge into the default branch: a real merge commit on main.
	d.ghRun(t, dir, "pr-merge", false, "gh", "pr", "merge", "1", "--merge")
	r := d.refsNow(t)
	if parents := strings.Fields(d.ghRun(t, dir, "", false, "git", "--git-dir="+mustDir(t, d), "show", "-s", "--format=%P", r["refs/heads/main"])); len(parents) != 2 || parents[0] != main || parents[1] != head {
		t.Fatalf("main after gh pr merge: parents %v", parents)
	}
	if c := d.last(t); c.Ref != "refs/heads/main" || c.By != "GraphQL mergePullRequest" {
		t.Fatalf("gh pr merge recorded %+v", c)
	}

	// Into a session branch, squashed, deleting the head branch.
	d.ghRun(t, dir, "", false, "git", "fetch", "-q", "origin")
	session := d.commitAndPush(t, dir, "session/abc", "origin/main", "s.txt")
	work := d.commitAndPush(t, dir, "session/abc-work", "session/abc", "w.txt")
	d.ghRun(t, dir, "", false, "gh", "pr", "create", "--title", "Work", "--body", "", "--base", "session/abc", "--head", "session/abc-work")
	mainNow := d.refsNow(t)["refs/heads/main"]
	d.ghRun(t, dir, "pr-merge-squash-delete", false, "gh", "pr", "merge", "3", "--squash", "--delete-branch")
	r = d.refsNow(t)
	if r["refs/heads/main"] != mainNow || r["refs/heads/session/abc"] == session || r["refs/heads/session/abc-work"] != "" {
		t.Fatalf("after merging into session/abc: %v", r)
	}
	all := d.RefChanges()
	if c := all[len(all)-2:]; c[0].Ref != "refs/heads/session/abc" || c[0].By != "GraphQL mergePullRequest" ||
		c[1].Ref != "refs/heads/session/abc-work" || c[1].Old != work || c[1].New != "" || c[1].By != "REST DELETE /repos/{owner}/{repo}/git/refs/{ref}" {
		t.Fatalf("recorded %+v", c)
	}

	// Auto-merge waits for the required check.
	if err := d.RequireChecks("acme/widgets", "ci"); err != nil {
		t.Fatal(err)
	}
	auto := d.commitAndPush(t, dir, "auto", "origin/main", "a.txt")
	d.ghRun(t, dir, "", false, "gh", "pr", "create", "--title", "Auto", "--body", "", "--base", "main", "--head", "auto")
	before = d.refsNow(t)
	d.ghRun(t, dir, "pr-merge-auto", false, "gh", "pr", "merge", "4", "--auto", "--merge")
	if d.refsNow(t)["refs/heads/main"] != before["refs/heads/main"] {
		t.Fatal("gh pr merge --auto merged before the check passed")
	}
	out = d.ghRun(t, dir, "", true, "gh", "pr", "merge", "4", "--merge")
	if !strings.Contains(out, "not mergeable") {
		t.Errorf("gh pr merge of a blocked pull request printed %q", out)
	}
	if err := d.RequireChecks("acme/widgets"); err != nil {
		t.Fatal(err)
	}
	if c := d.last(t); d.refsNow(t)["refs/heads/main"] == before["refs/heads/main"] || c.By != "auto-merge" {
		t.Fatalf("auto-merge after the requirement went: %+v", c)
	}
	_ = auto

	// gh release create: the tag is created at the default branch.
	d.ghRun(t, dir, "", false, "gh", "release", "create", "v1.0.0", "--notes", "First")
	if c := d.last(t); c.Ref != "refs/tags/v1.0.0" || c.New != d.refsNow(t)["refs/heads/main"] || c.By != "REST POST /repos/{owner}/{repo}/releases" {
		t.Fatalf("gh release create recorded %+v", c)
	}

	// gh api: REST reads and ref writes, as an agent would try them.
	out = d.ghRun(t, dir, "", false, "gh", "api", "repos/acme/widgets", "--jq", ".default_branch")
	if strings.TrimSpace(out) != "main" {
		t.Fatalf("gh api repos/acme/widgets: %q", out)
	}
	side := d.commitAndPush(t, dir, "other", session, "o.txt")
	d.ghRun(t, dir, "", false, "gh", "api", "-X", "PATCH", "repos/acme/widgets/git/refs/heads/main", "-f", "sha="+side, "-F", "force=true")
	if c := d.last(t); d.refsNow(t)["refs/heads/main"] != side || c.By != "REST PATCH /repos/{owner}/{repo}/git/refs/{ref}" {
		t.Fatalf("gh api PATCH git/refs/heads/main: %+v", c)
	}
	out = d.ghRun(t, dir, "", true, "gh", "api", "-X", "PATCH", "repos/acme/widgets/git/refs/heads/main", "-f", "sha="+main)
	if !strings.Contains(out, "Update is not a fast forward (HTTP 422)") {
		t.Errorf("gh api non-fast-forward printed %q", out)
	}
	d.ghRun(t, dir, "", false, "gh", "api", "-X", "DELETE", "repos/acme/widgets/git/refs/heads/other")
	if _, ok := d.refsNow(t)["refs/heads/other"]; ok {
		t.Fatal("gh api DELETE left refs/heads/other")
	}

	// gh api graphql: a mutation through variables, and an error.
	repoID := strings.TrimSpace(d.ghRun(t, dir, "", false, "gh", "api", "graphql", "-f", `query=query { repository(owner: "acme", name: "widgets") { id } }`, "--jq", ".data.repository.id"))
	out = d.ghRun(t, dir, "api-graphql-createRef", false, "gh", "api", "graphql",
		"-f", `query=mutation($r: ID!, $o: GitObjectID!) { created: createRef(input: {repositoryId: $r, name: "refs/heads/from-gh", oid: $o}) { ref { name } } }`,
		"-f", "r="+repoID, "-f", "o="+side)
	if d.refsNow(t)["refs/heads/from-gh"] != side || !strings.Contains(out, `"name":"from-gh"`) {
		t.Fatalf("gh api graphql createRef printed %q", out)
	}
	out = d.ghRun(t, dir, "", true, "gh", "api", "graphql", "-f", `query=mutation($r: ID!, $o: GitObjectID!) { createRef(input: {repositoryId: $r, name: "refs/heads/from-gh", oid: $o}) { ref { name } } }`,
		"-f", "r="+repoID, "-f", "o="+side)
	// gh api graphql prints the answer, then "gh: " and the message.
	if !strings.Contains(out, `gh: A ref named "refs/heads/from-gh" already exists in the repository.`) {
		t.Errorf("gh api graphql with an error printed %q", out)
	}
	out = d.ghRun(t, dir, "", true, "gh", "api", "graphql", "-f", `query={ viewer { login } repository(owner: "acme", name: "widgets") { stars } }`)
	if !strings.Contains(out, "Field 'stars' doesn't exist on type 'Repository'") {
		t.Errorf("gh api graphql with an unknown field printed %q", out)
	}
	out = d.ghRun(t, dir, "", false, "gh", "api", "graphql", "-f", `query={ viewer { login } }`, "--jq", ".data.viewer.login")
	if strings.TrimSpace(out) != d.BotLogin() {
		t.Errorf("viewer %q, want the App's bot", out)
	}
}

// installation is acme's installation, whose permissions a test may
// change before minting.
func (d *ghDouble) installation(t *testing.T) *githubtest.Installation {
	t.Helper()
	return d.in
}

func mustDir(t *testing.T, d *ghDouble) string {
	dir, err := d.GitDir("acme/widgets")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
