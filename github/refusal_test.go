package github

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
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
