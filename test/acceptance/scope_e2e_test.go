//go:build acceptance

package acceptance

// The session's write scope end to end (issue 21, "How it is tested"):
// the clients an agent runs, through github-token-proxy, through a real
// Vault Agent. The proxy package's own tests (proxy/gitpush_test.go,
// gh_scope_test.go, rest_test.go, graphql_test.go) check the decisions
// against a stand-in that answers "ok"; here every layer is the real one:
//
//   - Vault with the engine, session p1 started by session-start.sh (its
//     role's branches default to ambient/p1/*), Vault Agent running the
//     shipped agent-approle.hcl and templates, so the scope the proxy
//     enforces is the one credentials.json carries (newProxyRig);
//   - github-token-proxy built from cmd/github-token-proxy, with
//     proxy-pod.yaml's -ca-bundle-out, reading that file;
//   - the runner side with proxy-pod.yaml's runner environment and
//     nothing else of this machine's (one CA bundle for every client, a
//     placeholder GH_TOKEN, git's identity from the gitconfig Agent
//     renders), plus the docs' Node 20 preload;
//   - the GitHub double, which carries every one of these writes out
//     (git-receive-pack, the REST routes, the GraphQL mutations) and
//     records each ref it moves.
//
// Every case asserts the double's refs after the attempt: a write that
// passes moved exactly the refs it names; a refused one moved none and
// said why. Each refused write is one the double would carry out (a
// fast-forward, an existing ref, a mergeable pull request), so a proxy
// that let it through would fail the case.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// scopeSide is the runner side of a proxy rig as proxy-pod.yaml sets it
// up, and the cases it ran.
type scopeSide struct {
	r      *proxyRig
	repo   string // acme/widgets
	bundle string // the proxy's -ca-bundle-out
	cases  []scopeCase
}

// scopeCase is one client case and what was observed.
type scopeCase struct {
	client, command, want, got string
}

// startTokenProxyWith starts the proxy with github.com's hosts resolved
// to the double, the margin and wait at the soak's scale, and more flags
// (extra); it waits until the proxy listens and has written wait (its
// CA certificate when "", or its bundle: the last file it writes).
// startTokenProxy in proxy_test.go is this with -other-hosts and
// -resolve values.
func startTokenProxyWith(t testing.TB, creds, dAddr, dCAFile, wait string, extra ...string) tokenProxy {
	t.Helper()
	bin, err := buildProxy()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tp := tokenProxy{caFile: filepath.Join(dir, "ca.pem")}
	if wait == "" {
		wait = tp.caFile
	}
	logPath := filepath.Join(dir, "proxy.log")
	watchLog(t, "github-token-proxy", logPath)
	for attempt := 1; ; attempt++ {
		tp.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		args := []string{"-listen", tp.addr, "-credentials", creds, "-ca-cert-out", tp.caFile,
			"-upstream-ca", dCAFile, "-margin", proxyMargin.String(), "-wait", proxyWait.String()}
		for _, h := range githubtest.GitHubHosts {
			args = append(args, "-resolve", h+"="+dAddr)
		}
		args = append(args, extra...)
		p := startProcess(t, "github-token-proxy", logPath, processEnv(), bin, args...)
		t.Cleanup(func() { p.stop(t, 10*time.Second) })
		ok := false
		waitUntil(t, time.Now().Add(30*time.Second), 50*time.Millisecond, func() (bool, string) {
			if p.exited() {
				return true, ""
			}
			c, err := net.Dial("tcp", tp.addr)
			if err != nil {
				return false, "the proxy does not listen on " + tp.addr
			}
			c.Close()
			fi, err := os.Stat(wait)
			ok = err == nil && fi.Size() > 0
			return ok, "the proxy wrote nothing to " + wait
		})
		if ok {
			tp.proc = p
			return tp
		}
		if attempt == 3 {
			t.Fatalf("the proxy exited: %v (log %s)", p.err, logPath)
		}
	}
}

