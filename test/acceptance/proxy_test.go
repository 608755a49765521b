//go:build acceptance

package acceptance

// The token proxy end to end (issue 17): a real Vault with the engine, a
// real Vault Agent rendering credentials.json with the shipped recipe
// (examples/runner/agent-approle.hcl and its templates, time compressed as
// the continuity soak compresses it), the proxy built from
// cmd/github-token-proxy reading that file, and the GitHub double serving
// git and the API under github.com's names over TLS (the proxy reaches it
// with -resolve and -upstream-ca).
//
// The "agent side" is what a runner pod's agent container gets: HTTPS_PROXY,
// the proxy's CA certificate (GIT_SSL_CAINFO, SSL_CERT_FILE, CURL_CA_BUNDLE)
// and a placeholder GH_TOKEN, with its own HOME and work tree. Real git, gh
// and curl run there; the test watches their command lines and
// environments while they run and reads every file they can, and no
// GitHub token may appear in any of them.
//
// BenchmarkProxyClone (run with -bench, never by make testacc) clones a
// repository with a pack over 200 MB directly and through the proxy.

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

const (
	// proxyRole is the session's role, as session-start.sh names it;
	// proxyAppRole the AppRole role the session policy maps to it.
	proxyRole    = "session_" + proxyAppRole
	proxyAppRole = "ambient-sessions_ambient-session-p1"
	// proxyMargin and proxyWait are the proxy's -margin and -wait at the
	// soak's scale (GitHub's hour is 60 s): a token is used until 5 s
	// before Vault revokes it, and a request waits up to 30 s (more than
	// Agent's re-read interval) for a fresh one.
	proxyMargin = 5 * time.Second
	proxyWait   = 30 * time.Second
	// placeholderToken is the agent side's GH_TOKEN: gh sends nothing
	// without one; the proxy replaces it.
	placeholderToken = "placeholder-the-proxy-injects-the-real-token"
	// evilHost is a host the proxy does not inject for; -resolve sends it
	// to a recording TLS listener, and plainHost to a plain-HTTP one.
	evilHost  = "evil.example"
	plainHost = "plain.example"
)

// basicPrefix is base64 of "x-access-token:", the start of a git Basic
// credential: it must not appear on the agent side either.
var basicPrefix = base64.StdEncoding.EncodeToString([]byte("x-access-token:"))[:16]

// proxyRig is Vault, Agent, the double, the proxy and the agent side.
type proxyRig struct {
	t        testing.TB
	d        *githubtest.Server
	dAddr    string // 127.0.0.1:PORT of the double
	dCA      *githubtest.TestCA
	dCAFile  string
	v        *vaultServer
	work     string // Agent's directory; it renders into work/github
	creds    string // work/github/credentials.json: what the proxy reads
	agent    *process
	proxyBin string
	proxy    *process
	// proxyAddr is the proxy's listen address, proxyCA its CA certificate
	// file (the agent side's trust).
	proxyAddr, proxyCA string
	rec, plainRec      *recorder
	// The agent side.
	home, tree string
	env        []string

	mu        sync.Mutex
	procTexts map[string]string // command line and environment of each agent-side process seen → its name
	injected  map[string]bool   // tokens the double revoked by RevokeTokenOnNext
}

// noteInjected records a token the double revoked on the test's demand.
func (r *proxyRig) noteInjected(tk githubtest.Token) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.injected[tk.Value] = true
}

func (r *proxyRig) wasInjected(token string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.injected[token]
}

type rigOptions struct {
	tokenLife, buffer time.Duration
}

