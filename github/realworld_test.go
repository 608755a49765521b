// Behaviour of real GitHub that the happy path does not reach: the App
// refused, suspended installations, moved repositories, redirects,
// stateless-size tokens and ids up to 2^53-1.

package github

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// GitHub refusing the App itself (a 401 or 403 on an App-JWT call that is
// not a rate limit) is told apart from a refusal of the caller's request,
// and a suspended installation is named as such.
func TestAppRefusedAndSuspended(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	c := newClient(t, s)

	s.SuspendInstallation(in.ID, true)
	_, err := c.CreateToken(t.Context(), in.ID, TokenRequest{})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
		t.Fatalf("mint for a suspended installation = %v, want a 403", err)
	}
	if !apiErr.AppAuth || !apiErr.Suspended || apiErr.RateLimited || apiErr.MintOutcomeUnknown {
		t.Errorf("error %+v", apiErr)
	}
	if !IsAppRefused(err) || !IsSuspended(err) || IsAmbiguousMint(err) {
		t.Errorf("IsAppRefused %v, IsSuspended %v, IsAmbiguousMint %v; want true, true, false", IsAppRefused(err), IsSuspended(err), IsAmbiguousMint(err))
	}
	if apiErr.Message != "This installation has been suspended" {
		t.Errorf("message %q", apiErr.Message)
	}
	if n := s.CallCount(http.MethodPost, fmt.Sprintf("/app/installations/%d/access_tokens", in.ID)); n != 1 {
		t.Errorf("%d POSTs, want 1 (a refusal is not retried)", n)
	}
	// The lookup still finds it, marked suspended.
	got, err := c.Installation(t.Context(), in.ID)
	if err != nil || got.SuspendedAt == nil {
		t.Errorf("lookup of a suspended installation: %+v, %v", got, err)
	}
	s.SuspendInstallation(in.ID, false)

	// A key GitHub does not know (deleted or replaced at GitHub): 401 on
	// every App call.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	stale := newClient(t, s, func(cfg *Config) { cfg.Key = other })
	for name, call := range map[string]func() error{
		"mint":   func() error { _, err := stale.CreateToken(t.Context(), in.ID, TokenRequest{}); return err },
		"lookup": func() error { _, err := stale.OwnerInstallation(t.Context(), "acme"); return err },
		"app":    func() error { _, err := stale.App(t.Context()); return err },
	} {
		err := call()
		if !IsAppRefused(err) || IsSuspended(err) || IsAmbiguousMint(err) {
			t.Errorf("%s with an unknown key: %v (IsAppRefused %v, IsSuspended %v)", name, err, IsAppRefused(err), IsSuspended(err))
		}
	}

	// A clock far ahead makes a JWT GitHub refuses the same way.
	skewed := newClient(t, s, func(cfg *Config) { cfg.Now = func() time.Time { return time.Now().Add(time.Hour) } })
	if _, err := skewed.CreateToken(t.Context(), in.ID, TokenRequest{}); !IsAppRefused(err) {
		t.Errorf("mint with a skewed clock: %v, want the App refused", err)
	}

	// Not the App refused: the caller's request (404, 422), a rate limit,
	// a server error.
	for name, call := range map[string]func() error{
		"404": func() error { _, err := c.CreateToken(t.Context(), in.ID+1000, TokenRequest{}); return err },
		"422": func() error {
			_, err := c.CreateToken(t.Context(), in.ID, TokenRequest{Repositories: []string{"nope"}})
			return err
		},
		"403 rate limit": func() error {
			s.RateLimitNext(1, http.StatusForbidden, time.Hour)
			_, err := c.CreateToken(t.Context(), in.ID, TokenRequest{})
			return err
		},
		"503": func() error {
			s.FailNext(fastRetry.MaxAttempts, http.StatusServiceUnavailable)
			_, err := c.App(t.Context())
			return err
		},
	} {
		if err := call(); err == nil || IsAppRefused(err) || IsSuspended(err) {
			t.Errorf("%s: %v reported as the App refused or suspended", name, err)
		}
	}
}