// newScopeSide starts a second proxy on the rig's credentials.json with
// proxy-pod.yaml's -ca-bundle-out and gives the rig's agent side (r.run)
// the manifest's runner environment pointing at it: HTTPS_PROXY, the
// bundle as every client's CA file, the placeholder GH_TOKEN, and git's
// identity from the gitconfig Agent rendered; with the docs' Node 20
// preload (NODE_PATH, NODE_OPTIONS) as the try-it's agent side has it.
func newScopeSide(t *testing.T, r *proxyRig) *scopeSide {
	t.Helper()
	pod := proxyPod(t)
	bundle := filepath.Join(t.TempDir(), "ca-bundle.pem")
	tp := startTokenProxyWith(t, r.creds, r.dAddr, r.dCAFile, bundle, "-ca-bundle-out", bundle, "-other-hosts", "refuse")
	gitconfig := filepath.Join(r.work, "github-session", "gitconfig")
	moved := map[string]string{pod.bundleOut: bundle, pod.caOut: tp.caFile, "/var/run/github-session/gitconfig": gitconfig}
	env := pod.runnerEnvAt(tp.addr, func(p string) string {
		m, ok := moved[p]
		if !ok {
			t.Fatalf("proxy-pod.yaml's runner environment names %s, which this test does not provide", p)
		}
		return m
	}, "")
	env = append(env,
		"PATH="+os.Getenv("PATH"), "HOME="+r.home,
		"NODE_PATH="+proxyModeUndici(t),
		"NODE_OPTIONS=--require "+filepath.Join(repoRoot, "examples", "runner", "node-env-proxy.cjs"),
		"GIT_TERMINAL_PROMPT=0", "GH_PROMPT_DISABLED=1", "GH_NO_UPDATE_NOTIFIER=1", "NO_COLOR=1", "GH_PAGER=cat")
	// The rig's HOME has a .gitconfig with another identity: the pod's
	// runner has none, so that the one Agent renders decides.
	if err := os.Remove(filepath.Join(r.home, ".gitconfig")); err != nil {
		t.Fatal(err)
	}
	r.env = env
	return &scopeSide{r: r, repo: "acme/widgets", bundle: bundle}
}

// refs are the double's refs of the repository now.
func (s *scopeSide) refs(t *testing.T) map[string]string {
	t.Helper()
	m, err := s.r.d.Refs(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// moved is a want value: the ref moved, to any commit.
const moved = "(moved)"

// attempt runs an agent-side command and checks the double's refs after
// it. want nil: the command must fail, print each of says, and leave every
// ref as it was (and the double record no change). Otherwise it must
// succeed and change exactly the refs in want (full name → new object id,
// moved for any new one, "" deleted). It records the case and returns
// the output.
func (s *scopeSide) attempt(t *testing.T, client, dir string, want map[string]string, says []string, args ...string) string {
	t.Helper()
	before, changes := s.refs(t), len(s.r.d.RefChanges())
	out, err := s.r.run(t, dir, 3*time.Minute, args[0], args[1:]...)
	after := s.refs(t)
	command := shellQuote(append([]string{filepath.Base(args[0])}, args[1:]...))
	c := scopeCase{client: client, command: command}
	if want == nil {
		c.want = "refused"
		if err == nil {
			t.Errorf("%s: succeeded, want it refused:\n%s", command, out)
		}
		for _, w := range says {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the output lacks %q:\n%s", command, w, out)
			}
		}
		if !mapsEqual(before, after) || len(s.r.d.RefChanges()) != changes {
			t.Errorf("%s: refused, yet the double's refs changed:\nbefore %v\nafter  %v\nchanges %+v", command, before, after, s.r.d.RefChanges()[changes:])
		}
		c.got = "refused: " + refusalLine(out)
		if err == nil {
			c.got = "PASSED (wrong)"
		}
		s.cases = append(s.cases, c)
		return out
	}
	c.want = "passes"
	if err != nil {
		t.Errorf("%s: %v\n%s", command, err, out)
	}
	for _, w := range says {
		if !strings.Contains(out, w) {
			t.Errorf("%s: the output lacks %q:\n%s", command, w, out)
		}
	}
	for ref, v := range want {
		switch got, ok := after[ref]; {
		case v == "" && ok:
			t.Errorf("%s: %s is still at %s, want it deleted", command, ref, got)
		case v == moved && (!ok || got == before[ref]):
			t.Errorf("%s: %s is at %q (was %q), want it moved", command, ref, got, before[ref])
		case v != "" && v != moved && got != v:
			t.Errorf("%s: %s is at %q, want %s", command, ref, got, v)
		}
	}
	for ref, v := range after {
		if _, named := want[ref]; !named && before[ref] != v {
			t.Errorf("%s: moved %s too (%q to %s)", command, ref, before[ref], v)
		}
	}
	for ref := range before {
		if _, named := want[ref]; !named {
			if _, ok := after[ref]; !ok {
				t.Errorf("%s: deleted %s too", command, ref)
			}
		}
	}
	var what []string
	for _, ref := range slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	}) {
		switch {
		case want[ref] == "":
			what = append(what, strings.TrimPrefix(ref, "refs/heads/")+" deleted")
		case before[ref] == "":
			what = append(what, strings.TrimPrefix(ref, "refs/heads/")+" created")
		default:
			what = append(what, strings.TrimPrefix(ref, "refs/heads/")+" moved")
		}
	}
	c.got = "passed: " + strings.Join(what, ", ")
	if len(what) == 0 {
		c.got = "passed, no ref moved"
	}
	if err != nil {
		c.got = "FAILED: " + refusalLine(out)
	}
	s.cases = append(s.cases, c)
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// refusalLine is the line of out that carries the proxy's reason, as the
// client printed it (the first, if several).
func refusalLine(out string) string {
	if i := strings.Index(out, "gh: github-token-proxy"); i >= 0 {
		out = out[i:] // gh api prints the body, then its own line
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "github-token-proxy") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(out)
}

