//go:build acceptance

package acceptance

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestErrorStatuses: the engine's answers keep their HTTP status through
// the plugin's gRPC boundary into a real Vault: bad input 400, asking for
// more than the role 403, GitHub failing or rate limiting 502. Nothing is
// minted on any of them.
func TestErrorStatuses(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "web", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read"})
	// No client-side retries: each request reaches the engine once.
	c := v.newClient(t, v.RootToken)
	c.SetMaxRetries(0)

	check := func(t *testing.T, err error, status int, words ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("succeeded, want HTTP %d", status)
		}
		if got := statusOf(err); got != status {
			t.Errorf("HTTP %d, want %d: %v", got, status, err)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error does not mention %q: %v", w, err)
			}
		}
	}
	noneMinted := func(t *testing.T, before int) {
		t.Helper()
		if n := len(d.Tokens()); n != before {
			t.Errorf("%d tokens minted by a refused request", n-before)
		}
	}

	t.Run("bad role input is 400", func(t *testing.T) {
		_, err := c.Logical().Write("github/roles/bad", map[string]any{"owner": "acme", "installation_id": githubtest.FirstInstallationID})
		check(t, err, http.StatusBadRequest)
		if s, err := c.Logical().Read("github/roles/bad"); err != nil || s != nil {
			t.Errorf("a refused role was stored (%v, %v)", s, err)
		}
	})

	t.Run("narrowing beyond the role is 403", func(t *testing.T) {
		before := len(d.Tokens())
		_, err := c.Logical().Write("github/token/web", map[string]any{"repositories": "tools"})
		check(t, err, http.StatusForbidden, "tools")
		noneMinted(t, before)
	})

	t.Run("GitHub rate limit is 502", func(t *testing.T) {
		before := len(d.Tokens())
		d.RateLimitNext(1, http.StatusTooManyRequests, time.Minute) // longer than the engine waits
		defer d.ResetFaults()
		_, err := c.Logical().Read("github/token/web")
		check(t, err, http.StatusBadGateway, "rate limited")
		noneMinted(t, before)
	})

	t.Run("GitHub failing is 502", func(t *testing.T) {
		before := len(d.Tokens())
		d.SetFailureRate(1, http.StatusServiceUnavailable)
		defer d.ResetFaults()
		_, err := c.Logical().Read("github/token/web")
		check(t, err, http.StatusBadGateway)
		noneMinted(t, before)
	})

	t.Run("unknown role is 400", func(t *testing.T) {
		_, err := c.Logical().Read("github/token/nope")
		check(t, err, http.StatusBadRequest, "nope")
	})
}
