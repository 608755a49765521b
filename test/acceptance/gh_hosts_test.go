//go:build acceptance

package acceptance

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// recordedRequest is one HTTPS request a client sent through the
// recording proxy: the host it asked to CONNECT to and its Authorization.
type recordedRequest struct {
	host, path, auth string
}

// recordingProxy is an HTTPS proxy on 127.0.0.1 that answers CONNECT,
// terminates TLS with a certificate for the requested host from its own CA
// (the client must trust it: SSL_CERT_FILE), records each request and
// answers 200 with a small JSON user. Nothing leaves the machine.
type recordingProxy struct {
	URL    string
	CAFile string
	mu     sync.Mutex
	reqs   []recordedRequest
}

func startRecordingProxy(t *testing.T) *recordingProxy {
	t.Helper()
	ca, err := githubtest.NewTestCA("gh-wrapper test proxy CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{URL: "http://" + ln.Addr().String(), CAFile: caFile}
	var certs sync.Map // host -> *tls.Certificate
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || rw.Flush() != nil {
			return
		}
		tc := tls.Server(conn, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c, ok := certs.Load(host); ok {
				return c.(*tls.Certificate), nil
			}
			c, err := ca.ServerCertificate(host)
			if err != nil {
				return nil, err
			}
			certs.Store(host, &c)
			return &c, nil
		}})
		br := bufio.NewReader(tc)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			req.Body.Close()
			p.mu.Lock()
			p.reqs = append(p.reqs, recordedRequest{host: host, path: req.URL.Path, auth: req.Header.Get("Authorization")})
			p.mu.Unlock()
			body := `{"login":"octocat","id":1}`
			if _, err := fmt.Fprintf(tc, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// take returns the requests recorded so far and forgets them.
func (p *recordingProxy) take() []recordedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reqs
	p.reqs = nil
	return r
}