// shellQuote writes args as a shell command line.
func shellQuote(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%^") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

// seedBranch makes a commit on from and points refs/heads/name at it,
// in the double's repository directly (not through the proxy): another
// user's branch.
func (s *scopeSide) seedBranch(t *testing.T, name, from string) string {
	t.Helper()
	dir, err := s.r.d.GitDir(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"--git-dir=" + dir}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=A User", "GIT_AUTHOR_EMAIL=user@example.com", "GIT_COMMITTER_NAME=A User", "GIT_COMMITTER_EMAIL=user@example.com"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	sha := git("commit-tree", from+"^{tree}", "-p", from, "-m", "A user's work on "+name)
	git("update-ref", "refs/heads/"+name, sha)
	return sha
}

// commit makes a commit in the clone wd on top of base (a commit id; ""
// for HEAD) adding file, and returns it.
func (s *scopeSide) commit(t *testing.T, wd, base, file string, size int) string {
	t.Helper()
	if base != "" {
		s.r.mustRun(t, wd, "git", "checkout", "--quiet", "--detach", base)
	}
	s.r.commit(t, wd, file, size)
	return strings.TrimSpace(s.r.mustRun(t, wd, "git", "rev-parse", "HEAD"))
}

// branchAt pushes a new commit on base, adding file, to branch (inside
// the scope) through the proxy, and returns it.
func (s *scopeSide) branchAt(t *testing.T, wd, base, file, branch string) string {
	t.Helper()
	sha := s.commit(t, wd, base, file, 32)
	s.r.mustRun(t, wd, "git", "push", "--quiet", "origin", "HEAD:refs/heads/"+branch)
	if got := s.refs(t)["refs/heads/"+branch]; got != sha {
		t.Fatalf("%s is at %q after the push, want %s", branch, got, sha)
	}
	return sha
}

// gql runs a GraphQL query with gh api graphql and decodes its data.
func (s *scopeSide) gql(t *testing.T, query string) map[string]any {
	t.Helper()
	out := s.r.mustRun(t, s.r.tree, "gh", "api", "graphql", "-f", "query="+query)
	var a struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Data == nil {
		t.Fatalf("gh api graphql %q: %v\n%s", query, err, out)
	}
	return a.Data
}

// ids are node ids read with one GraphQL query: the repository's (key
// "repo"), each ref's by its full name and each pull request's by
// "#N".
func (s *scopeSide) ids(t *testing.T, refs []string, pulls []int) map[string]string {
	t.Helper()
	var q strings.Builder
	q.WriteString(`{ repository(owner: "acme", name: "widgets") { id`)
	for i, ref := range refs {
		fmt.Fprintf(&q, " r%d: ref(qualifiedName: %q) { id }", i, ref)
	}
	for i, n := range pulls {
		fmt.Fprintf(&q, " p%d: pullRequest(number: %d) { id }", i, n)
	}
	q.WriteString(" } }")
	repo, _ := s.gql(t, q.String())["repository"].(map[string]any)
	id := func(v any) string {
		m, _ := v.(map[string]any)
		s, _ := m["id"].(string)
		return s
	}
	out := map[string]string{"repo": id(repo)}
	for i, ref := range refs {
		out[ref] = id(repo["r"+strconv.Itoa(i)])
	}
	for i, n := range pulls {
		out["#"+strconv.Itoa(n)] = id(repo["p"+strconv.Itoa(i)])
	}
	for k, v := range out {
		if v == "" {
			t.Fatalf("no node id for %s", k)
		}
	}
	return out
}

// pull opens a pull request with gh api (REST POST pulls, a write that
// moves no ref) and returns its number.
func (s *scopeSide) pull(t *testing.T, base, head string) int {
	t.Helper()
	out := s.attempt(t, "gh", s.r.tree, map[string]string{}, nil, "gh", "api", "repos/acme/widgets/pulls",
		"-f", "title=Work on "+head, "-f", "head="+head, "-f", "base="+base, "--jq", ".number")
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("gh api repos/acme/widgets/pulls printed %q", out)
	}
	return n
}

