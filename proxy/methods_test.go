package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// rawRequest sends one request, written as is (request line and headers),
// inside a CONNECT to host:443 and returns the status and body.
func rawRequest(t *testing.T, e *env, host, request string) (int, string) {
	t.Helper()
	conn, br, status := rawConnect(t, e.addr, host+":443")
	if !strings.HasPrefix(status, "200") {
		t.Fatalf("CONNECT %s: %s", host, status)
	}
	tc := tls.Client(&bufferedConn{Conn: conn, r: br}, &tls.Config{ServerName: host, RootCAs: e.caPool()})
	defer tc.Close()
	if _, err := io.WriteString(tc, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestOnlyClientMethods: the proxy sends GitHub the methods its clients
// use and refuses the rest with a reason (TRACE, which an upstream may
// echo with the token in it; CONNECT inside a terminated connection; any
// other), in GitHub's JSON error shape for the API and as text for git.
// None of them reaches GitHub.
func TestOnlyClientMethods(t *testing.T) {
	e := newEnv(t, nil, nil)
	for _, m := range []string{"TRACE", "CONNECT", "PROPFIND", "TRACK", "DEBUG", "get"} {
		target := "/user"
		if m == "CONNECT" {
			target = "api.github.com:443"
		}
		status, body := rawRequest(t, e, "api.github.com", fmt.Sprintf("%s %s HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", m, target))
		want := fmt.Sprintf("github-token-proxy: refused: the method %q; the proxy sends only GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS to GitHub", m)
		if got := githubMessage(t, body); status != http.StatusMethodNotAllowed || got != want {
			t.Errorf("%s: %d %q, want 405 %q", m, status, got, want)
		}
	}
	// On git's paths, text (git prints it).
	status, body := rawRequest(t, e, "github.com", "TRACE /o/r.git/info/refs HTTP/1.1\r\nHost: github.com\r\nConnection: close\r\n\r\n")
	if status != http.StatusMethodNotAllowed || !strings.HasPrefix(body, "github-token-proxy: refused: the method \"TRACE\"") {
		t.Errorf("TRACE on a git path: %d %q", status, body)
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("%d refused requests reached GitHub", n)
	}
	if got := e.p.metrics.refusedCount(reasonMethod); got != 7 {
		t.Errorf("refused{method} = %d, want 7", got)
	}
	c := e.client()
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if status, _ := e.do(c, m, "https://api.github.com/repos/o/r/issues/1", nil); status != 200 {
			t.Errorf("%s: %d", m, status)
		}
	}
	if n := len(e.github.requests()); n != 7 {
		t.Errorf("%d requests reached GitHub, want the 7 allowed ones", n)
	}
}

// TestRevokeRefused: DELETE /installation/token would end the session's
// token for every request after it, until Agent's next render. It is
// refused with a reason in every spelling GitHub might route to it.
func TestRevokeRefused(t *testing.T) {
	e := newEnv(t, nil, nil)
	for _, target := range []string{
		"/installation/token",
		"/installation/token?x=1",
		"/installation/token/",
		"/INSTALLATION/Token",
		"/installation/%74oken",
		"/installation/%2574oken",
		"/installation%2Ftoken",
		"//installation//token",
		"/installation/./token",
		"/repos/../installation/token",
		"/installation/token.json",
		"/api/v3/installation/token",
		"/API/V3/installation/token",
		`/installation\token`,
	} {
		for _, m := range []string{"DELETE", "POST"} {
			status, body := rawRequest(t, e, "api.github.com", fmt.Sprintf("%s %s HTTP/1.1\r\nHost: api.github.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", m, target))
			if status != http.StatusForbidden || !strings.Contains(githubMessage(t, body), "would revoke the session's token") {
				t.Errorf("%s %s: %d %q", m, target, status, body)
			}
		}
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("%d revocations reached GitHub", n)
	}
	// With curl's spelling, through a client: the reason reaches it.
	status, body := e.do(e.client(), "DELETE", "https://api.github.com/installation/token", nil)
	want := "github-token-proxy: refused: DELETE /installation/token would revoke the session's token; the proxy holds it for the whole session, and Vault revokes it when the session ends"
	if got := githubMessage(t, body); status != http.StatusForbidden || got != want {
		t.Errorf("DELETE /installation/token: %d %q, want 403 %q", status, got, want)
	}
	// gh prints the message.
	out, err := runClient(t, t.TempDir(), []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "HTTPS_PROXY=http://" + e.addr,
		"SSL_CERT_FILE=" + e.caFile, "GH_TOKEN=placeholder", "GH_NO_UPDATE_NOTIFIER=1"}, "gh", "api", "-X", "DELETE", "/installation/token")
	if err == nil || !strings.Contains(out, "gh: "+want+" (HTTP 403)") {
		t.Errorf("gh api -X DELETE /installation/token: %v\n%s", err, out)
	}
	// Its neighbours pass.
	for _, target := range []string{"/installation/repositories", "/repos/o/installation/token"} {
		if status, _ := e.do(e.client(), "GET", "https://api.github.com"+target, nil); status != 200 {
			t.Errorf("GET %s: %d", target, status)
		}
	}
}

// githubMessage is the message of GitHub's JSON error shape, with its
// documentation_url checked.
func githubMessage(t *testing.T, body string) string {
	t.Helper()
	var m struct {
		Message string `json:"message"`
		Doc     string `json:"documentation_url"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.Doc != isoDocs {
		t.Errorf("not GitHub's JSON error shape pointing at the docs: %q", body)
	}
	return m.Message
}