func newProxyRig(t testing.TB, o rigOptions) *proxyRig {
	t.Helper()
	r := &proxyRig{t: t, procTexts: map[string]string{}, injected: map[string]bool{}}
	td := newTLSDouble(t, githubtest.WithTokenLifetime(o.tokenLife))
	r.d, r.dAddr, r.dCA, r.dCAFile = td.Server, td.addr, td.ca, td.caFile
	r.rec, r.plainRec = newRecorder(t, r.dCA), newRecorder(t, nil)

	// Vault and the session, as the README sets them up.
	r.v = startVault(t, vaultOptions{LogLevel: "info"})
	r.v.enableEngine(t, "github")
	r.v.configureEngine(t, "github", r.d, map[string]any{"expiry_buffer": o.buffer.String(), "ca_certificate": string(r.dCA.CertPEM)})
	roleID, secretID := r.v.approle(t, proxyAppRole, "github-session-approle")
	putSessionPolicy(t, r.v)
	writeSessionBound(t, r.v)
	if out, errOut, err := runExampleScript(t, vaultEnv(r.v, r.v.RootToken), "", examplePath("runner", "session-start.sh"), "p1", "acme/widgets", "acme/gadgets"); err != nil {
		t.Fatalf("session-start.sh p1: %v\n%s%s", err, out, errOut)
	}

	// Agent with the shipped recipe, in its own directory (the token
	// volume is work/github).
	r.work = t.TempDir()
	for _, f := range runnerTemplates {
		copyExample(t, r.work, "runner", f)
	}
	cfg, _ := soakAgentConfig(t, readExample(t, "runner", "agent-approle.hcl"))
	if err := os.WriteFile(filepath.Join(r.work, "agent-approle.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for f, val := range map[string]string{"role-id": roleID, "secret-id": secretID} {
		if err := os.WriteFile(filepath.Join(r.work, f), []byte(val), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.creds = renderedIn(filepath.Join(r.work, "github")).Credentials
	logPath := filepath.Join(r.work, "agent.log")
	watchLog(t, "vault agent", logPath)
	r.agent = startProcessIn(t, r.work, "vault agent", logPath,
		exampleEnv("VAULT_ADDR="+r.v.Addr, "GITHUB_ROLE="+proxyRole, "GIT_USER_NAME=Proxy Test", "GIT_USER_EMAIL=proxy@example.com"),
		agentBin, "agent", "-config=agent-approle.hcl")
	t.Cleanup(func() { r.agent.stop(t, 15*time.Second) })
	waitUntil(t, time.Now().Add(60*time.Second), 100*time.Millisecond, func() (bool, string) {
		return r.fileToken() != "", "Agent rendered no credentials.json within 60s"
	})

	r.startProxy(t, "tunnel")

	// The agent side: a HOME, a work tree, and only the proxy's settings.
	r.home, r.tree = t.TempDir(), t.TempDir()
	gitconfig := "[user]\n\tname = Agent\n\temail = agent@example.com\n[init]\n\tdefaultBranch = main\n"
	if err := os.WriteFile(filepath.Join(r.home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		t.Fatal(err)
	}
	r.env = agentSideEnv(r.home, tokenProxy{addr: r.proxyAddr, caFile: r.proxyCA})
	return r
}

// agentSideEnv is all an agent container gets: PATH, its HOME, the proxy
// (HTTPS_PROXY, HTTP_PROXY), the proxy's CA certificate where git, Go (gh)
// and curl read their trust, and a placeholder GH_TOKEN for gh, which
// sends nothing without one.
func agentSideEnv(home string, tp tokenProxy) []string {
	proxyURL := "http://" + tp.addr
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"HTTPS_PROXY=" + proxyURL,
		"HTTP_PROXY=" + proxyURL,
		"GIT_SSL_CAINFO=" + tp.caFile,
		"SSL_CERT_FILE=" + tp.caFile,
		"CURL_CA_BUNDLE=" + tp.caFile,
		"GH_TOKEN=" + placeholderToken,
		"GH_HOST=github.com",
		"GIT_TERMINAL_PROMPT=0", // a refusal must fail, not wait for a terminal
	}
}

// tlsDouble is the GitHub double (newDouble) over TLS with a certificate
// for 127.0.0.1 and github.com's names from its own CA: Vault trusts it
// through the engine's ca_certificate, the proxy through -upstream-ca.
type tlsDouble struct {
	*githubtest.Server
	addr   string // 127.0.0.1:PORT
	ca     *githubtest.TestCA
	caFile string
}

func newTLSDouble(t testing.TB, opts ...githubtest.Option) *tlsDouble {
	t.Helper()
	ca, err := githubtest.NewTestCA("github.com double CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(append([]string{"127.0.0.1"}, githubtest.GitHubHosts...)...)
	if err != nil {
		t.Fatal(err)
	}
	td := &tlsDouble{Server: newDouble(t, append(opts, githubtest.WithTLS(cert))...), ca: ca}
	u, err := url.Parse(td.URL)
	if err != nil {
		t.Fatal(err)
	}
	td.addr = u.Host
	td.caFile = filepath.Join(t.TempDir(), "double-ca.pem")
	if err := os.WriteFile(td.caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return td
}

// buildProxy builds cmd/github-token-proxy once per test binary run.
var buildProxy = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "acceptance-proxy-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "github-token-proxy")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/github-token-proxy")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/github-token-proxy: %v\n%s", err, out)
	}
	return bin, nil
})

// startProxy starts a proxy for the rig (see startTokenProxy) with
// evil.example sent to the recording listener; the first one started is
// the agent side's.
func (r *proxyRig) startProxy(t testing.TB, other string) (addr, caFile string, p *process) {
	t.Helper()
	tp := startTokenProxy(t, r.creds, r.dAddr, r.dCAFile, other, evilHost+"="+r.rec.addr, plainHost+"="+r.plainRec.addr)
	if r.proxy == nil {
		r.proxy, r.proxyAddr, r.proxyCA = tp.proc, tp.addr, tp.caFile
	}
	return tp.addr, tp.caFile, tp.proc
}

// tokenProxy is a running github-token-proxy.
type tokenProxy struct {
	addr, caFile string
	proc         *process
}

// startTokenProxy starts the proxy built from cmd/github-token-proxy with
// the command line: the credentials file Agent renders, github.com's
// hosts resolved to the double at dAddr and trusted through dCAFile,
// -other-hosts other, extra -resolve values, and the margin and wait at the
// soak's scale. It waits until the proxy listens and has written its CA;
// the proxy is stopped when the test ends, and its log is checked never to
// hold a token.
func startTokenProxy(t testing.TB, creds, dAddr, dCAFile, other string, resolve ...string) tokenProxy {
	t.Helper()
	extra := []string{"-other-hosts", other}
	for _, rv := range resolve {
		extra = append(extra, "-resolve", rv)
	}
	return startTokenProxyWith(t, creds, dAddr, dCAFile, "", extra...)
}

// fileToken is the token in credentials.json now ("" if none yet).
func (r *proxyRig) fileToken() string {
	data, err := os.ReadFile(r.creds)
	if err != nil {
		return ""
	}
	var c credentialsJSON
	if json.Unmarshal(data, &c) != nil {
		return ""
	}
	return c.Token
}

// fileValidUntil is the validUntil in credentials.json now (zero if none).
func (r *proxyRig) fileValidUntil() time.Time {
	data, err := os.ReadFile(r.creds)
	if err != nil {
		return time.Time{}
	}
	var c credentialsJSON
	if json.Unmarshal(data, &c) != nil || c.ValidUntil == 0 {
		return time.Time{}
	}
	return time.Unix(c.ValidUntil, 0)
}

// waitNewToken waits until credentials.json holds a token other than old.
func (r *proxyRig) waitNewToken(t testing.TB, old string) string {
	t.Helper()
	var tok string
	waitUntil(t, time.Now().Add(90*time.Second), 100*time.Millisecond, func() (bool, string) {
		tok = r.fileToken()
		return tok != "" && tok != old, "Agent rendered no new token within 90s"
	})
	return tok
}

// run runs an agent-side command in dir with the agent side's environment
// and returns its combined output. While it runs, the command lines and
// environments of it and its children (git-remote-https, gh's helpers)
// are read from /proc, for checkNoToken.
func (r *proxyRig) run(t testing.TB, dir string, timeout time.Duration, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, r.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	stop, scanned := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scanned)
		for {
			r.scanProcs(cmd.Process.Pid)
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	<-scanned
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: killed after %s: %v", bin, strings.Join(args, " "), timeout, err)
	}
	if bytes.Contains(out.Bytes(), []byte("ghs_")) {
		t.Errorf("%s %s printed a GitHub token", bin, strings.Join(args, " "))
	}
	return out.String(), err
}