// A refusal of an installation token (revocation) is not the App refused.
func TestInstallationTokenRefusalIsNotAppAuth(t *testing.T) {
	api := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"Resource not accessible by integration"}`)
	})
	c := newClientAt(t, api.URL)
	err := c.RevokeToken(t.Context(), "ghs_"+fmt.Sprintf("%0516d", 7))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || apiErr.AppAuth || IsAppRefused(err) {
		t.Errorf("revoke refused: %#v", err)
	}
}

func TestInstallationCarriesPermissions(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	in.Permissions = map[string]string{"contents": "read", "repository_pre_receive_hooks": "write"}
	c := newClient(t, s)
	got, err := c.Installation(t.Context(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Permissions) != "map[contents:read repository_pre_receive_hooks:write]" {
		t.Errorf("permissions %v", got.Permissions)
	}
}

// A token of the stateless size (520 characters) is redacted whole, also
// where an error message is clipped.
func TestScrubStatelessToken(t *testing.T) {
	if got := Scrub("refused " + statelessToken + " here"); got != "refused [redacted] here" {
		t.Errorf("Scrub = %q", got)
	}
	msg, _ := decodeError([]byte(`{"message":"` + strings.Repeat("y", 280) + " " + statelessToken + `"}`))
	if strings.Contains(msg, "Ab1Cd2") || len(msg) > 310 {
		t.Errorf("clipped message %q keeps part of the token", msg)
	}
}

// GitHub answers the lookup of a renamed or transferred repository with a
// 301 to /repositories/{id}/installation. The client follows it on the
// configured API and says it was redirected; the installation may be
// another account's.
func TestRepositoryInstallationAfterMove(t *testing.T) {
	s := newDouble(t, githubtest.WithPathPrefix("/api/v3"))
	acme := s.AddInstallation("acme", "Organization", "widgets")
	evil := s.AddInstallation("evil", "Organization", "tools")
	c := newClient(t, s)

	got, err := c.RepositoryInstallation(t.Context(), "acme", "widgets")
	if err != nil || got.ID != acme.ID {
		t.Fatalf("before the move: %+v, %v", got, err)
	}
	widgets := acme.Repositories[0].ID
	if err := s.MoveRepository("acme/widgets", "evil/widgets"); err != nil {
		t.Fatal(err)
	}
	got, err = c.RepositoryInstallation(t.Context(), "acme", "widgets")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != evil.ID || got.Account.Login != "evil" {
		t.Errorf("after the move: %+v, want evil's installation", got)
	}
	var paths []string
	for _, call := range s.Calls() {
		paths = append(paths, fmt.Sprintf("%s %d", call.Path, call.Status))
	}
	want := []string{
		"/repos/acme/widgets/installation 200",
		"/repos/acme/widgets/installation 301",
		fmt.Sprintf("/repositories/%d/installation 200", widgets),
	}
	if !slices.Equal(paths, want) {
		t.Errorf("calls %q, want %q", paths, want)
	}
}

// A redirect is followed on the configured host, never to the host it
// names, and only under the configured API path.
func TestRedirectsStayOnTheConfiguredAPI(t *testing.T) {
	var foreignHits atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		t.Errorf("foreign host reached with Authorization %q", r.Header.Get("Authorization"))
	}))
	t.Cleanup(foreign.Close)
	for name, tc := range map[string]struct {
		location string
		ok       bool
	}{
		"other host":       {foreign.URL + "/api/v3/repositories/812345001/installation", true},
		"path only":        {"/api/v3/repositories/812345001/installation", true},
		"outside the base": {foreign.URL + "/repositories/812345001/installation", false},
		"loop":             {"/api/v3/repos/acme/widgets/installation", false},
		"empty":            {"", false},
	} {
		t.Run(name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/api/v3/repositories/") {
					fmt.Fprint(w, `{"id":41000002,"account":{"login":"evil","id":3,"type":"Organization"}}`)
					return
				}
				w.Header().Set("Location", tc.location)
				w.WriteHeader(http.StatusMovedPermanently)
				fmt.Fprint(w, `{"message":"Moved Permanently"}`)
			}))
			t.Cleanup(api.Close)
			c := newClientAt(t, api.URL+"/api/v3")
			got, err := c.RepositoryInstallation(t.Context(), "acme", "widgets")
			if !tc.ok {
				if err == nil {
					t.Fatalf("followed a redirect to %q: %+v", tc.location, got)
				}
				if jwt, _ := c.appJWT(); strings.Contains(err.Error(), jwt) {
					t.Fatal("error holds the App JWT")
				}
				return
			}
			if err != nil || got.ID != 41000002 {
				t.Fatalf("RepositoryInstallation = %+v, %v", got, err)
			}
		})
	}
	if n := foreignHits.Load(); n != 0 {
		t.Fatalf("foreign host got %d requests", n)
	}
}

// Ids up to 2^53-1, the largest a JSON number carries exactly, survive
// every call.
func TestIDsUpToMaxJSONInteger(t *testing.T) {
	s := newDouble(t, githubtest.WithFirstIDs(githubtest.MaxJSONInteger-1, githubtest.MaxJSONInteger-1))
	in := s.AddInstallation("acme", "Organization", "widgets", "gadgets")
	c := newClient(t, s)
	got, err := c.Installation(t.Context(), in.ID)
	if err != nil || got.ID != githubtest.MaxJSONInteger-1 {
		t.Fatalf("Installation = %+v, %v", got, err)
	}
	all, err := c.Installations(t.Context())
	if err != nil || len(all) != 1 || all[0].ID != in.ID {
		t.Fatalf("Installations = %+v, %v", all, err)
	}
	tok, err := c.CreateToken(t.Context(), in.ID, TokenRequest{RepositoryIDs: []int64{githubtest.MaxJSONInteger}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Repositories) != 1 || tok.Repositories[0] != "gadgets" || len(tok.Token) != githubtest.TokenLength {
		t.Errorf("token for %v, %d characters", tok.Repositories, len(tok.Token))
	}
	if err := c.RevokeToken(t.Context(), tok.Token); err != nil {
		t.Fatal(err)
	}
	if live := s.LiveTokens(); len(live) != 0 {
		t.Errorf("%d live tokens after the revoke", len(live))
	}
}