// TestGhWrapperTokenHosts runs examples/runner/gh-wrapper.sh with the real
// gh, whose HTTPS goes through a recording proxy: the token in the
// credentials file reaches only its host. Without GH_HOST it is a
// github.com token: gh sends it to api.github.com and not to an Enterprise
// host. With GH_HOST it is that Enterprise Server's token: gh sends it
// there and never to api.github.com. Variables left in the environment
// (a sourced gh.env, a stale GH_ENTERPRISE_TOKEN) change neither.
func TestGhWrapperTokenHosts(t *testing.T) {
	t.Parallel()
	gh, err := exec.LookPath("gh")
	if err != nil {
		t.Fatalf("the real gh is needed (Debian package gh): %v", err)
	}
	if out, err := exec.Command(gh, "--version").Output(); err == nil {
		t.Logf("%s", strings.SplitN(string(out), "\n", 2)[0])
	}
	proxy := startRecordingProxy(t)
	dir := t.TempDir()
	const ghes = "ghe.example.com"
	// 40-character tokens with GitHub's installation-token prefix, one per
	// host, and two stale ones as a sourced gh.env would leave them.
	dotcomToken := "ghs_" + strings.Repeat("D", 36)
	ghesToken := "ghs_" + strings.Repeat("E", 36)
	staleDotcom := "ghs_" + strings.Repeat("s", 36)
	staleGHES := "ghs_" + strings.Repeat("t", 36)
	credsFile := func(token string) string {
		f := filepath.Join(t.TempDir(), "credentials.json")
		body := fmt.Sprintf("{\n  \"token\": %q,\n  \"expiresAt\": %q,\n  \"validUntil\": %d,\n  \"provider\": \"github\",\n  \"userName\": \"\",\n  \"email\": \"\"\n}\n",
			token, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), time.Now().Add(55*time.Minute).Unix())
		if err := os.WriteFile(f, []byte(body), 0o440); err != nil {
			t.Fatal(err)
		}
		return f
	}
	base := func(extra ...string) []string {
		var env []string
		for _, kv := range exampleEnv() {
			name, _, _ := strings.Cut(kv, "=")
			if !strings.HasSuffix(strings.ToUpper(name), "_PROXY") && name != "SSL_CERT_FILE" && name != "SSL_CERT_DIR" && name != "HOME" {
				env = append(env, kv)
			}
		}
		return append(env, append([]string{
			"HOME=" + dir, "GH_CONFIG_DIR=" + filepath.Join(dir, "gh-config"),
			"HTTPS_PROXY=" + proxy.URL, "HTTP_PROXY=" + proxy.URL, "SSL_CERT_FILE=" + proxy.CAFile,
			"GH_NO_UPDATE_NOTIFIER=1", "GH_PROMPT_DISABLED=1", "NO_COLOR=1", "GH_REAL=" + gh,
		}, extra...)...)
	}
	wrapper := examplePath("runner", "gh-wrapper.sh")
	hasToken := func(reqs []recordedRequest, host, token string) bool {
		for _, r := range reqs {
			if r.host == host && strings.Contains(r.auth, token) {
				return true
			}
		}
		return false
	}
	// carries reports every request to host that holds one of tokens.
	carries := func(reqs []recordedRequest, host string, tokens ...string) []string {
		var bad []string
		for _, r := range reqs {
			for _, tok := range tokens {
				if r.host == host && r.auth != "" && strings.Contains(r.auth, tok) {
					bad = append(bad, r.path)
				}
			}
		}
		return bad
	}

	for _, c := range []struct {
		name       string
		env        []string
		token      string // the file's token and the host it is for
		host       string
		other      string // the other host: none of the tokens may reach it
		otherArgs  []string
		neverThere []string
	}{
		{"github.com token", base("GITHUB_CREDENTIALS_FILE=" + credsFile(dotcomToken)), dotcomToken, "api.github.com", ghes,
			[]string{"api", "--hostname", ghes, "user"}, []string{dotcomToken}},
		{"github.com token, stale Enterprise variables set", base("GITHUB_CREDENTIALS_FILE="+credsFile(dotcomToken), "GH_ENTERPRISE_TOKEN="+staleGHES, "GITHUB_ENTERPRISE_TOKEN="+staleGHES),
			dotcomToken, "api.github.com", ghes, []string{"api", "--hostname", ghes, "user"}, []string{dotcomToken, staleGHES}},
		{"GH_HOST token", base("GITHUB_CREDENTIALS_FILE="+credsFile(ghesToken), "GH_HOST="+ghes), ghesToken, ghes, "api.github.com",
			[]string{"api", "--hostname", "github.com", "user"}, []string{ghesToken}},
		{"GH_HOST token, gh.env sourced", base("GITHUB_CREDENTIALS_FILE="+credsFile(ghesToken), "GH_HOST="+ghes, "GH_TOKEN="+staleDotcom, "GITHUB_TOKEN="+staleDotcom),
			ghesToken, ghes, "api.github.com", []string{"api", "--hostname", "github.com", "user"}, []string{ghesToken, staleDotcom}},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxy.take()
			// gh api user: gh's default host (GH_HOST, else github.com).
			out, errOut, err := runBounded(t, dir, c.env, "", 60*time.Second, wrapper, "api", "user")
			if err != nil || !strings.Contains(out, "octocat") {
				t.Fatalf("gh api user through the wrapper: %v: %s%s", err, out, errOut)
			}
			own := proxy.take()
			if !hasToken(own, c.host, c.token) {
				t.Errorf("gh api user: no request to %s with the file's token; requests %v", c.host, hostsOf(own))
			}
			if bad := carries(own, c.other, c.token); len(bad) > 0 {
				t.Errorf("gh api user sent the %s token to %s: %v", c.host, c.other, bad)
			}
			// The other host, named explicitly: whatever gh does there
			// (unauthenticated request, or none), no token of ours.
			_, _, err = runBounded(t, dir, c.env, "", 60*time.Second, wrapper, c.otherArgs...)
			reqs := proxy.take()
			if bad := carries(reqs, c.other, c.neverThere...); len(bad) > 0 {
				t.Errorf("gh %s sent a token not meant for %s there: %v", strings.Join(c.otherArgs, " "), c.other, bad)
			}
			t.Logf("gh %s: exit %v, requests %v", strings.Join(c.otherArgs, " "), err, hostsOf(reqs))
		})
	}
}

// hostsOf lists host+path and whether an Authorization header was sent,
// never its value.
func hostsOf(reqs []recordedRequest) []string {
	var s []string
	for _, r := range reqs {
		s = append(s, fmt.Sprintf("%s%s (authorized: %t)", r.host, r.path, r.auth != ""))
	}
	return s
}
