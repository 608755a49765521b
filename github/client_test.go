package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

const testUserAgent = "client-test/1.0"

// fastRetry keeps retrying tests fast: the backoff sum stays in milliseconds.
var fastRetry = RetryPolicy{
	MaxAttempts:      4,
	BaseDelay:        time.Millisecond,
	MaxDelay:         5 * time.Millisecond,
	MaxRateLimitWait: 2 * time.Second,
}

func newDouble(t *testing.T, opts ...githubtest.Option) *githubtest.Server {
	t.Helper()
	return githubtest.NewT(t, append([]githubtest.Option{githubtest.WithKey(testKey())}, opts...)...)
}

// newClient builds a client for the double s; mods adjust its Config.
func newClient(t *testing.T, s *githubtest.Server, mods ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: s.URL, AppID: s.AppID, Key: s.Key, UserAgent: testUserAgent, Retry: fastRetry}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newClientAt builds a client for an arbitrary base URL with the test key.
func newClientAt(t *testing.T, base string, mods ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: base, AppID: githubtest.DefaultAppID, Key: testKey(), UserAgent: testUserAgent, Retry: fastRetry}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ---------------------------------------------------------------------------
// Base URL

func TestNormalizeBaseURL(t *testing.T) {
	tests := map[string]struct {
		in, want string // want "" means refused
	}{
		"empty is github.com":        {"", DefaultBaseURL},
		"github.com":                 {"https://api.github.com", "https://api.github.com"},
		"trailing slash trimmed":     {"https://api.github.com/", "https://api.github.com"},
		"GHES":                       {"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3"},
		"GHES trailing slash":        {"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3"},
		"GHES several slashes":       {"https://ghe.example.com/api/v3//", "https://ghe.example.com/api/v3"},
		"https with port":            {"https://ghe.example.com:8443/api/v3", "https://ghe.example.com:8443/api/v3"},
		"http loopback with port":    {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		"http loopback other 127/8":  {"http://127.0.0.2:9", "http://127.0.0.2:9"},
		"http localhost":             {"http://localhost", "http://localhost"},
		"http localhost port prefix": {"http://localhost:3000/api/v3/", "http://localhost:3000/api/v3"},
		"http IPv6 loopback":         {"http://[::1]:8080", "http://[::1]:8080"},

		"http other host":           {"http://api.github.com", ""},
		"http private address":      {"http://10.0.0.1", ""},
		"http localhost lookalike":  {"http://localhost.example.com", ""},
		"http 127-prefixed DNS":     {"http://127.0.0.1.nip.io", ""},
		"http 127-prefixed name":    {"http://127.attacker.example", ""},
		"query":                     {"https://api.github.com?x=1", ""},
		"empty query":               {"https://api.github.com/?", ""},
		"fragment":                  {"https://api.github.com/#frag", ""},
		"userinfo":                  {"https://user:pass@api.github.com", ""},
		"user only":                 {"https://user@api.github.com", ""},
		"ftp":                       {"ftp://api.github.com", ""},
		"no scheme":                 {"api.github.com", ""},
		"no host":                   {"https:///api/v3", ""},
		"not a URL":                 {"https://api.github.com:port", ""},
		"port only":                 {"https://:443", ""},
		"scheme-relative":           {"//api.github.com", ""},
		"javascript":                {"javascript:alert(1)", ""},
		"file":                      {"file:///etc/passwd", ""},
		"unix socket-ish":           {"unix:///var/run/gh.sock", ""},
		"https with space in host":  {"https://api github.com", ""},
		"http loopback userinfo":    {"http://a:b@127.0.0.1:1", ""},
		"https userinfo on default": {"https://token@github.com/api/v3", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := NormalizeBaseURL(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("NormalizeBaseURL(%q) = %q, want refusal", tc.in, got)
				}
				if strings.Contains(err.Error(), "pass") && strings.Contains(tc.in, "pass") {
					t.Errorf("error %q echoes credentials", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeBaseURL(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("NormalizeBaseURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNewRefusesBadBaseURL(t *testing.T) {
	_, err := New(Config{BaseURL: "http://api.github.com"})
	if err == nil || !strings.HasPrefix(err.Error(), "base_url ") {
		t.Fatalf("New with plain http base: err = %v, want a base_url error", err)
	}
	c, err := New(Config{BaseURL: "https://ghe.example.com/api/v3/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != "https://ghe.example.com/api/v3" {
		t.Fatalf("BaseURL() = %q", got)
	}
	c, err = New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != DefaultBaseURL {
		t.Fatalf("BaseURL() = %q, want %q", got, DefaultBaseURL)
	}
}

// GitHub Enterprise Server serves the API under /api/v3: every call must stay
// under that prefix whether or not the configured base ends in a slash.
func TestEnterpriseServerPathPrefix(t *testing.T) {
	s := newDouble(t, githubtest.WithPathPrefix("/api/v3"))
	if !strings.HasSuffix(s.URL, "/api/v3") {
		t.Fatalf("double URL %q lacks the prefix", s.URL)
	}
	inst := s.AddInstallation("acme", "Organization", "widgets")
	for i := range 150 { // two pages of installations
		s.AddInstallation(fmt.Sprintf("org-%03d", i), "Organization")
	}
	for _, base := range []string{s.URL, s.URL + "/"} {
		t.Run(base, func(t *testing.T) {
			s.ResetCalls()
			c := newClient(t, s, func(cfg *Config) { cfg.BaseURL = base })
			if _, err := c.App(t.Context()); err != nil {
				t.Fatalf("App: %v", err)
			}
			if n := s.CallCount(http.MethodGet, "/app"); n != 1 {
				t.Errorf("GET /api/v3/app reached %d times, want 1", n)
			}
			all, err := c.Installations(t.Context())
			if err != nil {
				t.Fatalf("Installations: %v", err)
			}
			if len(all) != 151 {
				t.Errorf("Installations: %d, want 151", len(all))
			}
			if _, err := c.OwnerInstallation(t.Context(), "acme"); err != nil {
				t.Errorf("OwnerInstallation: %v", err)
			}
			tok, err := c.CreateToken(t.Context(), inst.ID, TokenRequest{})
			if err != nil {
				t.Fatalf("CreateToken: %v", err)
			}
			if err := c.RevokeToken(t.Context(), tok.Token); err != nil {
				t.Fatalf("RevokeToken: %v", err)
			}
			for _, call := range s.Calls() {
				if call.Status != http.StatusOK && call.Status != http.StatusCreated && call.Status != http.StatusNoContent {
					t.Errorf("%s %s (outside the prefix?) answered %d", call.Method, call.Path, call.Status)
				}
				if strings.HasPrefix(call.Path, "/api/") {
					t.Errorf("%s %s went outside /api/v3", call.Method, call.Path)
				}
			}
			if n := s.CallCount(http.MethodGet, "/app/installations"); n != 2 {
				t.Errorf("installation pages fetched under the prefix: %d, want 2", n)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Headers

func TestRequestHeadersAtTheDouble(t *testing.T) {
	s := newDouble(t)
	inst := s.AddInstallation("acme", "Organization", "widgets")
	c := newClient(t, s)
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateToken(t.Context(), inst.ID, TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeToken(t.Context(), tok.Token); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	for _, call := range calls {
		if call.UserAgent != testUserAgent {
			t.Errorf("%s %s: User-Agent %q, want %q", call.Method, call.Path, call.UserAgent, testUserAgent)
		}
		if call.Accept != "application/vnd.github+json" {
			t.Errorf("%s %s: Accept %q", call.Method, call.Path, call.Accept)
		}
	}

	// Without a configured User-Agent the client still sends one (GitHub
	// refuses requests without).
	s.ResetCalls()
	c2 := newClient(t, s, func(cfg *Config) { cfg.UserAgent = "" })
	if _, err := c2.App(t.Context()); err != nil {
		t.Fatalf("App without a configured User-Agent: %v", err)
	}
	if ua := s.Calls()[0].UserAgent; ua != "vault-plugin-github-app" {
		t.Errorf("default User-Agent %q", ua)
	}
}

// headerRecorder is a server that records each request's headers and body
// and answers with handle.
type headerRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

func newRecorder(t *testing.T, handle http.HandlerFunc) *headerRecorder {
	t.Helper()
	r := &headerRecorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), body})
		r.mu.Unlock()
		handle(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *headerRecorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func TestRequestHeadersOnTheWire(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/app":
			fmt.Fprint(w, `{"id":1001,"slug":"x"}`)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"token":"ghs_abcdefghijklmnopqrstuvwxyz0123456789","expires_at":"2030-01-01T00:00:00Z"}`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := newClientAt(t, rec.URL)
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateToken(t.Context(), 7, TokenRequest{Repositories: []string{"widgets"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeToken(t.Context(), "ghs_installationtoken0123456789"); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		h := r.Header
		if got := h.Get("Accept"); got != "application/vnd.github+json" {
			t.Errorf("%s %s: Accept %q", r.Method, r.Path, got)
		}
		if got := h.Get("X-GitHub-Api-Version"); got != "2022-11-28" {
			t.Errorf("%s %s: X-GitHub-Api-Version %q", r.Method, r.Path, got)
		}
		if got := h.Get("User-Agent"); got != testUserAgent {
			t.Errorf("%s %s: User-Agent %q", r.Method, r.Path, got)
		}
		if !strings.HasPrefix(h.Get("Authorization"), "Bearer ") {
			t.Errorf("%s %s: Authorization %q is not a bearer credential", r.Method, r.Path, h.Get("Authorization"))
		}
	}
	if got := reqs[1].Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("POST Content-Type %q", got)
	}
	if got := reqs[2].Header.Get("Authorization"); got != "Bearer ghs_installationtoken0123456789" {
		t.Errorf("DELETE authenticates with %q, want the token itself", got)
	}
	if got := reqs[0].Header.Get("Authorization"); !strings.HasPrefix(got, "Bearer eyJ") {
		t.Errorf("GET /app authenticates with %q, want the App JWT", got)
	}
}

// ---------------------------------------------------------------------------
// App JWT

func parseJWT(t *testing.T, c *Client, signed string, now time.Time) *jwt.RegisteredClaims {
	t.Helper()
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(signed, &claims, func(tok *jwt.Token) (any, error) {
		return &c.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("App JWT does not verify: %v", err)
	}
	if tok.Header["alg"] != "RS256" || tok.Header["typ"] != "JWT" {
		t.Fatalf("JWT header %v", tok.Header)
	}
	return &claims
}

func TestAppJWTClaims(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := newFakeClock(now)
	for _, tc := range []struct {
		name, clientID, wantIss string
	}{
		{"app id", "", "1001"},
		{"client id", "Iv1.abcdef0123456789", "Iv1.abcdef0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClientAt(t, "https://api.github.com", func(cfg *Config) {
				cfg.ClientID = tc.clientID
				cfg.Now = clock.Now
			})
			signed, err := c.appJWT()
			if err != nil {
				t.Fatal(err)
			}
			claims := parseJWT(t, c, signed, now)
			if claims.Issuer != tc.wantIss {
				t.Errorf("iss = %q, want %q", claims.Issuer, tc.wantIss)
			}
			if got, want := claims.IssuedAt.Time, now.Add(-60*time.Second); !got.Equal(want) {
				t.Errorf("iat = %v, want now-60s = %v", got, want)
			}
			if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life != 600*time.Second {
				t.Errorf("exp - iat = %v, want 600s", life)
			}
			if claims.ExpiresAt.Sub(now) > 10*time.Minute {
				t.Errorf("exp is %v from now, more than GitHub's 10 minutes", claims.ExpiresAt.Sub(now))
			}
			// iss is a JSON string, as GitHub documents.
			payload, err := jwt.NewParser().DecodeSegment(strings.Split(signed, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(payload, &raw); err != nil {
				t.Fatal(err)
			}
			if string(raw["iss"]) != strconv.Quote(tc.wantIss) {
				t.Errorf("iss encoded as %s", raw["iss"])
			}
		})
	}
}

func TestAppJWTAcceptedByTheDouble(t *testing.T) {
	for _, clientID := range []string{"", githubtest.DefaultClientID} {
		s := newDouble(t)
		c := newClient(t, s, func(cfg *Config) { cfg.ClientID = clientID })
		app, err := c.App(t.Context())
		if err != nil {
			t.Fatalf("client id %q: App: %v", clientID, err)
		}
		if app.ID != s.AppID || app.Slug != s.Slug {
			t.Errorf("App = %+v", app)
		}
		if seen := s.JWTsSeen(); len(seen) != 1 {
			t.Errorf("double saw %d valid JWTs, want 1", len(seen))
		}
	}
	// A JWT signed with another key is refused.
	other := newDouble(t, githubtest.WithKey(nil))
	c := newClient(t, other, func(cfg *Config) { cfg.Key = testKey() })
	if other.Key.Equal(testKey()) {
		t.Skip("double generated the same key")
	}
	if _, err := c.App(t.Context()); err == nil {
		t.Fatal("App with the wrong key succeeded")
	} else if !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v, want a 401", err)
	}
}

func TestAppJWTCachedAcrossCalls(t *testing.T) {
	s := newDouble(t)
	c := newClient(t, s)
	const calls, workers = 1000, 8
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for range calls / workers {
				if _, err := c.App(context.Background()); err != nil {
					failures.Add(1)
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.FailNow()
	}
	if n := s.CallCount(http.MethodGet, "/app"); n != calls {
		t.Fatalf("%d calls reached the double, want %d", n, calls)
	}
	if n := len(s.JWTsSeen()); n != 1 {
		t.Errorf("%d calls signed %d JWTs, want 1", calls, n)
	}
	if n := len(s.JWTsSeen()); n != 1 {
		t.Errorf("double saw %d distinct JWTs, want 1", n)
	}
}

func TestAppJWTRefreshedBeforeExpiry(t *testing.T) {
	s := newDouble(t)
	// The double checks iat and exp against the real clock, so the fake one
	// starts 8m30s in the past: the first JWT then expires 30s from now.
	real := time.Now().Truncate(time.Second)
	clock := newFakeClock(real.Add(-8*time.Minute - 30*time.Second))
	c := newClient(t, s, func(cfg *Config) { cfg.Now = clock.Now })

	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	first, _ := c.appJWT()
	if n := len(s.JWTsSeen()); n != 1 {
		t.Fatalf("signatures %d, want 1", n)
	}
	claims := parseJWT(t, c, first, clock.Now())
	refreshAt := claims.ExpiresAt.Add(-jwtRefreshBefore)

	// Up to a second before refreshAt (8 minutes after signing), the JWT is
	// reused.
	clock.Advance(refreshAt.Sub(clock.Now()) - time.Second)
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.JWTsSeen()); n != 1 {
		t.Fatalf("signatures %d a second before refresh time, want 1", n)
	}

	// Past it, a new one is signed, and GitHub accepts it.
	clock.Advance(2 * time.Second)
	if _, err := c.App(t.Context()); err != nil {
		t.Fatalf("App with the refreshed JWT: %v", err)
	}
	if n := len(s.JWTsSeen()); n != 2 {
		t.Fatalf("signatures %d after refresh time, want 2", n)
	}
	second, _ := c.appJWT()
	if second == first {
		t.Fatal("refreshed JWT is the old one")
	}
	if seen := s.JWTsSeen(); len(seen) != 2 || seen[0] != first || seen[1] != second {
		t.Fatalf("double saw %d JWTs, want the old then the new", len(seen))
	}
	if refreshAt.Sub(claims.IssuedAt.Time) != 9*time.Minute {
		t.Errorf("refresh at %v after iat, want 9m (8m after signing)", refreshAt.Sub(claims.IssuedAt.Time))
	}
}

func TestAppJWTDroppedAfter401(t *testing.T) {
	s := newDouble(t)
	clock := newFakeClock(time.Now())
	c := newClient(t, s, func(cfg *Config) { cfg.Now = clock.Now })
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Other errors keep the JWT.
	s.FailNext(1, http.StatusNotFound)
	if _, err := c.App(t.Context()); !IsNotFound(err) {
		t.Fatalf("App = %v, want 404", err)
	}
	if n := len(s.JWTsSeen()); n != 1 {
		t.Fatalf("a 404 re-signed the JWT (%d signatures)", n)
	}

	// A 401 on an App call drops it; the next call signs a new one.
	s.FailNext(1, http.StatusUnauthorized)
	_, err := c.App(t.Context())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("App = %v, want 401", err)
	}
	if n := s.CallCount(http.MethodGet, "/app"); n != 3 {
		t.Fatalf("a 401 was retried: %d calls, want 3", n)
	}
	clock.Advance(time.Second)
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.JWTsSeen()); n != 2 {
		t.Fatalf("signatures after a 401: %d, want 2", n)
	}
	if n := len(s.JWTsSeen()); n != 2 {
		t.Fatalf("double saw %d JWTs, want 2", n)
	}

	// A 401 for an installation token (revoking a dead token) is about
	// that token, not the App JWT.
	if err := c.RevokeToken(t.Context(), "ghs_deadtoken0123456789abcdefghijklmn"); err != nil {
		t.Fatalf("revoking an unknown token: %v", err)
	}
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.JWTsSeen()); n != 2 {
		t.Fatalf("a 401 on a token request dropped the App JWT (%d signatures)", n)
	}
}

func TestNoAppCredentials(t *testing.T) {
	s := newDouble(t)
	inst := s.AddInstallation("acme", "Organization", "widgets")
	minter := newClient(t, s)
	tok, err := minter.CreateToken(t.Context(), inst.ID, TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	s.ResetCalls()

	c := newClient(t, s, func(cfg *Config) { cfg.Key, cfg.AppID = nil, 0 })
	if _, err := c.App(t.Context()); err == nil || !strings.Contains(err.Error(), "no App credentials") {
		t.Fatalf("App without credentials: %v", err)
	}
	if n := len(s.Calls()); n != 0 {
		t.Fatalf("%d requests sent without credentials", n)
	}
	// Revoking needs only the token.
	if err := c.RevokeToken(t.Context(), tok.Token); err != nil {
		t.Fatalf("RevokeToken without App credentials: %v", err)
	}
	if got, _ := s.LookupToken(tok.Token); got.RevokedAt.IsZero() {
		t.Fatal("token not revoked")
	}
}

// ---------------------------------------------------------------------------
// Installations

func TestInstallationsOnePage(t *testing.T) {
	s := newDouble(t)
	want := map[int64]string{}
	for i := range 75 {
		in := s.AddInstallation(fmt.Sprintf("acct-%02d", i), "User")
		want[in.ID] = in.Account
	}
	c := newClient(t, s)
	all, err := c.Installations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 75 {
		t.Fatalf("%d installations, want 75", len(all))
	}
	for _, in := range all {
		if want[in.ID] != in.Account.Login {
			t.Errorf("installation %d: account %q, want %q", in.ID, in.Account.Login, want[in.ID])
		}
		if in.AppID != s.AppID || in.Account.Type != "User" || in.RepositorySelection != "selected" {
			t.Errorf("installation %+v", in)
		}
	}
	calls := s.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d list calls, want ceil(75/100) = 1", len(calls))
	}
	if calls[0].Path != "/app/installations" || calls[0].Query != "per_page=100" {
		t.Fatalf("list call %s?%s, want /app/installations?per_page=100", calls[0].Path, calls[0].Query)
	}
}

func TestInstallationsFollowsPages(t *testing.T) {
	s := newDouble(t)
	for i := range 250 {
		s.AddInstallation(fmt.Sprintf("acct-%03d", i), "Organization")
	}
	c := newClient(t, s)
	all, err := c.Installations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 {
		t.Fatalf("%d installations, want 250", len(all))
	}
	ids := map[int64]bool{}
	for _, in := range all {
		if ids[in.ID] {
			t.Fatalf("installation %d listed twice", in.ID)
		}
		ids[in.ID] = true
	}
	var queries []string
	for _, call := range s.Calls() {
		if call.Path != "/app/installations" {
			t.Errorf("unexpected call %s %s", call.Method, call.Path)
		}
		queries = append(queries, call.Query)
	}
	want := []string{"per_page=100", "per_page=100&page=2", "per_page=100&page=3"}
	if !slices.Equal(queries, want) {
		t.Fatalf("pages fetched %q, want %q", queries, want)
	}
	if n := len(s.JWTsSeen()); n != 1 {
		t.Errorf("%d JWTs signed for 3 pages", n)
	}
}

// A Link header that names another host is followed on the configured API
// (its path and query on the configured scheme and host), as a GitHub
// Enterprise Server reached by an internal name sends its public name: the
// App JWT never goes to the link's host.
func TestInstallationsNextLinkOnConfiguredHost(t *testing.T) {
	var foreignHits atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		t.Errorf("foreign host reached with Authorization %q", r.Header.Get("Authorization"))
		fmt.Fprint(w, `[]`)
	}))
	t.Cleanup(foreign.Close)
	foreignHost := strings.TrimPrefix(foreign.URL, "http://")

	for name, tc := range map[string]struct {
		next string // "%s" is the API's own host:port
		ok   bool
	}{
		"other host":           {foreign.URL + "/api/v3/app/installations?per_page=100&page=2", true},
		"other scheme":         {"https://%s/api/v3/app/installations?per_page=100&page=2", true},
		"userinfo":             {"http://127.0.0.1@" + foreignHost + "/api/v3/app/installations?per_page=100&page=2", true},
		"protocol-relative":    {"//" + foreignHost + "/api/v3/app/installations?per_page=100&page=2", true},
		"path only":            {"/api/v3/app/installations?per_page=100&page=2", true},
		"outside the base":     {foreign.URL + "/app/installations?page=2", false},
		"dot-dot out the base": {foreign.URL + "/api/v3/../admin?page=2", false},
		"prefix but no slash":  {foreign.URL + "/api/v3x/app/installations?page=2", false},
		"encoded dot-dot":      {foreign.URL + "/api/v3/%2e%2e/admin?page=2", false},
	} {
		t.Run(name, func(t *testing.T) {
			var pages atomic.Int64
			var secondQuery atomic.Value
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasPrefix(r.URL.Path, "/api/v3/app/installations") {
					t.Errorf("request to %s", r.URL.Path)
				}
				if pages.Add(1) == 1 {
					link := tc.next
					if strings.Contains(link, "%s") {
						link = fmt.Sprintf(link, r.Host)
					}
					w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, link, link))
					fmt.Fprint(w, `[{"id":41000001,"account":{"login":"acme","id":2,"type":"Organization"}}]`)
					return
				}
				secondQuery.Store(r.URL.RawQuery)
				fmt.Fprint(w, `[{"id":41000002,"account":{"login":"octo","id":3,"type":"User"}}]`)
			}))
			t.Cleanup(api.Close)
			c := newClientAt(t, api.URL+"/api/v3")
			all, err := c.Installations(t.Context())
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "next-page link") {
					t.Fatalf("Installations = %d, %v; want the next-page link refused", len(all), err)
				}
				if jwt, _ := c.appJWT(); strings.Contains(err.Error(), jwt) {
					t.Fatal("error holds the App JWT")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 2 || all[1].ID != 41000002 {
				t.Fatalf("installations %+v", all)
			}
			if q, _ := secondQuery.Load().(string); q != "per_page=100&page=2" {
				t.Errorf("second page asked with query %q", q)
			}
		})
	}
	if n := foreignHits.Load(); n != 0 {
		t.Fatalf("foreign host got %d requests", n)
	}
}

// The double as a GitHub Enterprise Server reached by an internal name: its
// Link headers name the public host, and every page still comes from the
// configured one.
func TestInstallationsPaginationBehindInternalHostname(t *testing.T) {
	s := newDouble(t, githubtest.WithPathPrefix("/api/v3"), githubtest.WithPublicURL("https://ghe.example.com/api/v3"))
	for i := range 250 {
		s.AddInstallation(fmt.Sprintf("org-%03d", i), "Organization", "repo")
	}
	c := newClient(t, s)
	all, err := c.Installations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 {
		t.Fatalf("%d installations, want 250", len(all))
	}
	var queries []string
	for _, call := range s.Calls() {
		queries = append(queries, call.Query)
	}
	if want := []string{"per_page=100", "per_page=100&page=2", "per_page=100&page=3"}; !slices.Equal(queries, want) {
		t.Errorf("pages asked %q, want %q", queries, want)
	}
}

func TestInstallationsPaginationLoopIsBounded(t *testing.T) {
	var hits atomic.Int64
	var api *httptest.Server
	api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Link", fmt.Sprintf(`<%s/app/installations?page=1>; rel="next"`, api.URL))
		fmt.Fprint(w, `[]`)
	}))
	t.Cleanup(api.Close)
	c := newClientAt(t, api.URL)
	if _, err := c.Installations(t.Context()); err == nil || !strings.Contains(err.Error(), "pages") {
		t.Fatalf("endless pagination: err = %v", err)
	}
	if n := hits.Load(); n != maxPages {
		t.Fatalf("%d pages fetched, want the bound %d", n, maxPages)
	}
}

func TestInstallationLookups(t *testing.T) {
	s := newDouble(t)
	org := s.AddInstallation("Acme-Corp", "Organization", "Widgets", "gadgets")
	user := s.AddInstallation("octocat", "User", "dotfiles")
	c := newClient(t, s)
	ctx := t.Context()

	for _, owner := range []string{"Acme-Corp", "acme-corp", "ACME-CORP"} {
		in, err := c.OwnerInstallation(ctx, owner)
		if err != nil {
			t.Fatalf("OwnerInstallation(%q): %v", owner, err)
		}
		if in.ID != org.ID || in.Account.Login != "Acme-Corp" || in.Account.Type != "Organization" {
			t.Errorf("OwnerInstallation(%q) = %+v", owner, in)
		}
	}
	if in, err := c.OwnerInstallation(ctx, "OctoCat"); err != nil || in.ID != user.ID || in.Account.Type != "User" {
		t.Errorf("OwnerInstallation(OctoCat) = %+v, %v", in, err)
	}
	for _, repo := range [][2]string{{"acme-corp", "widgets"}, {"ACME-corp", "WIDGETS"}, {"Acme-Corp", "Gadgets"}} {
		in, err := c.RepositoryInstallation(ctx, repo[0], repo[1])
		if err != nil {
			t.Fatalf("RepositoryInstallation(%q, %q): %v", repo[0], repo[1], err)
		}
		if in.ID != org.ID {
			t.Errorf("RepositoryInstallation(%q, %q) = %d, want %d", repo[0], repo[1], in.ID, org.ID)
		}
	}
	if in, err := c.Installation(ctx, user.ID); err != nil || in.Account.Login != "octocat" {
		t.Errorf("Installation(%d) = %+v, %v", user.ID, in, err)
	}

	s.ResetCalls()
	for name, call := range map[string]func() (*Installation, error){
		"unknown owner":           func() (*Installation, error) { return c.OwnerInstallation(ctx, "nobody") },
		"unknown repository":      func() (*Installation, error) { return c.RepositoryInstallation(ctx, "acme-corp", "nothing") },
		"repository of another":   func() (*Installation, error) { return c.RepositoryInstallation(ctx, "octocat", "widgets") },
		"unknown installation id": func() (*Installation, error) { return c.Installation(ctx, 999999) },
	} {
		in, err := call()
		if !IsNotFound(err) {
			t.Errorf("%s: %+v, %v; want a 404", name, in, err)
		}
		if in != nil {
			t.Errorf("%s: installation %+v with the error", name, in)
		}
	}
	if n := len(s.Calls()); n != 4 {
		t.Errorf("4 lookups answered 404 made %d calls (404 must not be retried)", n)
	}
}

func TestInstallationWithoutIDIsAnError(t *testing.T) {
	api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"account":{"login":"acme"}}`)
	})
	c := newClientAt(t, api.URL)
	if in, err := c.OwnerInstallation(t.Context(), "acme"); err == nil {
		t.Fatalf("installation without id accepted: %+v", in)
	}
}

// ---------------------------------------------------------------------------
// Tokens

func TestCreateToken(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets", "gadgets", "gizmos")
	gadgets := in.Repositories[1]
	c := newClient(t, s)

	tok, err := c.CreateToken(t.Context(), in.ID, TokenRequest{
		Repositories:  []string{"widgets"},
		RepositoryIDs: []int64{gadgets.ID},
		Permissions:   map[string]string{"contents": "read", "issues": "write"},
	})
	if err != nil {
		t.Fatal(err)
	}
	minted, ok := s.LookupToken(tok.Token)
	if !ok {
		t.Fatalf("token %q unknown to the double", tok.Token)
	}
	if !slices.Equal(minted.Repositories, []string{"widgets", "gadgets"}) {
		t.Errorf("double minted for %q, want widgets (by name) and gadgets (by id)", minted.Repositories)
	}
	if !slices.Equal(tok.Repositories, []string{"widgets", "gadgets"}) {
		t.Errorf("Token.Repositories = %q, want the names", tok.Repositories)
	}
	if want := []int64{in.Repositories[0].ID, gadgets.ID}; !slices.Equal(tok.RepositoryIDs, want) {
		t.Errorf("Token.RepositoryIDs = %v, want %v (the names' ids, in order)", tok.RepositoryIDs, want)
	}
	if len(minted.Permissions) != 2 || minted.Permissions["contents"] != "read" || minted.Permissions["issues"] != "write" {
		t.Errorf("double minted with permissions %v", minted.Permissions)
	}
	if len(tok.Permissions) != 2 || tok.Permissions["contents"] != "read" || tok.Permissions["issues"] != "write" {
		t.Errorf("Token.Permissions = %v", tok.Permissions)
	}
	if !tok.ExpiresAt.Equal(minted.ExpiresAt) || tok.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt %v, double says %v", tok.ExpiresAt, minted.ExpiresAt)
	}
	if tok.RepositorySelection != "selected" {
		t.Errorf("RepositorySelection %q", tok.RepositorySelection)
	}
	if n := len(s.Tokens()); n != 1 {
		t.Errorf("%d tokens minted, want 1", n)
	}
	if n := s.CallCount(http.MethodPost, fmt.Sprintf("/app/installations/%d/access_tokens", in.ID)); n != 1 {
		t.Errorf("%d POSTs, want 1", n)
	}

	// No narrowing: the installation's repositories and permissions.
	all, err := c.CreateToken(t.Context(), in.ID, TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if all.Repositories != nil {
		t.Errorf("unnarrowed token lists repositories %q", all.Repositories)
	}
	if all.Permissions["contents"] != "write" {
		t.Errorf("unnarrowed token permissions %v", all.Permissions)
	}
}

func TestCreateTokenRequestBody(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"token":"ghs_abcdefghijklmnopqrstuvwxyz0123456789","expires_at":"2030-01-02T03:04:05+01:00",
			"permissions":{"contents":"read"},"repository_selection":"selected",
			"repositories":[{"id":1,"name":"widgets","full_name":"acme/widgets","owner":{"login":"acme"},"private":true},
			                {"id":2,"name":"gadgets","full_name":"acme/gadgets","owner":{"login":"acme"}}]}`)
	})
	c := newClientAt(t, rec.URL)
	tok, err := c.CreateToken(t.Context(), 42, TokenRequest{
		Repositories:  []string{"widgets", "gadgets"},
		RepositoryIDs: []int64{7, 8},
		Permissions:   map[string]string{"contents": "read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/app/installations/42/access_tokens" {
		t.Fatalf("requests %+v", reqs)
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatalf("body %s: %v", reqs[0].Body, err)
	}
	want := map[string]any{
		"repositories":   []any{"widgets", "gadgets"},
		"repository_ids": []any{7.0, 8.0},
		"permissions":    map[string]any{"contents": "read"},
	}
	if got, _ := json.Marshal(body); string(got) != mustJSON(t, want) {
		t.Errorf("body %s, want %s", got, mustJSON(t, want))
	}
	if !slices.Equal(tok.Repositories, []string{"widgets", "gadgets"}) {
		t.Errorf("Repositories %q, want names only", tok.Repositories)
	}
	if want := time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC); !tok.ExpiresAt.Equal(want) || tok.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt %v, want %v in UTC", tok.ExpiresAt, want)
	}

	// An empty request sends an empty object, not nulls.
	if _, err := c.CreateToken(t.Context(), 42, TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := string(rec.requests()[1].Body); got != "{}" {
		t.Errorf("empty request body %s, want {}", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCreateTokenRefusals(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	s.AddInstallation("other", "Organization", "foreign")
	c := newClient(t, s)
	ctx := t.Context()

	_, err := c.CreateToken(ctx, in.ID, TokenRequest{Repositories: []string{"foreign"}})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("foreign repository: %v, want a 422", err)
	}
	const msg = "There is at least one repository that does not exist or is not accessible to the parent installation."
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q lacks GitHub's message", err)
	}
	if !strings.Contains(apiErr.DocumentationURL, "docs.github.com") {
		t.Errorf("DocumentationURL %q", apiErr.DocumentationURL)
	}

	_, err = c.CreateToken(ctx, in.ID, TokenRequest{Permissions: map[string]string{"administration": "write"}})
	if !strings.Contains(fmt.Sprint(err), "The permissions requested are not granted to this installation.") {
		t.Errorf("permission not granted: %v", err)
	}

	_, err = c.CreateToken(ctx, 999999, TokenRequest{})
	if !IsNotFound(err) {
		t.Errorf("unknown installation: %v, want a 404", err)
	}
	if n := len(s.Tokens()); n != 0 {
		t.Errorf("%d tokens minted by refused requests", n)
	}
	if n := len(s.Calls()); n != 3 {
		t.Errorf("3 refused mints made %d calls (4xx must not be retried)", n)
	}
}

func TestRevokeToken(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	c := newClient(t, s)
	ctx := t.Context()
	mint := func() string {
		t.Helper()
		tok, err := c.CreateToken(ctx, in.ID, TokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}

	tok := mint()
	if err := c.RevokeToken(ctx, tok); err != nil {
		t.Fatalf("204: %v", err)
	}
	if got, _ := s.LookupToken(tok); got.RevokedAt.IsZero() {
		t.Fatal("token not revoked at the double")
	}
	// GitHub answers 401 for a dead token: already revoked.
	if err := c.RevokeToken(ctx, tok); err != nil {
		t.Fatalf("401 (already revoked): %v", err)
	}
	s.SetRevokeStatus(http.StatusNotFound)
	if err := c.RevokeToken(ctx, mint()); err != nil {
		t.Fatalf("404: %v", err)
	}

	s.SetRevokeStatus(http.StatusInternalServerError)
	tok = mint()
	s.ResetCalls()
	err := c.RevokeToken(ctx, tok)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusInternalServerError {
		t.Fatalf("500: %v, want the error", err)
	}
	if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), tok[4:]) {
		t.Fatalf("error %q holds the token", err)
	}
	if n := s.CallCount(http.MethodDelete, "/installation/token"); n != fastRetry.MaxAttempts {
		t.Errorf("500 on revoke tried %d times, want %d", n, fastRetry.MaxAttempts)
	}
	if got, _ := s.LookupToken(tok); !got.RevokedAt.IsZero() {
		t.Fatal("token revoked although the double answered 500")
	}

	s.SetRevokeStatus(http.StatusForbidden)
	if err := c.RevokeToken(ctx, tok); err == nil {
		t.Error("403 on revoke reported as success")
	} else if strings.Contains(err.Error(), tok[4:]) {
		t.Fatalf("error %q holds the token", err)
	}

	if err := c.RevokeToken(ctx, ""); err == nil {
		t.Error("revoking the empty token succeeded")
	}
}

// Whatever a server answers, the token being revoked never shows in the
// error.
func TestRevokeErrorsNeverHoldTheToken(t *testing.T) {
	const tok = "ghs_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8"
	for name, handle := range map[string]http.HandlerFunc{
		"JSON echo": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, `{"message":"token %s was refused"}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		},
		"text echo": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "forbidden: Authorization: %s\n", r.Header.Get("Authorization"))
		},
		"hang up": func(w http.ResponseWriter, r *http.Request) {
			panic(http.ErrAbortHandler)
		},
	} {
		t.Run(name, func(t *testing.T) {
			api := newRecorder(t, handle)
			c := newClientAt(t, api.URL)
			err := c.RevokeToken(t.Context(), tok)
			if err == nil {
				t.Fatal("revoke reported success")
			}
			if strings.Contains(err.Error(), tok[4:]) || strings.Contains(fmt.Sprintf("%+v", err), tok[4:]) {
				t.Fatalf("error %q holds the token", err)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Scrub

func TestScrub(t *testing.T) {
	const jwtValue = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiIxMDAxIiwiaWF0IjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJl-X_c2lnbmF0dXJl"
	pemBlock := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----"
	secrets := map[string]string{
		"installation token":     "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
		"new installation token": "ghs_1234567_" + jwtValue,
		"personal token":         "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
		"OAuth token":            "gho_16C7e42F292c6912E7710c838347Ae178B4a",
		"user-to-server token":   "ghu_16C7e42F292c6912E7710c838347Ae178B4a",
		"refresh token":          "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498",
		"fine-grained PAT":       "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
		"JWT":                    jwtValue,
		"PEM block":              pemBlock,
		"PEM block cut short":    pemBlock[:120],
		"PKCS#8 PEM":             strings.ReplaceAll(pemBlock, "RSA PRIVATE KEY", "PRIVATE KEY"),
	}
	for name, secret := range secrets {
		t.Run(name, func(t *testing.T) {
			for _, in := range []string{
				secret,
				"Bad credentials: " + secret,
				"token=" + secret + "; try again",
				`{"token":"` + secret + `"}`,
				"Authorization: Bearer " + secret + "\n",
			} {
				out := Scrub(in)
				if !strings.Contains(out, "[redacted]") {
					t.Errorf("Scrub(%q) = %q, nothing redacted", in, out)
				}
				assertNoSecret(t, out, secret)
			}
		})
	}
	// A token-like run glued to a PEM block must not hide the block.
	glued := "ghs_AAAAAA" + pemBlock
	if out := Scrub(glued); strings.Contains(out, "MIIEowIBAAKCAQEAu1SU1Lf") {
		t.Errorf("Scrub(%q) = %q: the key's body is left", glued, out)
	}
	glued = secrets["installation token"] + pemBlock + secrets["JWT"]
	out := Scrub(glued)
	for _, secret := range []string{secrets["installation token"], pemBlock, secrets["JWT"]} {
		assertNoSecret(t, out, secret)
	}

	// What is not a secret is kept.
	for _, keep := range []string{
		"Not Found",
		"https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
		"There is at least one repository that does not exist or is not accessible to the parent installation.",
		"API rate limit exceeded for installation ID 41000001.",
		"ghs_short",
	} {
		if got := Scrub(keep); got != keep {
			t.Errorf("Scrub(%q) = %q", keep, got)
		}
	}
}

// assertNoSecret fails if out holds secret or any 12-character piece of it
// that is not also in "-----BEGIN ... KEY-----" framing.
func assertNoSecret(t *testing.T, out, secret string) {
	t.Helper()
	if strings.Contains(out, secret) {
		t.Fatalf("%q holds the secret", out)
	}
	for _, line := range strings.Split(secret, "\n") {
		if strings.HasPrefix(line, "-----") {
			continue
		}
		for i := 0; i+12 <= len(line); i += 4 {
			if chunk := line[i : i+12]; strings.Contains(out, chunk) {
				t.Fatalf("%q holds %q, part of the secret", out, chunk)
			}
		}
	}
}

// The double echoes an invalid permission level in its 422 message; a token
// put there must not come back in the client's error.
func TestAPIErrorFromDoubleIsScrubbed(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	c := newClient(t, s)
	const secret = "ghs_SuperSecretTokenValue0123456789abcd"
	_, err := c.CreateToken(t.Context(), in.ID, TokenRequest{Permissions: map[string]string{"contents": secret}})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("CreateToken = %v, want a 422", err)
	}
	if !strings.Contains(err.Error(), "is not a valid permission level") {
		t.Fatalf("error %q lacks the double's message", err)
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %q: nothing redacted", err)
	}
	assertNoSecret(t, err.Error(), secret)
	assertNoSecret(t, apiErr.Message, secret)
}

func TestAPIErrorBodies(t *testing.T) {
	const tok = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
	tests := map[string]struct {
		status      int
		contentType string
		body        string
		wantMsg     string
	}{
		"GitHub JSON": {422, "application/json", `{"message":"Validation Failed","documentation_url":"https://docs.github.com/x"}`, "Validation Failed"},
		"JSON token":  {401, "application/json", `{"message":"Bad credentials ` + tok + `"}`, "Bad credentials [redacted]"},
		"text token":  {502, "text/plain", "upstream broke with " + tok + "\n", "upstream broke with [redacted]"},
		"HTML":        {502, "text/html", "<html><body>Bad gateway " + tok + "</body></html>", "Bad Gateway"},
		"empty":       {503, "", "", "Service Unavailable"},
		"JSON no msg": {500, "application/json", `{"error":"` + tok + `"}`, "Internal Server Error"},
		"long text":   {400, "text/plain", strings.Repeat("word ", 1000), strings.Repeat("word ", 60) + "…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			c := newClientAt(t, api.URL, func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })
			_, err := c.App(t.Context())
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("App = %v, want an APIError", err)
			}
			if apiErr.StatusCode != tc.status || apiErr.Endpoint != "GET /app" {
				t.Errorf("APIError %+v", apiErr)
			}
			if apiErr.Message != tc.wantMsg {
				t.Errorf("Message %q, want %q", apiErr.Message, tc.wantMsg)
			}
			want := fmt.Sprintf("GET /app: GitHub answered %d: %s", tc.status, tc.wantMsg)
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err, want)
			}
			assertNoSecret(t, err.Error(), tok)
		})
	}
}

// ---------------------------------------------------------------------------
// Observe

func TestObserveReportsEachAttempt(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	var mu sync.Mutex
	var seen []CallInfo
	c := newClient(t, s, func(cfg *Config) {
		cfg.Observe = func(ci CallInfo) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, ci)
		}
	})
	s.FailNext(1, http.StatusServiceUnavailable)
	if _, err := c.CreateToken(t.Context(), in.ID, TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("observed %d attempts, want 2", len(seen))
	}
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusCreated} {
		ci := seen[i]
		if ci.Endpoint != "POST /app/installations/{id}/access_tokens" || ci.Status != want {
			t.Errorf("attempt %d: %+v, want status %d", i+1, ci, want)
		}
		if ci.RateLimitRemaining <= 0 {
			t.Errorf("attempt %d: RateLimitRemaining %d, the double sends a positive budget", i+1, ci.RateLimitRemaining)
		}
		if ci.RateLimitResource != "core" || ci.Spender != SpenderApp {
			t.Errorf("attempt %d: resource %q spender %q, want core and app", i+1, ci.RateLimitResource, ci.Spender)
		}
	}
}

// The App's budget and an installation's are GitHub's two budgets: each
// observed call says which it drew on.
func TestObserveSpenderAndResource(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	var mu sync.Mutex
	var seen []CallInfo
	c := newClient(t, s, func(cfg *Config) {
		cfg.Observe = func(ci CallInfo) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, ci)
		}
	})
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tok, err := c.CreateToken(t.Context(), in.ID, TokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeToken(t.Context(), tok.Token); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	remaining := map[string][]int{}
	for _, ci := range seen {
		want := SpenderApp
		if ci.Endpoint == "DELETE /installation/token" {
			want = SpenderInstallation
		}
		if ci.Spender != want || ci.RateLimitResource != "core" {
			t.Errorf("%s: spender %q resource %q, want %q and core", ci.Endpoint, ci.Spender, ci.RateLimitResource, want)
		}
		remaining[ci.Spender] = append(remaining[ci.Spender], ci.RateLimitRemaining)
	}
	// Each budget counts down on its own.
	app, inst := remaining[SpenderApp], remaining[SpenderInstallation]
	if len(app) != 4 || len(inst) != 3 || app[0]-app[3] != 3 || inst[0]-inst[2] != 2 || app[3] == inst[2] {
		t.Errorf("remaining by spender: app %v, installation %v", app, inst)
	}

	// A failed dial has no answer: no resource, still a spender.
	seen = nil
	mu.Unlock()
	dead := newClientAt(t, closedPortURL(t), func(cfg *Config) {
		cfg.Observe = func(ci CallInfo) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, ci)
		}
		cfg.Retry = RetryPolicy{MaxAttempts: 1}
	})
	_, _ = dead.App(t.Context())
	mu.Lock()
	if len(seen) != 1 || seen[0].RateLimitRemaining != -1 || seen[0].RateLimitResource != "" || seen[0].Spender != SpenderApp {
		t.Errorf("observed %+v", seen)
	}
}