// input writes a GraphQL request body for gh api graphql --input.
func (s *scopeSide) input(t *testing.T, name, query string, vars map[string]any) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.r.tree, name+".json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScopeEndToEnd: real git, gh, curl, Python requests and Node fetch
// through github-token-proxy with the write scope Vault Agent rendered
// (ambient/p1/*), against the GitHub double; see the top of this file.
func TestScopeEndToEnd(t *testing.T) {
	t.Parallel()
	r := newProxyRig(t, rigOptions{tokenLife: time.Hour, buffer: 5 * time.Minute})
	data, err := os.ReadFile(r.creds)
	if err != nil {
		t.Fatal(err)
	}
	var creds credentialsJSON
	if err := json.Unmarshal(data, &creds); err != nil || !slices.Equal(creds.Branches, []string{"ambient/p1/*"}) {
		t.Fatalf("credentials.json as Agent rendered it: branches %v (%v), want [ambient/p1/*]", creds.Branches, err)
	}
	s := newScopeSide(t, r)
	const (
		denied = "github-token-proxy: refused: "
		scope  = "This session may write only branches matching: ambient/p1/* ('*' matches within one '/'-separated part)."
	)
	m0 := s.refs(t)["refs/heads/main"]
	users := s.seedBranch(t, "users-work", m0)
	wd := filepath.Join(r.tree, "widgets")
	s.attempt(t, "git", r.tree, map[string]string{}, nil, "git", "clone", "--quiet", "https://github.com/acme/widgets.git", "widgets")

	t.Run("git", func(t *testing.T) {
		c1 := s.commit(t, wd, "", "c1.txt", 64)
		s.attempt(t, "git", wd, map[string]string{"refs/heads/ambient/p1/work": c1}, nil,
			"git", "push", "origin", "HEAD:refs/heads/ambient/p1/work")
		// The commit is the App's bot's, from the gitconfig Agent renders.
		if who := strings.TrimSpace(r.mustRun(t, wd, "git", "log", "-1", "--format=%an <%ae>")); who != r.d.BotLogin()+" <"+r.d.BotEmail()+">" {
			t.Errorf("the agent's commit is by %q, want the App's bot %s <%s>", who, r.d.BotLogin(), r.d.BotEmail())
		}
		c2 := s.commit(t, wd, "", "c2.txt", 64)
		s.attempt(t, "git", wd, map[string]string{"refs/heads/ambient/p1/work": c2}, nil,
			"git", "push", "origin", "HEAD:refs/heads/ambient/p1/work")
		s.attempt(t, "git", wd, map[string]string{"refs/heads/ambient/p1/a": c2, "refs/heads/ambient/p1/b": c2}, nil,
			"git", "push", "origin", "HEAD:refs/heads/ambient/p1/a", "HEAD:refs/heads/ambient/p1/b")

		// Several refs with one outside: nothing moves, atomic or not; git
		// names the reason for each ref.
		s.commit(t, wd, "", "c3.txt", 64)
		reason := denied + `git push would write branch "main" (update), which is outside this session's write scope (rule branch_not_in_scope). ` + scope
		s.attempt(t, "git", wd, nil, []string{"! [remote rejected] HEAD -> ambient/p1/c (" + reason + ")", "! [remote rejected] HEAD -> main (" + reason + ")"},
			"git", "push", "--atomic", "origin", "HEAD:refs/heads/ambient/p1/c", "HEAD:refs/heads/main")
		s.attempt(t, "git", wd, nil, []string{"! [remote rejected] HEAD -> ambient/p1/c (" + reason + ")", "! [remote rejected] HEAD -> main ("},
			"git", "push", "origin", "HEAD:refs/heads/ambient/p1/c", "HEAD:refs/heads/main")

		s.attempt(t, "git", wd, map[string]string{"refs/heads/ambient/p1/b": ""}, nil, "git", "push", "origin", ":refs/heads/ambient/p1/b")
		s.attempt(t, "git", wd, nil, []string{`! [remote rejected] users-work (` + denied + `git push would write branch "users-work" (delete)`},
			"git", "push", "origin", ":refs/heads/users-work")
		r.mustRun(t, wd, "git", "tag", "v1")
		s.attempt(t, "git", wd, nil, []string{`! [remote rejected] v1 -> v1 (` + denied + `git push would write "refs/tags/v1" (create), which is not a branch`},
			"git", "push", "origin", "refs/tags/v1")

		// A force push inside the scope: the session's own business.
		c4 := s.commit(t, wd, c1, "c4.txt", 64)
		if _, err := exec.Command("git", "-C", wd, "merge-base", "--is-ancestor", c2, c4).CombinedOutput(); err == nil {
			t.Fatal("c4 descends from c2: not a force push")
		}
		s.attempt(t, "git", wd, map[string]string{"refs/heads/ambient/p1/work": c4}, nil,
			"git", "push", "--force", "origin", "HEAD:refs/heads/ambient/p1/work")

		// Big enough for git's "0000" probe before the chunked pack.
		big := s.commit(t, wd, "", "big.bin", 256<<10)
		mark := len(r.d.Calls())
		s.attempt(t, "git", wd, map[string]string{"refs/heads/ambient/p1/big": big}, nil,
			"git", "-c", "http.postBuffer=4096", "push", "origin", "HEAD:refs/heads/ambient/p1/big")
		if posts := countPOSTs(r.proxyCalls(mark)); posts != 2 {
			t.Errorf("the big push reached the double in %d POSTs, want 2 (the probe and the pack)", posts)
		}
		// The same to main: the probe ("0000", no command) reaches the
		// double, the pack does not.
		mark = len(r.d.Calls())
		s.attempt(t, "git", wd, nil, []string{"! [remote rejected] HEAD -> main (" + reason + ")"},
			"git", "-c", "http.postBuffer=4096", "push", "origin", "HEAD:refs/heads/main")
		if posts := countPOSTs(r.proxyCalls(mark)); posts != 1 {
			t.Errorf("the refused big push reached the double in %d POSTs, want 1 (the probe)", posts)
		}

		// From a shallow clone (shallow lines before the commands).
		r.mustRun(t, r.tree, "git", "clone", "--quiet", "--depth", "1", "https://github.com/acme/widgets.git", "shallow")
		sw := filepath.Join(r.tree, "shallow")
		if out := r.mustRun(t, sw, "git", "rev-parse", "--is-shallow-repository"); strings.TrimSpace(out) != "true" {
			t.Fatalf("the --depth 1 clone is not shallow: %q", out)
		}
		sh := s.commit(t, sw, "", "shallow.txt", 64)
		s.attempt(t, "git", sw, map[string]string{"refs/heads/ambient/p1/shallow": sh}, nil,
			"git", "push", "origin", "HEAD:refs/heads/ambient/p1/shallow")
		s.attempt(t, "git", sw, nil, []string{"! [remote rejected] HEAD -> main (" + reason + ")"},
			"git", "push", "origin", "HEAD:refs/heads/main")

		// Push options.
		s.attempt(t, "git", wd, map[string]string{"refs/heads/ambient/p1/opts": big}, nil,
			"git", "push", "-o", "ci.skip", "-o", "note=from the agent", "origin", "HEAD:refs/heads/ambient/p1/opts")

		// main: refused, and git says why.
		s.attempt(t, "git", wd, nil, []string{"! [remote rejected] HEAD -> main (" + reason + ")", "error: failed to push some refs"},
			"git", "push", "origin", "HEAD:main")
	})

	toMain := 0 // the pull request into main gh pr create opens
	t.Run("gh", func(t *testing.T) {
		r.mustRun(t, wd, "git", "fetch", "--quiet", "origin")
		r.mustRun(t, wd, "git", "checkout", "--quiet", "-B", "ambient/p1/work", "origin/ambient/p1/work")
		work := s.refs(t)["refs/heads/ambient/p1/work"]
		out := s.attempt(t, "gh", wd, map[string]string{}, []string{"https://github.com/acme/widgets/pull/"},
			"gh", "pr", "create", "--base", "main", "--head", "ambient/p1/work", "--title", "Session work", "--body", "From session p1")
		var err error
		toMain, err = strconv.Atoi(strings.TrimSpace(out[strings.LastIndex(out, "/pull/")+len("/pull/"):]))
		if err != nil {
			t.Fatalf("gh pr create printed %q", out)
		}
		num := strconv.Itoa(toMain)
		// The refusal is GitHub's FORBIDDEN GraphQL answer, whose message
		// gh pr merge (2.23) prints as it is, quotes and all.
		s.attempt(t, "gh", wd, nil, []string{"Message: " + denied +
			`mutation mergePullRequest would write branch "main" (merge into the pull request's base), which is outside this session's write scope (rule branch_not_in_scope). ` + scope},
			"gh", "pr", "merge", num, "--merge")
		s.attempt(t, "gh", wd, nil, []string{"gh: " + denied + `PATCH /repos/acme/widgets/git/refs/heads/main would write branch "main" (update`, "(HTTP 403)"},
			"gh", "api", "-X", "PATCH", "repos/acme/widgets/git/refs/heads/main", "-f", "sha="+work)
		s.attempt(t, "gh", wd, nil, []string{"gh: " + denied + `DELETE /repos/acme/widgets/git/refs/heads/users-work would write branch "users-work" (delete)`, "(HTTP 403)"},
			"gh", "api", "-X", "DELETE", "repos/acme/widgets/git/refs/heads/users-work")
		s.attempt(t, "gh", wd, map[string]string{"refs/heads/ambient/p1/a": work}, nil,
			"gh", "api", "-X", "PATCH", "repos/acme/widgets/git/refs/heads/ambient/p1/a", "-f", "sha="+work, "-F", "force=true")
		s.attempt(t, "gh", wd, map[string]string{"refs/heads/ambient/p1/old": work}, nil,
			"gh", "api", "repos/acme/widgets/git/refs", "-f", "ref=refs/heads/ambient/p1/old", "-f", "sha="+work)
		s.attempt(t, "gh", wd, map[string]string{"refs/heads/ambient/p1/old": ""}, nil,
			"gh", "api", "-X", "DELETE", "repos/acme/widgets/git/refs/heads/ambient/p1/old")
	})

	t.Run("gh api graphql", func(t *testing.T) {
		// Branches and pull requests for the mutations: each in-scope one
		// made through the proxy, users-work as another user left it.
		prBase := s.branchAt(t, wd, m0, "pr-base.txt", "ambient/p1/pr-base")
		s.branchAt(t, wd, m0, "pr-head.txt", "ambient/p1/pr-head")
		s.branchAt(t, wd, m0, "auto-base.txt", "ambient/p1/auto-base")
		s.branchAt(t, wd, m0, "auto-head.txt", "ambient/p1/auto-head")
		s.branchAt(t, wd, m0, "upd-base.txt", "ambient/p1/upd-base")
		s.branchAt(t, wd, m0, "upd-head.txt", "ambient/p1/upd-head")
		s.branchAt(t, wd, m0, "mb.txt", "ambient/p1/mb")
		if toMain == 0 {
			t.Fatal("gh pr create opened no pull request into main")
		}
		merge := s.pull(t, "ambient/p1/pr-base", "ambient/p1/pr-head")
		auto := s.pull(t, "ambient/p1/auto-base", "ambient/p1/auto-head")
		update := s.pull(t, "ambient/p1/upd-base", "ambient/p1/upd-head")
		updateUsers := s.pull(t, "ambient/p1/upd-base", "users-work")
		work := s.refs(t)["refs/heads/ambient/p1/work"]
		ids := s.ids(t, []string{"refs/heads/main", "refs/heads/users-work"}, []int{toMain, merge, auto, update, updateUsers})
		gh := func(want map[string]string, says string, args ...string) {
			t.Helper()
			var w []string
			if says != "" {
				w = []string{says}
			}
			s.attempt(t, "gh", r.tree, want, w, append([]string{"gh", "api", "graphql"}, args...)...)
		}
		outside := func(m, branch, how string) string {
			return denied + "mutation " + m + ` would write branch "` + branch + `" (` + how + `), which is outside this session's write scope (rule branch_not_in_scope). ` + scope
		}

		// createRef: through variables in scope; aliased, inline, outside.
		gh(map[string]string{"refs/heads/ambient/p1/gql": work}, "",
			"-f", "query=mutation($repo: ID!, $name: String!, $oid: GitObjectID!) { createRef(input: {repositoryId: $repo, name: $name, oid: $oid}) { ref { name } } }",
			"-f", "repo="+ids["repo"], "-f", "name=refs/heads/ambient/p1/gql", "-f", "oid="+work)
		gh(nil, outside("createRef", "gql-out", "create"),
			"-f", `query=mutation { made: createRef(input: {repositoryId: "`+ids["repo"]+`", name: "refs/heads/gql-out", oid: "`+work+`"}) { ref { name } } }`)
		more := s.ids(t, []string{"refs/heads/ambient/p1/gql"}, nil)

		// updateRef: aliased through variables both ways; main's is a
		// fast-forward the double would make.
		const updateRef = "query=mutation($id: ID!, $oid: GitObjectID!) { move: updateRef(input: {refId: $id, oid: $oid, force: true}) { ref { name } } }"
		gh(map[string]string{"refs/heads/ambient/p1/gql": prBase}, "", "-f", updateRef, "-f", "id="+more["refs/heads/ambient/p1/gql"], "-f", "oid="+prBase)
		gh(nil, outside("updateRef", "main", "update, force allowed"), "-f", updateRef, "-f", "id="+ids["refs/heads/main"], "-f", "oid="+work)

		// updateRefs: a list in the variables; one ref outside refuses all.
		const updateRefs = "mutation($in: UpdateRefsInput!) { updateRefs(input: $in) { clientMutationId } }"
		zero := strings.Repeat("0", 40)
		gh(map[string]string{"refs/heads/ambient/p1/gql2": work, "refs/heads/ambient/p1/gql": work}, "", "--input", s.input(t, "update-refs-in", updateRefs,
			map[string]any{"in": map[string]any{"repositoryId": ids["repo"], "refUpdates": []any{
				map[string]any{"name": "refs/heads/ambient/p1/gql2", "afterOid": work, "beforeOid": zero},
				map[string]any{"name": "refs/heads/ambient/p1/gql", "afterOid": work, "force": true},
			}}}))
		gh(nil, outside("updateRefs", "main", "update, delete or force allowed"), "--input", s.input(t, "update-refs-out", updateRefs,
			map[string]any{"in": map[string]any{"repositoryId": ids["repo"], "refUpdates": []any{
				map[string]any{"name": "refs/heads/ambient/p1/gql3", "afterOid": work, "beforeOid": zero},
				map[string]any{"name": "refs/heads/main", "afterOid": work},
			}}}))

		// deleteRef.
		more = s.ids(t, []string{"refs/heads/ambient/p1/gql2"}, nil)
		const deleteRef = "query=mutation($id: ID!) { deleteRef(input: {refId: $id}) { clientMutationId } }"
		gh(map[string]string{"refs/heads/ambient/p1/gql2": ""}, "", "-f", deleteRef, "-f", "id="+more["refs/heads/ambient/p1/gql2"])
		gh(nil, outside("deleteRef", "users-work", "delete"), "-f", deleteRef, "-f", "id="+ids["refs/heads/users-work"])

		// createCommitOnBranch, by name, with the head it expects.
		const commit = "query=mutation($branch: String!, $head: GitObjectID!, $file: Base64String!) { createCommitOnBranch(input: {branch: {repositoryNameWithOwner: \"acme/widgets\", branchName: $branch}, expectedHeadOid: $head, message: {headline: \"From the agent\"}, fileChanges: {additions: [{path: \"gql.txt\", contents: $file}]}}) { commit { oid } } }"
		file := base64.StdEncoding.EncodeToString([]byte("written through GraphQL\n"))
		gh(map[string]string{"refs/heads/ambient/p1/gql": moved}, "", "-f", commit, "-f", "branch=ambient/p1/gql", "-f", "head="+work, "-f", "file="+file)
		gh(nil, outside("createCommitOnBranch", "main", `"input.branch.branchName"`), "-f", commit, "-f", "branch=main", "-f", "head="+m0, "-f", "file="+file)

		// mergeBranch: users-work into a session branch passes; a session
		// branch into main does not.
		const mergeBranch = "query=mutation($repo: ID!, $base: String!, $head: String!) { mergeBranch(input: {repositoryId: $repo, base: $base, head: $head}) { mergeCommit { oid } } }"
		gh(map[string]string{"refs/heads/ambient/p1/mb": moved}, "", "-f", mergeBranch, "-f", "repo="+ids["repo"], "-f", "base=ambient/p1/mb", "-f", "head=users-work")
		gh(nil, outside("mergeBranch", "main", `"input.base"`), "-f", mergeBranch, "-f", "repo="+ids["repo"], "-f", "base=main", "-f", "head=ambient/p1/mb")

		// The pull request mutations, decided on the pull request's base
		// (merges) or head (updatePullRequestBranch), looked up by id.
		const mergePR = "query=mutation($id: ID!) { mergePullRequest(input: {pullRequestId: $id, mergeMethod: MERGE}) { pullRequest { merged } } }"
		gh(map[string]string{"refs/heads/ambient/p1/pr-base": moved}, "", "-f", mergePR, "-f", "id="+ids["#"+strconv.Itoa(merge)])
		gh(nil, outside("mergePullRequest", "main", "merge into the pull request's base"), "-f", mergePR, "-f", "id="+ids["#"+strconv.Itoa(toMain)])
		const autoMerge = "query=mutation($id: ID!) { auto: enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: SQUASH}) { pullRequest { number } } }"
		gh(map[string]string{"refs/heads/ambient/p1/auto-base": moved}, "", "-f", autoMerge, "-f", "id="+ids["#"+strconv.Itoa(auto)])
		gh(nil, outside("enablePullRequestAutoMerge", "main", "a later merge into the pull request's base"), "-f", autoMerge, "-f", "id="+ids["#"+strconv.Itoa(toMain)])
		const updateBranch = "query=mutation($id: ID!) { updatePullRequestBranch(input: {pullRequestId: $id}) { pullRequest { number } } }"
		gh(map[string]string{"refs/heads/ambient/p1/upd-head": moved}, "", "-f", updateBranch, "-f", "id="+ids["#"+strconv.Itoa(update)])
		gh(nil, outside("updatePullRequestBranch", "users-work", "an update of the pull request's head"), "-f", updateBranch, "-f", "id="+ids["#"+strconv.Itoa(updateUsers)])
		if got := s.refs(t)["refs/heads/users-work"]; got != users {
			t.Errorf("users-work is at %s, want %s as its user left it", got, users)
		}
	})

	t.Run("curl", func(t *testing.T) {
		put := func(branch string) string {
			body := map[string]any{"message": "Notes from curl", "content": base64.StdEncoding.EncodeToString([]byte("curl\n"))}
			if branch != "" {
				body["branch"] = branch
			}
			data, _ := json.Marshal(body)
			return string(data)
		}
		s.attempt(t, "curl", r.tree, map[string]string{"refs/heads/ambient/p1/work": moved}, []string{`"content":`},
			"curl", "-sS", "--fail-with-body", "-X", "PUT", "https://api.github.com/repos/acme/widgets/contents/notes/curl.txt", "-d", put("ambient/p1/work"))
		s.attempt(t, "curl", r.tree, nil, []string{denied + `PUT /repos/acme/widgets/contents/notes/curl.txt would write branch \"main\" (no \"branch\" given: the default branch)`},
			"curl", "-sS", "--fail-with-body", "-X", "PUT", "https://api.github.com/repos/acme/widgets/contents/notes/curl.txt", "-d", put(""))
	})

	t.Run("Python requests and Node fetch", func(t *testing.T) {
		const (
			py = `import sys, requests
r = requests.request(sys.argv[2], sys.argv[1], data=sys.argv[3], timeout=60)
print(r.status_code, r.text)
sys.exit(1 if r.status_code >= 400 else 0)`
			node = `const [url, method, body] = process.argv.slice(1);
fetch(url, {method, body}).then(async r => { console.log(r.status, await r.text()); if (r.status >= 400) process.exitCode = 1 },
  e => { console.log("failed", e.cause ? e.cause.message : e.message); process.exitCode = 2 })`
			refs = "https://api.github.com/repos/acme/widgets/git/refs"
		)
		body := func(kv ...string) string {
			m := map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			data, _ := json.Marshal(m)
			return string(data)
		}
		python := pythonWithRequests(t)
		work := s.refs(t)["refs/heads/ambient/p1/work"]
		s.attempt(t, "Python requests", r.tree, map[string]string{"refs/heads/ambient/p1/python": work}, []string{"201 "},
			python, "-c", py, refs, "POST", body("ref", "refs/heads/ambient/p1/python", "sha", work))
		s.attempt(t, "Python requests", r.tree, nil, []string{"403 ", denied + `POST /repos/acme/widgets/git/refs would write branch \"python-out\" (create)`},
			python, "-c", py, refs, "POST", body("ref", "refs/heads/python-out", "sha", work))
		s.attempt(t, "Node fetch", r.tree, map[string]string{"refs/heads/ambient/p1/node": work}, []string{"201 "},
			"node", "-e", node, refs, "POST", body("ref", "refs/heads/ambient/p1/node", "sha", work))
		s.attempt(t, "Node fetch", r.tree, nil, []string{"403 ", denied + `PATCH /repos/acme/widgets/git/refs/heads/main would write branch \"main\" (update`},
			"node", "-e", node, refs+"/heads/main", "PATCH", body("sha", work))
	})

	// What the proxy did: every write reached the double with a token it
	// issued; no token reached the agent side.
	r.checkNoToken(t)
	var b strings.Builder
	b.WriteString("| client | command | want | observed |\n|---|---|---|---|\n")
	for _, c := range s.cases {
		cell := strings.NewReplacer("|", `\|`, "\n", `\n`).Replace
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", c.client, cell(c.command), c.want, cell(c.got))
	}
	t.Logf("%d client cases through the proxy and Agent:\n%s", len(s.cases), b.String())
	if path := os.Getenv("SCOPE_CASES_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// countPOSTs counts the receive-pack POSTs the double answered 200.
func countPOSTs(calls []githubtest.Call) int {
	n := 0
	for _, c := range calls {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/git-receive-pack") && c.Status == http.StatusOK {
			n++
		}
	}
	return n
}
