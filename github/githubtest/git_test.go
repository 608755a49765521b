package githubtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// gitDouble is a TLS double serving github.com's names, with acme/widgets
// and acme/gadgets, and what a real git needs to reach it as github.com.
type gitDouble struct {
	*githubtest.Server
	port   string
	caFile string
	hc     *http.Client // trusts the double's CA, dials every name to it
	id     int64        // acme's installation
	in     *githubtest.Installation
}

func newGitDouble(t *testing.T) *gitDouble {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("these tests need git:", err)
	}
	ca, err := githubtest.NewTestCA("double CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(append([]string{"127.0.0.1"}, githubtest.GitHubHosts...)...)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, githubtest.WithTLS(cert))
	g := &gitDouble{Server: s, caFile: filepath.Join(t.TempDir(), "ca.pem")}
	g.in = s.AddInstallation("acme", "Organization", "widgets", "gadgets")
	g.id = g.in.ID
	if err := os.WriteFile(g.caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_, g.port, _ = net.SplitHostPort(strings.TrimPrefix(s.URL, "https://"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	addr := "127.0.0.1:" + g.port
	g.hc = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	return g
}

// url is https://HOST:PORT/path on the double.
func (g *gitDouble) url(host, path string) string {
	return "https://" + host + ":" + g.port + path
}

// mint mints a token for acme with body (nil: the installation's full
// scope).
func (g *gitDouble) mint(t *testing.T, body any) string {
	t.Helper()
	var tok tokenAnswer
	g.request(t, http.MethodPost, g.url("api.github.com", fmt.Sprintf("/app/installations/%d/access_tokens", g.id)), "Bearer "+appJWT(t, g.Server), body, http.StatusCreated).json(t, &tok)
	return tok.Token
}

func (g *gitDouble) request(t *testing.T, method, url, auth string, body any, status int) response {
	t.Helper()
	old := http.DefaultClient
	http.DefaultClient = g.hc
	defer func() { http.DefaultClient = old }()
	r := do(t, method, url, auth, body)
	wantStatus(t, r, status)
	return r
}

// git runs git in dir as a GitHub App's client would: token (if not empty)
// comes from a credential helper as x-access-token's password. It returns
// the combined output.
func (g *gitDouble) git(t *testing.T, dir, token string, args ...string) (string, error) {
	t.Helper()
	pre := []string{"-c", "http.curloptResolve=github.com:" + g.port + ":127.0.0.1", "-c", "user.name=Test", "-c", "user.email=test@example.com"}
	if token != "" {
		pre = append(pre, "-c", "credential.helper=!f() { test \"$1\" = get && echo username=x-access-token && echo password="+token+"; }; f")
	}
	cmd := exec.Command("git", append(pre, args...)...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_SSL_CAINFO=" + g.caFile}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (g *gitDouble) mustGit(t *testing.T, dir, token string, args ...string) string {
	t.Helper()
	out, err := g.git(t, dir, token, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// repoURL is the clone URL of acme/NAME.
func (g *gitDouble) repoURL(name string) string {
	return g.url("github.com", "/acme/"+name+".git")
}

// lastGitCall is the last git request the double recorded.
func (g *gitDouble) lastGitCall(t *testing.T) githubtest.Call {
	t.Helper()
	calls := g.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Git {
			return calls[i]
		}
	}
	t.Fatal("no git request recorded")
	return githubtest.Call{}
}

func TestGitCloneFetchPush(t *testing.T) {
	g := newGitDouble(t)
	tok := g.mint(t, map[string]any{"repositories": []string{"widgets"}, "permissions": map[string]string{"contents": "write"}})
	work := t.TempDir()

	g.mustGit(t, work, tok, "clone", "--quiet", g.repoURL("widgets"), "w")
	readme, err := os.ReadFile(filepath.Join(work, "w", "README.md"))
	if err != nil || !strings.Contains(string(readme), "acme/widgets") {
		t.Fatalf("README after clone: %q, %v", readme, err)
	}
	if log := g.mustGit(t, filepath.Join(work, "w"), "", "log", "--format=%s", "main"); strings.TrimSpace(log) != "Initial commit" {
		t.Errorf("history %q, want the seed commit", log)
	}

	// Every git request is recorded on github.com with the token's hash.
	c := g.lastGitCall(t)
	if c.Host != "github.com:"+g.port || c.CredentialSHA256 != githubtest.CredentialSHA256(tok) || c.Status != http.StatusOK ||
		c.Path != "/acme/widgets.git/git-upload-pack" || c.Method != http.MethodPost {
		t.Errorf("last git call %+v", c)
	}

	// Push a commit; the bare repository has it.
	wd := filepath.Join(work, "w")
	if err := os.WriteFile(filepath.Join(wd, "new.txt"), []byte("pushed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.mustGit(t, wd, "", "add", "new.txt")
	g.mustGit(t, wd, "", "commit", "--quiet", "-m", "Pushed commit")
	g.mustGit(t, wd, tok, "push", "--quiet", "origin", "main")
	head := strings.TrimSpace(g.mustGit(t, wd, "", "rev-parse", "HEAD"))
	dir, err := g.GitDir("acme/widgets")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "--git-dir="+dir, "rev-parse", "refs/heads/main").Output(); err != nil || strings.TrimSpace(string(out)) != head {
		t.Fatalf("double's main = %q (%v), want the pushed %s", out, err, head)
	}
	if c := g.lastGitCall(t); c.Path != "/acme/widgets.git/git-receive-pack" || c.Status != http.StatusOK {
		t.Errorf("push recorded as %+v", c)
	}

	// A second clone fetches what was pushed; the URL without .git and
	// another case work as on GitHub.
	g.mustGit(t, work, tok, "clone", "--quiet", g.url("github.com", "/ACME/Widgets"), "w2")
	if got := strings.TrimSpace(g.mustGit(t, filepath.Join(work, "w2"), "", "rev-parse", "HEAD")); got != head {
		t.Errorf("second clone at %s, want %s", got, head)
	}
	if err := os.WriteFile(filepath.Join(wd, "more.txt"), []byte("more\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.mustGit(t, wd, "", "add", "more.txt")
	g.mustGit(t, wd, "", "commit", "--quiet", "-m", "Second push")
	g.mustGit(t, wd, tok, "push", "--quiet", "origin", "main")
	g.mustGit(t, filepath.Join(work, "w2"), tok, "fetch", "--quiet", "origin")
	if log := g.mustGit(t, filepath.Join(work, "w2"), "", "log", "--format=%s", "-1", "origin/main"); strings.TrimSpace(log) != "Second push" {
		t.Errorf("fetch brought %q", log)
	}

	// A chunked push (a pack above git's 1 MiB post buffer) works too.
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i*7919 + i/251)
	}
	if err := os.WriteFile(filepath.Join(wd, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	g.mustGit(t, wd, "", "-c", "core.compression=0", "add", "big.bin")
	g.mustGit(t, wd, "", "commit", "--quiet", "-m", "Big")
	g.mustGit(t, wd, tok, "-c", "pack.compression=0", "push", "--quiet", "origin", "main")
}

func TestGitRefusals(t *testing.T) {
	g := newGitDouble(t)
	work := t.TempDir()
	all := g.mint(t, nil)
	g.mustGit(t, work, all, "clone", "--quiet", g.repoURL("widgets"), "w")
	wd := filepath.Join(work, "w")
	if err := os.WriteFile(filepath.Join(wd, "x.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.mustGit(t, wd, "", "add", "x.txt")
	g.mustGit(t, wd, "", "commit", "--quiet", "-m", "x")

	readOnly := g.mint(t, map[string]any{"permissions": map[string]string{"contents": "read"}})
	gadgetsOnly := g.mint(t, map[string]any{"repositories": []string{"gadgets"}})
	noContents := g.mint(t, map[string]any{"permissions": map[string]string{"issues": "write"}})
	revoked := g.mint(t, nil)
	if !g.RevokeToken(revoked) {
		t.Fatal("RevokeToken refused a live token")
	}
	g.SetTokenLifetime(time.Second)
	expired := g.mint(t, nil)
	g.SetTokenLifetime(time.Hour)
	for {
		if tk, _ := g.LookupToken(expired); !tk.Live(time.Now()) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	cases := map[string]struct {
		token  string
		push   bool
		status int
		say    string // what git prints
	}{
		"no credentials":           {"", false, 401, "terminal prompts disabled"},
		"unknown token":            {"ghs_" + strings.Repeat("A", 516), false, 401, "remote: Invalid username or token. Password authentication is not supported for Git operations."},
		"revoked token":            {revoked, false, 401, "remote: Invalid username or token."},
		"expired token":            {expired, false, 401, "remote: Invalid username or token."},
		"expired token pushing":    {expired, true, 401, "remote: Invalid username or token."},
		"token for another repo":   {gadgetsOnly, false, 404, "remote: Repository not found."},
		"token without contents":   {noContents, false, 404, "remote: Repository not found."},
		"read-only token pushing":  {readOnly, true, 403, "remote: Write access to repository not granted."},
		"another repo and pushing": {gadgetsOnly, true, 404, "remote: Repository not found."},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out string
			var err error
			if tc.push {
				out, err = g.git(t, wd, tc.token, "push", "origin", "main")
			} else {
				out, err = g.git(t, work, tc.token, "ls-remote", g.repoURL("widgets"))
			}
			if err == nil {
				t.Fatalf("git succeeded:\n%s", out)
			}
			if !strings.Contains(out, tc.say) {
				t.Errorf("git said %q, want %q", out, tc.say)
			}
			c := g.lastGitCall(t)
			if c.Status != tc.status || c.CredentialSHA256 != githubtest.CredentialSHA256(tc.token) {
				t.Errorf("recorded %+v, want status %d", c, tc.status)
			}
		})
	}

	// What the refusals look like on the wire.
	r := g.request(t, http.MethodGet, g.url("github.com", "/acme/widgets.git/info/refs?service=git-upload-pack"), "", nil, http.StatusUnauthorized)
	if r.Header.Get("WWW-Authenticate") != `Basic realm="GitHub"` {
		t.Errorf("401 without WWW-Authenticate Basic realm=GitHub: %v", r.Header)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+gadgetsOnly))
	r = g.request(t, http.MethodGet, g.url("github.com", "/acme/widgets.git/info/refs?service=git-upload-pack"), basic, nil, http.StatusNotFound)
	if string(r.body) != "Repository not found.\n" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("404 body %q, type %q", r.body, r.Header.Get("Content-Type"))
	}
	// A bearer token is not how git authenticates to github.com.
	g.request(t, http.MethodGet, g.url("github.com", "/acme/widgets.git/info/refs?service=git-upload-pack"), "Bearer "+all, nil, http.StatusUnauthorized)
	// A repository nobody has is not found, whatever the token.
	basic = "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+all))
	g.request(t, http.MethodGet, g.url("github.com", "/acme/nope.git/info/refs?service=git-upload-pack"), basic, nil, http.StatusNotFound)
	g.request(t, http.MethodGet, g.url("github.com", "/other/widgets.git/info/refs?service=git-upload-pack"), basic, nil, http.StatusNotFound)

	// And the push that is allowed still works after all that.
	g.mustGit(t, wd, all, "push", "--quiet", "origin", "main")
}

// Git lives on github.com, the API on api.github.com, as on GitHub.
func TestGitAndAPIHosts(t *testing.T) {
	g := newGitDouble(t)
	tok := g.mint(t, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok))
	g.request(t, http.MethodGet, g.url("api.github.com", "/acme/widgets.git/info/refs?service=git-upload-pack"), basic, nil, http.StatusNotFound)
	g.request(t, http.MethodGet, g.url("github.com", "/app"), "Bearer "+appJWT(t, g.Server), nil, http.StatusNotFound)
	g.request(t, http.MethodGet, g.url("api.github.com", "/app"), "Bearer "+appJWT(t, g.Server), nil, http.StatusOK)
	g.request(t, http.MethodGet, g.url("github.com", "/acme/widgets.git/info/refs?service=git-upload-pack"), basic, nil, http.StatusOK)

	// The admin API arms a revocation too: the next GET kills its token.
	n, method := 1, http.MethodGet
	if err := g.ApplyFaults(githubtest.FaultSettings{RevokeNext: &n, RevokeMethod: method}); err != nil {
		t.Fatal(err)
	}
	g.request(t, http.MethodGet, g.url("github.com", "/acme/widgets.git/info/refs?service=git-upload-pack"), basic, nil, http.StatusUnauthorized)
	if tk, _ := g.LookupToken(tok); tk.RevokedAt.IsZero() {
		t.Error("token not revoked")
	}
}

// Faults reach git too: an injected 5xx, a token revoked mid-clone, a slow
// answer.
func TestGitFaults(t *testing.T) {
	g := newGitDouble(t)
	tok := g.mint(t, nil)
	work := t.TempDir()

	g.FailNext(1, http.StatusBadGateway)
	if out, err := g.git(t, work, tok, "clone", "--quiet", g.repoURL("widgets"), "a"); err == nil || !strings.Contains(out, "502") {
		t.Fatalf("clone during an injected 502: %v\n%s", err, out)
	}
	g.mustGit(t, work, tok, "clone", "--quiet", g.repoURL("widgets"), "a")

	// Revoked as the pack is asked for (after the ref advertisement).
	var revoked []string
	g.RevokeTokenOnNext(1, githubtest.MethodIs(http.MethodPost), func(tk githubtest.Token) { revoked = append(revoked, tk.Value) })
	out, err := g.git(t, work, tok, "clone", "--quiet", g.repoURL("widgets"), "b")
	if err == nil || !strings.Contains(out, "HTTP 401") {
		t.Fatalf("clone with the token revoked mid-way: %v\n%s", err, out)
	}
	if len(revoked) != 1 || revoked[0] != tok {
		t.Fatalf("hook saw %d tokens", len(revoked))
	}
	if tk, _ := g.LookupToken(tok); tk.RevokedAt.IsZero() {
		t.Fatal("token not revoked")
	}
	if n := g.Faults().InjectedRevocations; n != 1 {
		t.Errorf("InjectedRevocations %d", n)
	}

	// Slowed: a clone of a few hundred KiB in 16 KiB pieces, each delayed.
	tok = g.mint(t, nil)
	if err := g.AddRandomContent("acme/gadgets", 300<<10); err != nil {
		t.Fatal(err)
	}
	g.SetGitChunkDelay(20 * time.Millisecond)
	g.mustGit(t, work, tok, "clone", "--quiet", g.repoURL("gadgets"), "c")
	g.SetGitChunkDelay(0)
	fi, err := os.Stat(filepath.Join(work, "c", "random", "0000.bin"))
	if err != nil || fi.Size() != 300<<10 {
		t.Fatalf("random content after clone: %v %v", fi, err)
	}
}

// AddRandomContent makes a pack at least as big as asked.
func TestAddRandomContent(t *testing.T) {
	g := newGitDouble(t)
	const size = 20 << 20
	if err := g.AddRandomContent("acme/widgets", size); err != nil {
		t.Fatal(err)
	}
	dir, err := g.GitDir("acme/widgets")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "--git-dir="+dir, "count-objects", "-v").Output()
	if err != nil {
		t.Fatal(err)
	}
	var packKiB int64
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "size-pack: "); ok {
			fmt.Sscan(v, &packKiB)
		}
	}
	if packKiB*1024 < size {
		t.Fatalf("pack of %d KiB, want at least %d", packKiB, size>>10)
	}
	if err := g.AddRandomContent("acme/nope", 1); err == nil {
		t.Error("AddRandomContent to an unknown repository succeeded")
	}
}

// A push is recorded as ref changes, and pushes and API writes share one
// repository.
func TestPushRecordsRefChanges(t *testing.T) {
	g := newGitDouble(t)
	tok := g.mint(t, nil)
	work := t.TempDir()
	g.mustGit(t, work, tok, "clone", "--quiet", g.repoURL("widgets"), "w")
	wd := filepath.Join(work, "w")
	seed := strings.TrimSpace(g.mustGit(t, wd, "", "rev-parse", "HEAD"))
	if err := os.WriteFile(filepath.Join(wd, "p.txt"), []byte("p\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.mustGit(t, wd, "", "add", "p.txt")
	g.mustGit(t, wd, "", "commit", "--quiet", "-m", "p")
	head := strings.TrimSpace(g.mustGit(t, wd, "", "rev-parse", "HEAD"))
	g.mustGit(t, wd, tok, "push", "--quiet", "origin", "main", "HEAD:refs/heads/topic", "HEAD:refs/tags/v1")

	refs, err := g.Refs("acme/widgets")
	if err != nil {
		t.Fatal(err)
	}
	if refs["refs/heads/main"] != head || refs["refs/heads/topic"] != head || refs["refs/tags/v1"] != head {
		t.Fatalf("refs after push %v", refs)
	}
	got := map[string]githubtest.RefChange{}
	for _, c := range g.RefChanges() {
		got[c.Ref] = c
	}
	if c := got["refs/heads/main"]; c.Old != seed || c.New != head || c.By != "git push" || c.Repo != "acme/widgets" {
		t.Errorf("main change %+v", c)
	}
	if c := got["refs/heads/topic"]; c.Old != "" || c.New != head || c.By != "git push" {
		t.Errorf("topic change %+v", c)
	}

	// The API sees the push; git sees the API's write.
	basic := "Bearer " + tok
	g.request(t, http.MethodPost, g.url("api.github.com", "/repos/acme/widgets/git/refs"), basic, map[string]any{"ref": "refs/heads/api", "sha": seed}, http.StatusCreated)
	if out := g.mustGit(t, wd, tok, "ls-remote", "origin", "refs/heads/api"); !strings.HasPrefix(out, seed) {
		t.Errorf("ls-remote after the API created refs/heads/api: %q", out)
	}
	// As on GitHub, the default branch cannot be deleted.
	before := g.RefChanges()
	if out, err := g.git(t, wd, tok, "push", "origin", ":main"); err == nil || !strings.Contains(out, "refusing to delete the current branch: refs/heads/main") {
		t.Errorf("deleting main by push: %v\n%s", err, out)
	}
	if len(g.RefChanges()) != len(before) {
		t.Error("a refused push recorded a ref change")
	}
	g.mustGit(t, wd, tok, "push", "--quiet", "origin", ":refs/heads/api")
	if all := g.RefChanges(); all[len(all)-1].Ref != "refs/heads/api" || all[len(all)-1].New != "" || all[len(all)-1].By != "git push" {
		t.Errorf("delete by push recorded as %+v", all[len(all)-1])
	}
	// Push options, which GitHub's receive-pack advertises and ignores.
	if out, err := g.git(t, wd, tok, "push", "--quiet", "-o", "ci.skip", "-o", "note=a b", "origin", "HEAD:refs/heads/opts"); err != nil {
		t.Fatalf("push with -o: %v\n%s", err, out)
	}
	if refs, _ := g.Refs("acme/widgets"); refs["refs/heads/opts"] != head {
		t.Errorf("the push with -o left refs/heads/opts at %q, want %s", refs["refs/heads/opts"], head)
	}
}

// A push can take effect and then fail: the refs move and are recorded,
// while git sees a 502.
func TestGitPushFailsAfterEffect(t *testing.T) {
	g := newGitDouble(t)
	tok := g.mint(t, nil)
	work := t.TempDir()
	g.mustGit(t, work, tok, "clone", "--quiet", g.repoURL("widgets"), "w")
	wd := filepath.Join(work, "w")
	g.mustGit(t, wd, "", "commit", "--quiet", "--allow-empty", "-m", "late")
	head := strings.TrimSpace(g.mustGit(t, wd, "", "rev-parse", "HEAD"))
	n, method, path := 1, "POST", "/git-receive-pack"
	if err := g.ApplyFaults(githubtest.FaultSettings{FailNextAfterEffect: &n, FailAfterEffectMethod: method, FailAfterEffectPath: path}); err != nil {
		t.Fatal(err)
	}
	out, err := g.git(t, wd, tok, "push", "origin", "HEAD:refs/heads/late")
	if err == nil || !strings.Contains(out, "502") {
		t.Fatalf("push with a 502 after effect: %v\n%s", err, out)
	}
	refs, _ := g.Refs("acme/widgets")
	if refs["refs/heads/late"] != head {
		t.Fatalf("the push did not take effect: %v", refs)
	}
	all := g.RefChanges()
	if c := all[len(all)-1]; c.Ref != "refs/heads/late" || c.By != "git push" {
		t.Fatalf("recorded %+v", c)
	}
	if f := g.Faults(); f.InjectedAfterEffect != 1 {
		t.Errorf("faults %+v", f)
	}
}