func (r *proxyRig) mustRun(t testing.TB, dir string, bin string, args ...string) string {
	t.Helper()
	out, err := r.run(t, dir, 2*time.Minute, bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return out
}

// scanProcs records the command line and environment of pid and its
// descendants.
func (r *proxyRig) scanProcs(pid int) {
	pids := []int{pid}
	for i := 0; i < len(pids); i++ {
		for _, c := range childPIDs(pids[i]) {
			pids = append(pids, c.pid)
		}
	}
	for _, p := range pids {
		cmdline, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		environ, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p))
		if err1 != nil || err2 != nil || len(cmdline) == 0 {
			continue
		}
		name, _, _ := bytes.Cut(cmdline, []byte{0})
		r.mu.Lock()
		r.procTexts[string(cmdline)+"\x00\x00"+string(environ)] = filepath.Base(string(name))
		r.mu.Unlock()
	}
}

// checkNoToken asserts that no GitHub token (nor a git Basic credential
// made of one) is in the command lines or environments of the agent side's
// processes, or in any file under its HOME and work tree (.git/config, git's
// credential stores, gh's hosts.yml included). It returns the names of the
// processes seen.
func (r *proxyRig) checkNoToken(t testing.TB) []string {
	t.Helper()
	var tokens []string
	for _, tk := range r.d.Tokens() {
		tokens = append(tokens, tk.Value)
	}
	if len(tokens) == 0 {
		t.Fatal("the double issued no tokens: nothing was checked")
	}
	// A file may hold random bytes (the repositories' content), so files
	// are searched for the tokens themselves and their git Basic form;
	// command lines and environments also for any "ghs_".
	leaks := func(b []byte) bool {
		for _, tk := range tokens {
			if bytes.Contains(b, []byte(tk)) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tk)))) {
				return true
			}
		}
		return false
	}
	r.mu.Lock()
	var names []string
	for text, name := range r.procTexts {
		if leaks([]byte(text)) || strings.Contains(text, "ghs_") || strings.Contains(text, basicPrefix) {
			t.Errorf("agent-side process %s had a GitHub token in its command line or environment", name)
		}
		names = append(names, name)
	}
	r.mu.Unlock()
	slices.Sort(names)
	names = slices.Compact(names)
	files := 0
	for _, root := range []string{r.home, r.tree, r.proxyCA} {
		err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !e.Type().IsRegular() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if leaks(data) {
				t.Errorf("agent-side file %s holds a GitHub token", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("no token in %d agent-side process images (%s) nor in %d agent-side files; %d tokens checked", len(r.procTexts), strings.Join(names, ", "), files, len(tokens))
	return names
}

// proxyCalls are the double's calls that came through the proxy (by
// github.com's names, not the address Vault uses) from index from on.
func (r *proxyRig) proxyCalls(from int) []githubtest.Call {
	var out []githubtest.Call
	for _, c := range r.d.Calls()[from:] {
		if c.Host != r.dAddr {
			out = append(out, c)
		}
	}
	return out
}

// issued reports whether hash is the hash of a token the double issued.
func (r *proxyRig) issued(hash string) (githubtest.Token, bool) {
	for _, tk := range r.d.Tokens() {
		if githubtest.CredentialSHA256(tk.Value) == hash {
			return tk, true
		}
	}
	return githubtest.Token{}, false
}

// goClient is a Go HTTP client on the agent side: the proxy, and the
// proxy's CA as its only trust.
func (r *proxyRig) goClient(t testing.TB, proxyAddr, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	pu, _ := url.Parse("http://" + proxyAddr)
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		Proxy:           http.ProxyURL(pu),
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
}

// proxyBranch is the branch the session's pushes go to: inside its write
// scope (session-start.sh gives session p1 ambient/p1/*), so the proxy
// lets them through; main is outside it.
const proxyBranch = "ambient/p1/work"

// pushSpec pushes the work tree's HEAD to proxyBranch.
const pushSpec = "HEAD:refs/heads/" + proxyBranch

// gitBranch is the double's proxyBranch of acme/NAME.
func (r *proxyRig) gitBranch(t testing.TB, name string) string {
	t.Helper()
	dir, err := r.d.GitDir("acme/" + name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "--git-dir="+dir, "rev-parse", "refs/heads/"+proxyBranch).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// commit adds a file of size bytes (random: incompressible) in the clone
// wd and commits it.
func (r *proxyRig) commit(t testing.TB, wd, name string, size int) {
	t.Helper()
	data := make([]byte, size)
	crand.Read(data) // never fails

	if err := os.WriteFile(filepath.Join(wd, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r.mustRun(t, wd, "git", "add", name)
	r.mustRun(t, wd, "git", "commit", "--quiet", "-m", "Add "+name)
}

// TestProxyEndToEnd runs the agent side's real clients through the proxy,
// the token rotating under them, the double revoking it under the proxy's
// feet, and hostile requests; no token ever reaches the agent side or any
// host but the double.
func TestProxyEndToEnd(t *testing.T) {
	r := newProxyRig(t, rigOptions{tokenLife: soakTokenLife, buffer: soakBuffer})
	const remote = "https://github.com/acme/widgets.git"
	wd := filepath.Join(r.tree, "widgets")

	t.Run("clients", func(t *testing.T) {
		mark := len(r.d.Calls())
		r.mustRun(t, r.tree, "git", "clone", "--quiet", remote, "widgets")
		if readme, err := os.ReadFile(filepath.Join(wd, "README.md")); err != nil || !strings.Contains(string(readme), "acme/widgets") {
			t.Fatalf("README after clone: %q %v", readme, err)
		}
		r.commit(t, wd, "first.txt", 100)
		r.mustRun(t, wd, "git", "push", "--quiet", "origin", pushSpec)
		if head := strings.TrimSpace(r.mustRun(t, wd, "git", "rev-parse", "HEAD")); r.gitBranch(t, "widgets") != head {
			t.Fatalf("the double's %s is not the pushed %s", proxyBranch, head)
		}
		r.mustRun(t, wd, "git", "fetch", "--quiet", "origin")

		var repo struct {
			FullName string `json:"full_name"`
			ID       int64  `json:"id"`
		}
		out := r.mustRun(t, r.tree, "gh", "api", "repos/acme/widgets")
		if err := json.Unmarshal([]byte(out), &repo); err != nil || repo.FullName != "acme/widgets" || repo.ID != githubtest.FirstRepositoryID {
			t.Errorf("gh api repos/acme/widgets: %+v %v\n%s", repo, err, out)
		}
		out = r.mustRun(t, r.tree, "gh", "repo", "view", "acme/widgets")
		if !strings.Contains(out, "name:\tacme/widgets") || !strings.Contains(out, "# acme/widgets") {
			t.Errorf("gh repo view acme/widgets printed:\n%s", out)
		}
		out = r.mustRun(t, r.tree, "curl", "-sS", "--fail", "-H", "User-Agent: curl-agent", "https://api.github.com/repos/acme/widgets")
		if err := json.Unmarshal([]byte(out), &repo); err != nil || repo.FullName != "acme/widgets" {
			t.Errorf("curl: %+v %v\n%s", repo, err, out)
		}
		hc := r.goClient(t, r.proxyAddr, r.proxyCA)
		req, _ := http.NewRequest(http.MethodGet, "https://api.github.com/repos/acme/widgets", nil)
		req.Header.Set("User-Agent", "go-agent")
		req.Header.Set("Authorization", "token "+placeholderToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Go client: %d", resp.StatusCode)
		}

		// Every request reached the double under github.com's names with a
		// token the double issued: git as Basic, the API as Bearer.
		var gitN, apiN, gql int
		for _, c := range r.proxyCalls(mark) {
			if _, ok := r.issued(c.CredentialSHA256); !ok || c.Status >= 400 {
				t.Errorf("call %s %s%s: status %d, credential not a token the double issued", c.Method, c.Host, c.Path, c.Status)
			}
			switch {
			case c.Git && c.Host == "github.com":
				gitN++
			case !c.Git && c.Host == "api.github.com":
				apiN++
				if c.Path == "/graphql" {
					gql++
				}
			default:
				t.Errorf("call %+v on an unexpected host", c)
			}
		}
		if gitN < 6 || apiN < 5 || gql != 1 {
			t.Errorf("%d git and %d API calls (%d GraphQL) through the proxy, want >= 6, >= 5 and 1", gitN, apiN, gql)
		}
	})

	t.Run("401 with time left goes back at once", func(t *testing.T) {
		// Right after a render the file's token has most of its lease
		// left: a 401 to it is GitHub's answer about the request, and
		// the proxy passes it on without waiting for a render that is
		// not due. The double revokes that token under the next GET.
		old := r.fileToken()
		tok := r.waitNewToken(t, old)
		if left := time.Until(r.fileValidUntil()); left < proxyMargin+proxyWait {
			t.Skipf("the fresh token has only %s left", left)
		}
		mark := len(r.d.Calls())
		r.d.RevokeTokenOnNext(1, githubtest.MethodIs(http.MethodGet), r.noteInjected)
		if out, err := r.run(t, r.tree, 2*time.Minute, "git", "ls-remote", remote); err == nil {
			t.Fatalf("git ls-remote with its token revoked succeeded:\n%s", out)
		}
		calls := r.proxyCalls(mark)
		if len(calls) != 1 || calls[0].Status != http.StatusUnauthorized {
			t.Fatalf("calls %+v, want the one GET answered 401 and not sent again", calls)
		}
		// The token in the file is dead until Agent's next render.
		r.waitNewToken(t, tok)
	})

	t.Run("retry after 401", func(t *testing.T) {
		// Agent is late (stopped with SIGSTOP right after a render) until
		// the file's token has less than -margin plus -wait left, when a
		// render is due. The double then revokes the token under the next
		// GET: the proxy waits for Agent's next token (Agent resumed once
		// the 401 is in) and sends the GET again, once.
		r.waitNewToken(t, r.fileToken())
		if err := r.agent.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				if err := r.agent.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Error(err)
				}
			}
		}
		defer resume()
		waitUntil(t, time.Now().Add(60*time.Second), 100*time.Millisecond, func() (bool, string) {
			left := time.Until(r.fileValidUntil())
			return left > proxyMargin+3*time.Second && left < proxyMargin+proxyWait-5*time.Second,
				"the file's token never came within -margin plus -wait of its end"
		})
		mark := len(r.d.Calls())
		r.d.RevokeTokenOnNext(1, githubtest.MethodIs(http.MethodGet), r.noteInjected)
		done := make(chan error, 1)
		go func() {
			out, err := r.run(t, r.tree, 2*time.Minute, "git", "ls-remote", remote)
			if err != nil {
				err = fmt.Errorf("%v\n%s", err, out)
			}
			done <- err
		}()
		waitUntil(t, time.Now().Add(30*time.Second), 50*time.Millisecond, func() (bool, string) {
			for _, c := range r.proxyCalls(mark) {
				if c.Status == http.StatusUnauthorized {
					return true, ""
				}
			}
			return false, "the revoked GET never reached the double"
		})
		resume()
		if err := <-done; err != nil {
			t.Fatalf("git ls-remote: %v", err)
		}
		var gets []githubtest.Call
		for _, c := range r.proxyCalls(mark) {
			if c.Method == http.MethodGet {
				gets = append(gets, c)
			} else if c.Status != http.StatusOK {
				t.Errorf("%s %s answered %d", c.Method, c.Path, c.Status)
			}
		}
		if len(gets) != 2 || gets[0].Status != http.StatusUnauthorized || gets[1].Status != http.StatusOK ||
			gets[0].Path != gets[1].Path || gets[0].CredentialSHA256 == gets[1].CredentialSHA256 {
			t.Fatalf("GETs %+v, want one refused 401 and then sent again, once, with another token and answered 200", gets)
		}
		if tk, ok := r.issued(gets[0].CredentialSHA256); !ok || !r.wasInjected(tk.Value) {
			t.Errorf("the refused GET did not carry the token the double revoked")
		}
		if tk, _ := r.issued(gets[1].CredentialSHA256); !tk.Live(time.Now()) {
			t.Errorf("the retry's token is not live")
		}
	})

	t.Run("no replay of a streamed POST", func(t *testing.T) {
		// A push whose pack (2 MiB, over git's 1 MiB post buffer) git sends
		// chunked and the proxy streams cannot be sent twice: the double
		// revokes the token as that POST arrives (not git's small probe
		// POST before it, which may be replayed), the client gets GitHub's
		// 401, and the double saw that POST once.
		r.commit(t, wd, "big.bin", 2<<20)
		chunkedPack := func(req *http.Request) bool {
			return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/git-receive-pack") && req.ContentLength < 0
		}
		r.d.RevokeTokenOnNext(1, chunkedPack, r.noteInjected)
		mark := len(r.d.Calls())
		// git may see the 401, or (the answer arriving while it still
		// sends the pack) the connection closed under it, as from GitHub.
		out, err := r.run(t, wd, 2*time.Minute, "git", "push", "origin", pushSpec)
		if err == nil {
			t.Fatalf("push with its token revoked under the pack succeeded:\n%s", out)
		}
		t.Logf("git push with its token revoked under the pack: %v: %s", err, strings.TrimSpace(out))
		var refused []githubtest.Call
		for _, c := range r.proxyCalls(mark) {
			if c.Status == http.StatusUnauthorized {
				refused = append(refused, c)
			}
		}
		if len(refused) != 1 || refused[0].Method != http.MethodPost || !strings.HasSuffix(refused[0].Path, "/git-receive-pack") {
			t.Fatalf("refused calls %+v, want exactly the one pack POST", refused)
		}
		for _, c := range r.proxyCalls(mark) {
			if c.Method == http.MethodPost && c.CredentialSHA256 != refused[0].CredentialSHA256 && c.Status != http.StatusOK {
				t.Errorf("another POST: %+v", c)
			}
		}
		if r.d.Faults().InjectedRevocations != 3 {
			t.Fatalf("injected revocations %d, want 3 (the two GETs' and this POST's)", r.d.Faults().InjectedRevocations)
		}
		// Once Agent renders a fresh token, the same push goes through.
		waitUntil(t, time.Now().Add(60*time.Second), 100*time.Millisecond, func() (bool, string) {
			return github.HashToken(r.fileToken()) != refused[0].CredentialSHA256, "Agent rendered no new token within 60s"
		})
		r.mustRun(t, wd, "git", "push", "--quiet", "origin", pushSpec)
		if head := strings.TrimSpace(r.mustRun(t, wd, "git", "rev-parse", "HEAD")); r.gitBranch(t, "widgets") != head {
			t.Fatalf("the double's %s is not the pushed %s", proxyBranch, head)
		}
	})

	t.Run("rotation", func(t *testing.T) {
		// A slowed clone (about 20 s) while pushes follow each other for
		// longer than a lease: Agent renders several tokens, Vault revokes
		// the first ones at the double, every operation succeeds.
		if err := r.d.AddRandomContent("acme/gadgets", 2<<20); err != nil {
			t.Fatal(err)
		}
		mark := len(r.d.Calls())
		start := time.Now()
		first := r.fileToken()
		r.d.SetGitChunkDelay(150 * time.Millisecond)
		defer r.d.SetGitChunkDelay(0)
		cloneErr := make(chan error, 1)
		var cloneOut string
		go func() {
			var err error
			cloneOut, err = r.run(t, r.tree, 3*time.Minute, "git", "clone", "--quiet", "https://github.com/acme/gadgets.git", "gadgets")
			cloneErr <- err
		}()
		cloneDone, pushes := false, 0
		var cloneTook time.Duration
		for !cloneDone || time.Since(start) < soakTokenLife-soakBuffer+10*time.Second {
			select {
			case err := <-cloneErr:
				if err != nil {
					t.Fatalf("slowed clone: %v\n%s", err, cloneOut)
				}
				cloneDone, cloneTook = true, time.Since(start)
			case <-time.After(3 * time.Second):
				pushes++
				r.commit(t, wd, fmt.Sprintf("push-%d.txt", pushes), 64)
				r.mustRun(t, wd, "git", "push", "--quiet", "origin", pushSpec)
			}
		}
		r.d.SetGitChunkDelay(0)
		if fi, err := os.Stat(filepath.Join(r.tree, "gadgets", "random", "0000.bin")); err != nil || fi.Size() != 2<<20 {
			t.Fatalf("clone content: %v %v", fi, err)
		}
		creds := map[string]bool{}
		for _, c := range r.proxyCalls(mark) {
			if c.Git {
				creds[c.CredentialSHA256] = true
				if c.Status != http.StatusOK {
					t.Errorf("git call %s %s answered %d", c.Method, c.Path, c.Status)
				}
			}
		}
		revokedByVault := 0
		for h := range creds {
			if tk, ok := r.issued(h); ok && !tk.RevokedAt.IsZero() && !r.wasInjected(tk.Value) {
				revokedByVault++
			}
		}
		t.Logf("slowed clone took %s; %d pushes in %s; git used %d tokens, %d of them since revoked by Vault; the file's token changed: %v",
			cloneTook.Round(time.Second), pushes, time.Since(start).Round(time.Second), len(creds), revokedByVault, r.fileToken() != first)
		if cloneTook < 10*time.Second || r.fileToken() == first || len(creds) < 3 || revokedByVault < 1 {
			t.Errorf("no rotation under the git operations: clone %s, %d tokens used, %d revoked", cloneTook, len(creds), revokedByVault)
		}
	})

	t.Run("hostile", func(t *testing.T) { r.hostile(t) })

	r.checkNoToken(t)
}

// hostile sends what a prompt-injected agent might to make the proxy put
// the token elsewhere; the recording listener (where evil.example goes)
// and every call of the double show that it never does.
func (r *proxyRig) hostile(t *testing.T) {
	mark := len(r.d.Calls())
	pem, err := os.ReadFile(r.proxyCA)
	if err != nil {
		t.Fatal(err)
	}
	trust := x509.NewCertPool()
	trust.AppendCertsFromPEM(pem)
	trust.AppendCertsFromPEM(r.dCA.CertPEM) // so a tunnel's far end is reachable too

	// connect opens a CONNECT tunnel to target through the proxy at addr
	// and returns the connection and the proxy's answer.
	connect := func(addr, target string) (net.Conn, *http.Response) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("CONNECT %s: %v", target, err)
		}
		if resp.StatusCode == http.StatusOK && br.Buffered() > 0 {
			t.Fatalf("CONNECT %s: data after the answer", target)
		}
		return c, resp
	}
	// inside sends one request over TLS with sni in a tunnel and returns
	// the status (0 if TLS or the request failed).
	inside := func(c net.Conn, sni, host, auth string) int {
		defer c.Close()
		tc := tls.Client(c, &tls.Config{ServerName: sni, RootCAs: trust})
		tc.SetDeadline(time.Now().Add(20 * time.Second))
		if err := tc.Handshake(); err != nil {
			return 0
		}
		req := "GET /acme/widgets.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: hostile\r\nConnection: close\r\n"
		if auth != "" {
			req += "Authorization: " + auth + "\r\n"
		}
		if _, err := io.WriteString(tc, req+"\r\n"); err != nil {
			return 0
		}
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// Host spoof: CONNECT api.github.com, SNI api.github.com, Host
	// evil.example.
	c, resp := connect(r.proxyAddr, "api.github.com:443")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT api.github.com: %s", resp.Status)
	}
	if st := inside(c, "api.github.com", evilHost, ""); st == http.StatusOK || st == 0 {
		t.Errorf("Host %s inside a CONNECT to api.github.com: status %d, want a refusal", evilHost, st)
	}
	// SNI mismatch: CONNECT github.com with SNI evil.example.
	c, _ = connect(r.proxyAddr, "github.com:443")
	if st := inside(c, evilHost, "github.com", ""); st == http.StatusOK {
		t.Errorf("SNI %s inside a CONNECT to github.com was served", evilHost)
	}
	// A host not configured, with SNI and Host github.com: tunnelled
	// untouched to the recording listener, no token.
	c, resp = connect(r.proxyAddr, evilHost+":443")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT %s with -other-hosts tunnel: %s", evilHost, resp.Status)
	}
	inside(c, "github.com", "github.com", "")
	// The same with the client's own Authorization: it arrives as sent.
	c, _ = connect(r.proxyAddr, evilHost+":443")
	inside(c, evilHost, evilHost, "Bearer the-clients-own")
	// -other-hosts refuse: a second proxy refuses the CONNECT with a reason.
	refAddr, _, _ := r.startProxy(t, "refuse")
	c, resp = connect(refAddr, evilHost+":443")
	body, _ := io.ReadAll(resp.Body)
	c.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "not a configured host") {
		t.Errorf("CONNECT %s with -other-hosts refuse: %s %q", evilHost, resp.Status, body)
	}
	// Plain HTTP in absolute form, to a GitHub host and to another.
	for _, target := range []string{"http://api.github.com/repos/acme/widgets", "http://github.com/acme/widgets.git/info/refs?service=git-upload-pack", "http://" + plainHost + "/repos/acme/widgets"} {
		conn, err := net.Dial("tcp", r.proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(target)
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hostile\r\nConnection: close\r\n\r\n", target, u.Host)
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			resp.Body.Close()
			if u.Host != plainHost && resp.StatusCode != http.StatusForbidden {
				t.Errorf("plain-HTTP %s answered %s, want the proxy's 403", target, resp.Status)
			}
		}
		conn.Close()
	}
	// The client's own Authorization to a GitHub host is replaced, never
	// passed on.
	out := r.mustRun(t, r.tree, "curl", "-sS", "--fail", "-H", "User-Agent: curl-agent", "-H", "Authorization: Bearer the-clients-own", "https://api.github.com/repos/acme/widgets")
	if !strings.Contains(out, `"full_name":"acme/widgets"`) {
		t.Errorf("curl with its own Authorization: %s", out)
	}

	// Where everything went: the recording listener got requests and no
	// token; the double saw no request by another name, and every
	// credential it saw through the proxy was a token it issued (the
	// client's own never).
	got := r.rec.requests()
	if len(got) < 2 {
		t.Errorf("the recording listener got %d requests, want the 2 tunnelled ones", len(got))
	}
	plain := r.plainRec.requests()
	if len(plain) != 1 {
		t.Errorf("the plain-HTTP recording listener got %d requests, want the one forwarded", len(plain))
	}
	got = append(got, plain...)
	for _, rq := range got {
		if strings.Contains(rq, "ghs_") || strings.Contains(rq, basicPrefix) {
			t.Errorf("a token reached %s through the proxy", evilHost)
		}
	}
	if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "Authorization: Bearer the-clients-own") }) {
		t.Errorf("the client's own Authorization did not reach %s untouched: %q", evilHost, got)
	}
	for _, c := range r.proxyCalls(mark) {
		if c.Host != "api.github.com" && c.Host != "github.com" {
			t.Errorf("the double got a request for Host %q", c.Host)
		}
		if c.CredentialSHA256 == githubtest.CredentialSHA256("the-clients-own") {
			t.Errorf("the client's own Authorization reached the double")
		}
		if _, ok := r.issued(c.CredentialSHA256); !ok {
			t.Errorf("call %s %s%s carried no token the double issued", c.Method, c.Host, c.Path)
		}
	}
}

