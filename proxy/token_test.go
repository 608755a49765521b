package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// TestHashTokenIsTheEngines: hashed_token in the proxy's log is the
// engine's (github.HashToken), so a log line matches a lease.
func TestHashTokenIsTheEngines(t *testing.T) {
	for _, tok := range []string{testToken(t), "ghs_short", ""} {
		if got, want := hashToken(tok), github.HashToken(tok); got != want {
			t.Errorf("hashToken = %q, github.HashToken = %q", got, want)
		}
	}
}

// TestTokenFollowsTheFile: each request uses the token the file holds now;
// Agent's rename is seen at the next request.
func TestTokenFollowsTheFile(t *testing.T) {
	e := newEnv(t, nil, nil)
	c := e.client()
	for i := range 3 {
		if i > 0 {
			e.token = testToken(t)
			writeCredentials(t, e.credentials, e.token, time.Now().Add(time.Hour))
		}
		if status, _ := e.do(c, "GET", "https://api.github.com/user", nil); status != 200 {
			t.Fatalf("status %d", status)
		}
		reqs := e.github.requests()
		if reqs[len(reqs)-1].Authorization != "Bearer "+e.token {
			t.Errorf("request %d did not carry the token in the file now", i)
		}
	}
	if got := e.p.metrics.waits.Load(); got != 0 {
		t.Errorf("waits_for_fresh_token = %d, want 0", got)
	}
}

// TestTokenMargin: a token with less than -margin left is never used;
// the request waits for Agent's next render, up to -wait, then gets a
// 503 that says why.
func TestTokenMargin(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Wait = 500 * time.Millisecond })
	c := e.client()
	writeCredentials(t, e.credentials, e.token, time.Now().Add(40*time.Second))
	status, body := e.do(c, "GET", "https://api.github.com/user", nil)
	// validUntil is in whole seconds and the wait takes time: 38 to 40s.
	want := regexp.MustCompile("^github-token-proxy: the token in " + regexp.QuoteMeta(e.credentials) +
		" has (38|39|40)s left, under the 2m0s margin, and no fresh one arrived in 500ms\n$")
	if status != http.StatusServiceUnavailable || !want.MatchString(body) {
		t.Errorf("got %d %q, want 503 matching %q", status, body, want)
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("a token inside the margin was sent %d times", n)
	}

	// Agent renders a fresh token while the request waits.
	fresh := testToken(t)
	go func() {
		time.Sleep(150 * time.Millisecond)
		writeCredentials(t, e.credentials, fresh, time.Now().Add(time.Hour))
	}()
	status, _ = e.do(c, "GET", "https://api.github.com/user", nil)
	reqs := e.github.requests()
	if status != 200 || len(reqs) != 1 || reqs[0].Authorization != "Bearer "+fresh {
		t.Errorf("after Agent's render: %d, %d requests", status, len(reqs))
	}
	if got := e.p.metrics.waits.Load(); got != 2 {
		t.Errorf("waits_for_fresh_token = %d, want 2", got)
	}
}

// TestTokenFileProblems: a missing or malformed file is a 503 that names
// the file and the problem, never a request without a token.
func TestTokenFileProblems(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Wait = 200 * time.Millisecond })
	c := e.client()
	for name, content := range map[string]string{
		"missing":             "",
		"not JSON":            "token=" + e.token,
		"no token":            `{"validUntil": 4102444800}`,
		"no validUntil":       `{"token": "` + e.token + `"}`,
		"header in the token": `{"token": "` + e.token + `\r\nX-Injected: 1", "validUntil": 4102444800}`,
	} {
		os.Remove(e.credentials)
		if content != "" {
			if err := os.WriteFile(e.credentials, []byte(content), 0o440); err != nil {
				t.Fatal(err)
			}
		}
		status, body := e.do(c, "GET", "https://api.github.com/user", nil)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "github-token-proxy: no usable token: ") ||
			!strings.Contains(body, filepath.Base(e.credentials)) || !strings.Contains(body, "none arrived in 200ms") {
			t.Errorf("%s: %d %q", name, status, body)
		}
		noTokenIn(t, "the 503's body", body, e.token)
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("%d requests went out", n)
	}
	noTokenIn(t, "the log", e.logs.String(), e.token)
}