// A next link whose scheme GitHub wrote in capitals is still followed as
// the absolute URL it is.
func TestInstallationsFollowsUppercaseSchemeLink(t *testing.T) {
	var paths []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path+"?"+r.URL.RawQuery)
		if r.URL.Query().Get("page") == "" {
			w.Header().Set("Link", "<HTTP://"+strings.TrimPrefix(srv.URL, "http://")+"/app/installations?page=2>; rel=\"next\"")
			fmt.Fprint(w, `[{"id":1,"account":{"login":"a"}}]`)
			return
		}
		fmt.Fprint(w, `[{"id":2,"account":{"login":"b"}}]`)
	}))
	defer srv.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	c, err := New(Config{BaseURL: srv.URL, AppID: 1, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.Installations(t.Context())
	if err != nil || len(all) != 2 {
		t.Fatalf("installations %v, err %v", all, err)
	}
	if want := "/app/installations?page=2"; paths[1] != want {
		t.Fatalf("second page fetched %q, want %q", paths[1], want)
	}
}

func TestClipKeepsUTF8Valid(t *testing.T) {
	msg := strings.Repeat("é", 400) // two bytes each: byte 300 is mid-character for an odd cut
	for _, s := range []string{msg, "x" + msg} {
		got := clip(s)
		if !utf8.ValidString(got) || len(got) > 300+len("…") {
			t.Fatalf("clip gave %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
		}
	}
}

// TokenRepositories lists what a token reaches, page by page, with the
// token (no App JWT): all of the installation for a token of its full
// scope, only its own for a scoped one, and a revoked token is refused.
func TestTokenRepositoriesFollowsPages(t *testing.T) {
	s := newDouble(t)
	names := make([]string, 230)
	for i := range names {
		names[i] = fmt.Sprintf("repo-%03d", i)
	}
	in := s.AddInstallation("acme", "Organization", names...)
	c := newClient(t, s)
	tok, err := c.CreateToken(t.Context(), in.ID, TokenRequest{Permissions: map[string]string{"metadata": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	s.ResetCalls()
	signed := len(s.JWTsSeen())
	all, err := c.TokenRepositories(t.Context(), tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 230 || all[0].Name != "repo-000" || all[229].ID != in.Repositories[229].ID {
		t.Fatalf("%d repositories (first %+v), want the installation's 230", len(all), all[0])
	}
	var queries []string
	for _, call := range s.Calls() {
		if call.Path != "/installation/repositories" {
			t.Errorf("unexpected call %s %s", call.Method, call.Path)
		}
		queries = append(queries, call.Query)
	}
	if want := []string{"per_page=100", "per_page=100&page=2", "per_page=100&page=3"}; !slices.Equal(queries, want) {
		t.Fatalf("pages fetched %q, want %q", queries, want)
	}
	if len(s.JWTsSeen()) != signed {
		t.Errorf("listing a token's repositories signed an App JWT")
	}

	scoped, err := c.CreateToken(t.Context(), in.ID, TokenRequest{Repositories: []string{"repo-007", "repo-100"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.TokenRepositories(t.Context(), scoped.Token)
	if err != nil || len(got) != 2 || got[0].Name != "repo-007" || got[1].Name != "repo-100" {
		t.Fatalf("scoped token lists %+v, %v; want repo-007 and repo-100", got, err)
	}
	if err := c.RevokeToken(t.Context(), scoped.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TokenRepositories(t.Context(), scoped.Token); githubStatusOf(err) != 401 {
		t.Fatalf("revoked token: err %v, want GitHub's 401", err)
	}
}

func githubStatusOf(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}
