package githubtest_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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

func TestGHExplore(t *testing.T) {
	if os.Getenv("GH_EXPLORE") == "" {
		t.Skip("exploration only")
	}
	d := newGHDouble(t)
	if err := d.RequireChecks("acme/widgets", "ci"); err != nil {
		t.Fatal(err)
	}
	dir := d.clone(t)
	for _, args := range [][]string{
		{"git", "checkout", "-q", "-b", "feature"},
		{"sh", "-c", "echo f > f.txt && git add f.txt && git commit -q -m 'Add f'"},
		{"git", "push", "-q", "origin", "feature"},
		{"gh", "pr", "create", "--title", "Feature", "--body", "Adds f", "--base", "main", "--head", "feature"},
		{"gh", "pr", "merge", "1", "--auto", "--squash"},
		{"gh", "pr", "merge", "1", "--disable-auto"},
		{"gh", "api", "-X", "PATCH", "repos/acme/widgets/git/refs/heads/feature", "-f", "sha=" + strings.Repeat("0", 40), "-F", "force=true"},
		{"gh", "api", "graphql", "-f", "query=query($n: String!) { repository(owner: \"acme\", name: $n) { id } }", "-f", "n=widgets"},
		{"gh", "pr", "merge", "1", "--merge", "--delete-branch"},
	} {
		out, errOut, err := d.run(t, dir, d.env("GH_DEBUG=api"), args[0], args[1:]...)
		t.Logf("%v: %v\n%s\n%s", args, err, out, errOut)
	}
}