// recorder is a listener (TLS with a certificate from ca, plain HTTP if
// ca is nil) that records every request it gets (request line, headers,
// body) and answers 404: where the proxy sends evil.example and
// plain.example.
type recorder struct {
	addr string
	mu   sync.Mutex
	reqs []string
}

func newRecorder(t testing.TB, ca *githubtest.TestCA) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if ca != nil {
		cert, err := ca.ServerCertificate(evilHost, "github.com", "api.github.com")
		if err != nil {
			t.Fatal(err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	rec := &recorder{addr: l.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Proto, req.Host)
		req.Header.Write(&b) //nolint:errcheck // a strings.Builder
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		b.Write(body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, b.String())
		rec.mu.Unlock()
		http.NotFound(w, req)
	})}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return rec
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}

// BenchmarkProxyClone measures the proxy in the rig (Vault, Agent, the
// double, the proxy binary with the session's write scope), against going
// to the double directly with the file's token, in rounds that alternate
// which goes first, so that the machine's other work falls on both alike:
//
//   - git clone --bare of a repository whose pack is over 200 MB
//     (PROXY_BENCH_ROUNDS rounds, default 5): throughput each way, the
//     ratio round by round, the proxy's CPU time per GiB (user + system of
//     its serving process from /proc: the proxy alone, not git or the
//     double) and git's own;
//   - git push of a one-commit change to a branch in the scope, and a
//     small REST write (PATCH git/refs/heads/ of that branch, to the commit
//     it is at), each timed whole (PROXY_BENCH_WRITES each way, default 60
//     pushes and 5× as many REST writes): p50 and p99 each way and the
//     difference, what the proxy adds;
//   - small GETs on a kept-alive connection;
//   - the proxy's peak RSS (VmHWM of the serving process) after all of it.
//
// Run it alone:
//
//	go test -tags acceptance -run '^$' -bench BenchmarkProxyClone -benchtime 1x -timeout 30m ./test/acceptance/
func BenchmarkProxyClone(b *testing.B) {
	r := newProxyRig(b, rigOptions{tokenLife: time.Hour, buffer: 5 * time.Minute})
	rounds, writes := benchEnvCount(b, "PROXY_BENCH_ROUNDS", 5), benchEnvCount(b, "PROXY_BENCH_WRITES", 60)
	serving := servingPID(b, r.proxy.cmd.Process.Pid)
	const size = 210 << 20
	t0 := time.Now()
	if err := r.d.AddRandomContent("acme/gadgets", size); err != nil {
		b.Fatal(err)
	}
	dir, err := r.d.GitDir("acme/gadgets")
	if err != nil {
		b.Fatal(err)
	}
	pack := dirSize(b, filepath.Join(dir, "objects", "pack"))
	b.Logf("made acme/gadgets with %d MB of packs in %s; load average %s", pack/1e6, time.Since(t0).Round(100*time.Millisecond), loadAverage())
	_, port, _ := net.SplitHostPort(r.dAddr)
	gitDirect := func(args ...string) *exec.Cmd {
		basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + r.fileToken()))
		cmd := exec.Command("git", append([]string{"-c", "http.curloptResolve=github.com:" + port + ":127.0.0.1",
			"-c", "http.extraHeader=Authorization: Basic " + basic}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.home, "GIT_SSL_CAINFO=" + r.dCAFile, "GIT_TERMINAL_PROMPT=0"}
		return cmd
	}
	// The agent side's git, not watched, so that the watching costs
	// nothing here.
	gitProxied := func(args ...string) *exec.Cmd {
		cmd := exec.Command("git", args...)
		cmd.Env = r.env
		return cmd
	}
	run := func(cmd *exec.Cmd, what string) time.Duration {
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", what, err, out)
		}
		return time.Since(start)
	}

	// Clones.
	var mbs [2][]float64 // direct, proxied
	var gitCPU [2]time.Duration
	var proxyCPU time.Duration
	for round := range rounds {
		for i := range 2 {
			leg := (round + i) % 2
			dst := filepath.Join(b.TempDir(), "clone")
			var cmd *exec.Cmd
			var cpu0 time.Duration
			if leg == 0 {
				cmd = gitDirect("clone", "--quiet", "--bare", "https://github.com:"+port+"/acme/gadgets.git", dst)
			} else {
				cmd = gitProxied("clone", "--quiet", "--bare", "https://github.com/acme/gadgets.git", dst)
				cpu0 = procCPUTime(b, serving)
			}
			d := run(cmd, fmt.Sprintf("clone (leg %d)", leg))
			if leg == 1 {
				proxyCPU += procCPUTime(b, serving) - cpu0
			}
			mbs[leg] = append(mbs[leg], float64(pack)/1e6/d.Seconds())
			gitCPU[leg] += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			os.RemoveAll(dst)
		}
	}
	ratios := make([]float64, rounds)
	for i := range ratios {
		ratios[i] = 100 * mbs[1][i] / mbs[0][i]
	}
	gib := float64(rounds) * float64(pack) / (1 << 30)
	b.ReportMetric(median(mbs[0]), "direct-MB/s")
	b.ReportMetric(median(mbs[1]), "proxy-MB/s")
	b.ReportMetric(median(ratios), "proxy-%-of-direct")
	b.ReportMetric(slices.Min(ratios), "proxy-%-of-direct-min")
	b.ReportMetric(slices.Max(ratios), "proxy-%-of-direct-max")
	b.ReportMetric(proxyCPU.Seconds()/gib, "proxy-cpu-s/GiB")
	b.Logf("clone of a %d MB pack, %d rounds: direct %s MB/s, through the proxy %s MB/s; proxied ÷ direct round by round %s%% (median %.1f%%, %.1f-%.1f%%); proxy CPU %.2f s per GiB; git's CPU %.2f s per GiB direct, %.2f proxied",
		pack/1e6, rounds, fmtFloats(mbs[0]), fmtFloats(mbs[1]), fmtFloats(ratios), median(ratios), slices.Min(ratios), slices.Max(ratios),
		proxyCPU.Seconds()/gib, gitCPU[0].Seconds()/gib, gitCPU[1].Seconds()/gib)

	// Small writes: a work tree of acme/widgets, a branch in the scope.
	const branch = "ambient/p1/bench"
	wd := filepath.Join(b.TempDir(), "widgets")
	run(gitProxied("clone", "--quiet", "https://github.com/acme/widgets.git", wd), "clone acme/widgets")
	run(gitProxied("-C", wd, "push", "--quiet", "origin", "HEAD:refs/heads/"+branch), "first push")
	pushes := func(leg int, n int) []time.Duration {
		ds := make([]time.Duration, 0, n)
		for range n {
			run(gitProxied("-C", wd, "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "--quiet", "--allow-empty", "-m", "bench"), "commit")
			var cmd *exec.Cmd
			if leg == 0 {
				cmd = gitDirect("-C", wd, "push", "--quiet", "https://github.com:"+port+"/acme/widgets.git", "HEAD:refs/heads/"+branch)
			} else {
				cmd = gitProxied("-C", wd, "push", "--quiet", "origin", "HEAD:refs/heads/"+branch)
			}
			ds = append(ds, run(cmd, fmt.Sprintf("push (leg %d)", leg)))
		}
		return ds
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.dCA.CertPEM)
	directHC := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, r.dAddr)
		}}}
	proxyHC := r.goClient(b, r.proxyAddr, r.proxyCA)
	request := func(leg int, method, path string, body []byte) time.Duration {
		req, _ := http.NewRequest(method, "https://api.github.com"+path, bytes.NewReader(body))
		req.Header.Set("User-Agent", "bench")
		hc := proxyHC
		if leg == 0 {
			hc = directHC
			req.Header.Set("Authorization", "Bearer "+r.fileToken())
		} else {
			req.Header.Set("Authorization", "token "+placeholderToken)
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // timing only
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s %s (leg %d): %d", method, path, leg, resp.StatusCode)
		}
		return time.Since(start)
	}
	restWrites := func(leg int, n int) []time.Duration {
		head, err := exec.Command("git", "-C", wd, "rev-parse", "HEAD").Output()
		if err != nil {
			b.Fatal(err)
		}
		body := []byte(`{"sha":"` + strings.TrimSpace(string(head)) + `","force":false}`)
		ds := make([]time.Duration, 0, n)
		for range n {
			ds = append(ds, request(leg, http.MethodPatch, "/repos/acme/widgets/git/refs/heads/"+branch, body))
		}
		return ds
	}
	gets := func(leg int, n int) []time.Duration {
		ds := make([]time.Duration, 0, n)
		for range n {
			ds = append(ds, request(leg, http.MethodGet, "/repos/acme/widgets", nil))
		}
		return ds
	}
	for _, w := range []struct {
		name string
		n    int
		do   func(leg, n int) []time.Duration
	}{
		{"push", writes, pushes},
		{"rest-write", 5 * writes, restWrites},
		{"get", 5 * writes, gets},
	} {
		w.do(0, 3) // connections made, caches warm
		w.do(1, 3)
		var ds [2][]time.Duration
		per := max(1, w.n/rounds)
		for round := range rounds {
			for i := range 2 {
				leg := (round + i) % 2
				ds[leg] = append(ds[leg], w.do(leg, per)...)
			}
		}
		p50, p99 := [2]time.Duration{}, [2]time.Duration{}
		for leg := range 2 {
			slices.Sort(ds[leg])
			p50[leg], p99[leg] = ds[leg][(len(ds[leg])-1)/2], ds[leg][(len(ds[leg])-1)*99/100]
		}
		b.ReportMetric(float64(p50[1]-p50[0])/1e3, w.name+"-added-p50-µs")
		b.ReportMetric(float64(p99[1]-p99[0])/1e3, w.name+"-added-p99-µs")
		b.Logf("%s, %d each way in %d rounds: direct p50 %s p99 %s; through the proxy p50 %s p99 %s; the proxy adds p50 %s p99 %s",
			w.name, len(ds[0]), rounds, p50[0].Round(time.Microsecond), p99[0].Round(time.Microsecond),
			p50[1].Round(time.Microsecond), p99[1].Round(time.Microsecond),
			(p50[1] - p50[0]).Round(time.Microsecond), (p99[1] - p99[0]).Round(time.Microsecond))
	}
	hwm := procStatusKB(b, serving, "VmHWM")
	b.ReportMetric(float64(hwm)/1024, "proxy-VmHWM-MiB")
	b.Logf("proxy peak RSS (VmHWM of the serving process) %.1f MiB; load average %s", float64(hwm)/1024, loadAverage())
}

// servingPID is the proxy's serving process: the only child of the
// supervising process pid.
func servingPID(t testing.TB, pid int) int {
	t.Helper()
	for range 100 {
		if cs := childPIDs(pid); len(cs) == 1 {
			return cs[0].pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the proxy (pid %d) has no single serving process", pid)
	return 0
}

// procCPUTime is a process's user + system CPU time so far (/proc/PID/stat,
// clock ticks of 10 ms).
func procCPUTime(t testing.TB, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// benchEnvCount is a positive count from the environment, or def.
func benchEnvCount(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

func fmtFloats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, "/")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func dirSize(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		fi, err := e.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// procStatusKB reads a "Name: N kB" line of /proc/PID/status.
func procStatusKB(t testing.TB, pid int, name string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", name, pid)
	return 0
}
