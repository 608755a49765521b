package proxy

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Real clients through the proxy, configured the way docs/agent-isolation.md
// shows: only the proxy's address, its CA certificate and a placeholder
// credential in the environment. GitHub is a TLS server running git's own
// git-http-backend that requires the token (basic x-access-token) and an
// API that requires it as a bearer token.

// gitHub serves repositories under root with git-http-backend and a
// minimal REST API, refusing any request without the token.
func gitHub(t *testing.T, root string, token func() string) http.HandlerFunc {
	backend, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(backend, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	cgiHandler := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if isGitPath(r.URL.Path) {
			if r.Header.Get("Authorization") != basic(token()) {
				w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
				http.Error(w, "need the token", http.StatusUnauthorized)
				return
			}
			cgiHandler.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token() {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`{"login":"octo","path":"` + r.URL.Path + `"}`))
	}
}

// pythonGet prints the body of a GET of sys.argv[1] with Python's
// standard library.
const pythonGet = `import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())`

// run runs a client with env and returns its combined output.
func runClient(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestRealClients(t *testing.T) {
	root := t.TempDir()
	// The largest header block a real client's request arrives with (the
	// token the proxy set in it included): what -max-header-bytes must
	// leave room for.
	var mu sync.Mutex
	largest := 0
	e := newEnvWith(t, func(e *env) http.HandlerFunc {
		h := gitHub(t, root, e.live)
		return func(w http.ResponseWriter, r *http.Request) {
			dump, _ := httputil.DumpRequest(r, false)
			mu.Lock()
			largest = max(largest, len(dump))
			mu.Unlock()
			h(w, r)
		}
	}, func(c *Config) {
		// The proxy writes the bundle of the system roots (here the CA of
		// the servers standing in for the world: evil.example is
		// tunnelled with its own certificate) and its CA.
		t.Setenv("SSL_CERT_FILE", c.UpstreamCA)
		t.Setenv("SSL_CERT_DIR", filepath.Dir(c.UpstreamCA))
		c.CABundleOut = filepath.Join(t.TempDir(), "ca-bundle.pem")
	})
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("the largest header block from git, gh and curl: %d bytes (the proxy allows %d)", largest, maxHeaderBytes)
		if largest == 0 || largest > maxHeaderBytes/4 {
			t.Errorf("the largest header block is %d bytes; the bound of %d leaves less than four times that", largest, maxHeaderBytes)
		}
	}()
	token := e.token
	home := t.TempDir()
	// What the agent container gets (examples/runner/k8s/proxy-pod.yaml).
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"HTTPS_PROXY=http://" + e.addr,
		"HTTP_PROXY=http://" + e.addr,
		"https_proxy=http://" + e.addr, // curl reads http_proxy in lower case only
		"http_proxy=http://" + e.addr,
		// Every client's CA setting names the bundle, and nothing else:
		// it alone verifies GitHub through the proxy and the hosts the
		// proxy tunnels.
		"SSL_CERT_FILE=" + e.cfg.CABundleOut,
		"SSL_CERT_DIR=" + t.TempDir(),
		"GIT_SSL_CAINFO=" + e.cfg.CABundleOut,
		"CURL_CA_BUNDLE=" + e.cfg.CABundleOut,
		"GH_TOKEN=placeholder",
		"GH_NO_UPDATE_NOTIFIER=1",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
	}
	// The repository GitHub holds.
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", filepath.Join(root, "octo", "hello.git")},
		{"-C", filepath.Join(root, "octo", "hello.git"), "config", "http.receivepack", "true"},
	} {
		if out, err := runClient(t, root, env, "git", args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	work := t.TempDir()
	steps := []struct {
		name string
		args []string
		want string
	}{
		{"git", []string{"clone", "-q", "https://github.com/octo/hello.git"}, ""},
		{"git", []string{"-C", "hello", "-c", "user.name=Agent", "-c", "user.email=agent@example.com", "commit", "-q", "--allow-empty", "-m", "first"}, ""},
		{"git", []string{"-C", "hello", "push", "-q", "origin", "HEAD:main"}, ""},
		{"git", []string{"ls-remote", "https://github.com/octo/hello.git"}, "refs/heads/main"},
		// An SSH remote, sent over HTTPS (and so through the proxy).
		{"git", []string{"-c", "url.https://github.com/.insteadOf=git@github.com:", "ls-remote", "git@github.com:octo/hello.git"}, "refs/heads/main"},
		{"gh", []string{"api", "/user"}, `{"login":"octo","path":"/user"}`},
		{"curl", []string{"-sS", "--fail-with-body", "https://api.github.com/user"}, `{"login":"octo","path":"/user"}`},
		// A host the proxy tunnels: the client sees the real server's
		// certificate and verifies it with the roots in the bundle.
		{"gh", []string{"api", "https://evil.example/elsewhere"}, "ok evil.example/elsewhere"},
		{"curl", []string{"-sS", "--fail-with-body", "https://evil.example/elsewhere"}, "ok evil.example/elsewhere"},
		// Python's standard library reads HTTPS_PROXY and, through
		// OpenSSL, SSL_CERT_FILE.
		{"python3", []string{"-c", pythonGet, "https://api.github.com/user"}, `{"login":"octo","path":"/user"}`},
		{"python3", []string{"-c", pythonGet, "https://evil.example/elsewhere"}, "ok evil.example/elsewhere"},
	}
	for _, s := range steps {
		out, err := runClient(t, work, env, s.name, s.args...)
		if err != nil || !strings.Contains(out, s.want) {
			t.Errorf("%s %s: %v\n%s", s.name, strings.Join(s.args, " "), err, out)
		}
		noTokenIn(t, s.name+"'s output", out, token)
	}

	// The token rotates between operations: the next push carries the new
	// one, and the old one is dead at GitHub.
	token = testToken(t)
	e.setLive(token)
	writeCredentials(t, e.credentials, token, time.Now().Add(time.Hour))
	for _, args := range [][]string{
		{"-C", "hello", "-c", "user.name=Agent", "-c", "user.email=agent@example.com", "commit", "-q", "--allow-empty", "-m", "second"},
		{"-C", "hello", "push", "-q", "origin", "HEAD:main"},
		{"-C", "hello", "fetch", "-q", "origin"},
	} {
		if out, err := runClient(t, work, env, "git", args...); err != nil {
			t.Errorf("git %s after rotation: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// Refusals carry their reason to the client.
	out, err := runClient(t, work, env, "curl", "-sS", "--fail-with-body", "-H", "Host: evil.example", "https://api.github.com/user")
	if err == nil || !strings.Contains(out, "the request's Host \"evil.example\" is not the CONNECT target api.github.com") {
		t.Errorf("curl with a spoofed Host: %v\n%s", err, out)
	}
	out, err = runClient(t, work, env, "curl", "-sS", "--fail-with-body", "http://github.com/octo/hello")
	if err == nil || !strings.Contains(out, "plain HTTP to github.com; use https://") {
		t.Errorf("curl over plain HTTP: %v\n%s", err, out)
	}

	// Without the proxy, the placeholder gets nowhere.
	direct := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1"}
	if out, err := runClient(t, work, direct, "curl", "-sS", "--fail", "-k", "--resolve", "api.github.com:443:127.0.0.1", "--connect-to", "api.github.com:443:"+e.github.addr(),
		"-H", "Authorization: token placeholder", "https://api.github.com/user"); err == nil {
		t.Errorf("the placeholder worked without the proxy:\n%s", out)
	}
}
