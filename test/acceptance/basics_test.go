//go:build acceptance

package acceptance

import (
	"slices"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// TestBasics: config → role → token on a real Vault; the lease follows the
// token's expires_at minus the buffer and is not renewable; `vault lease
// revoke` and `revoke -prefix github/token/` revoke the tokens at GitHub.
func TestBasics(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil) // default expiry_buffer: 5m

	cfg, err := v.Client.Logical().Read("github/config")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Data["private_key"]; ok {
		t.Error("config read returns the private key")
	}
	if cfg.Data["app_slug"] != d.Slug {
		t.Errorf("config app_slug = %v, want %q", cfg.Data["app_slug"], d.Slug)
	}
	info, err := v.Client.Logical().Read("github/info")
	if err != nil {
		t.Fatal(err)
	}
	if info.Data["version"] != pluginVersion {
		t.Errorf("info version = %v, want %s", info.Data["version"], pluginVersion)
	}

	v.writeRole(t, "github", "demo", map[string]any{"owner": "acme"})
	v.writeRole(t, "github", "narrow", map[string]any{
		"owner":         "acme",
		"repositories":  "widgets,gadgets",
		"permissions":   "contents=read,pull_requests=write",
		"expiry_buffer": "10m",
	})

	t.Run("lease follows expires_at minus the buffer", func(t *testing.T) {
		for _, c := range []struct {
			role   string
			buffer time.Duration
		}{{"demo", 5 * time.Minute}, {"narrow", 10 * time.Minute}} {
			m := mint(t, v.Client, "github/token/"+c.role)
			checkLease(t, m, c.buffer)
			tok := lookupToken(t, d, m.Data.Token)
			if !tok.Live(time.Now()) {
				t.Errorf("%s: token %s is not live at the double", c.role, m.Data.HashedToken)
			}
			if !tok.ExpiresAt.Equal(m.Data.ExpiresAt) {
				t.Errorf("%s: expires_at %s, the double says %s", c.role, m.Data.ExpiresAt, tok.ExpiresAt)
			}
			if m.Data.HashedToken != github.HashToken(m.Data.Token) {
				t.Errorf("%s: hashed_token does not match the token", c.role)
			}
			if m.Data.InstallationID != tok.InstallationID {
				t.Errorf("%s: installation_id %d, the double says %d", c.role, m.Data.InstallationID, tok.InstallationID)
			}
			if _, err := v.Client.Sys().Renew(m.LeaseID, 0); err == nil {
				t.Errorf("%s: renewing the lease succeeded; it must not be renewable", c.role)
			}
		}
		m := mint(t, v.Client, "github/token/narrow")
		tok := lookupToken(t, d, m.Data.Token)
		if got := slices.Sorted(slices.Values(tok.Repositories)); !slices.Equal(got, []string{"gadgets", "widgets"}) {
			t.Errorf("narrow role token covers %v at the double, want [gadgets widgets]", got)
		}
		if tok.Permissions["contents"] != "read" || tok.Permissions["pull_requests"] != "write" || len(tok.Permissions) != 2 {
			t.Errorf("narrow role token has permissions %v at the double", tok.Permissions)
		}
	})

	t.Run("narrowing a token", func(t *testing.T) {
		m, err := tryMint(v.Client, "github/token/narrow", map[string]any{"repositories": "widgets", "permissions": "contents=read"})
		if err != nil {
			t.Fatalf("narrowing: %v", err)
		}
		checkLease(t, m, 10*time.Minute)
		tok := lookupToken(t, d, m.Data.Token)
		if !slices.Equal(tok.Repositories, []string{"widgets"}) || len(tok.Permissions) != 1 {
			t.Errorf("narrowed token covers %v with %v at the double", tok.Repositories, tok.Permissions)
		}
	})

	t.Run("vault lease revoke revokes the token", func(t *testing.T) {
		m := mint(t, v.Client, "github/token/demo")
		// The CLI, exactly as an operator would type it.
		if out, err := v.cli(nil, "lease", "revoke", m.LeaseID); err != nil {
			t.Fatalf("vault lease revoke: %v: %s", err, out)
		}
		tok := waitRevoked(t, d, m.Data.Token, time.Now().Add(10*time.Second))
		if tok.RevokedAt.Before(m.After) {
			t.Errorf("token revoked at %s, before the lease revoke", tok.RevokedAt)
		}
		if v.leaseExists(t, m.LeaseID) {
			t.Error("the lease still exists after vault lease revoke")
		}
	})

	t.Run("revoke -prefix github/token/ revokes them all", func(t *testing.T) {
		v.enableEngine(t, "github-other")
		v.configureEngine(t, "github-other", d, nil)
		v.writeRole(t, "github-other", "demo", map[string]any{"owner": "acme"})
		var mine []mintedToken
		for _, role := range []string{"demo", "demo", "narrow"} {
			mine = append(mine, mint(t, v.Client, "github/token/"+role))
		}
		other := mint(t, v.Client, "github-other/token/demo")

		if err := v.Client.Sys().RevokePrefix("github/token/"); err != nil {
			t.Fatalf("revoke-prefix: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for _, m := range mine {
			waitRevoked(t, d, m.Data.Token, deadline)
			if v.leaseExists(t, m.LeaseID) {
				t.Errorf("lease %s survives revoke -prefix", m.LeaseID)
			}
		}
		if tok := lookupToken(t, d, other.Data.Token); !tok.Live(time.Now()) {
			t.Error("revoke -prefix github/token/ revoked a token of the github-other mount")
		}
		// Every token minted through github/ so far, in earlier subtests
		// too, is gone; only the other mount's token lives.
		for _, tok := range d.LiveTokens() {
			if tok.Value != other.Data.Token {
				t.Errorf("token %s is still live after revoke -prefix github/token/", github.HashToken(tok.Value))
			}
		}
	})
}

// checkLease checks a minted token's lease: its TTL is expires_at minus the
// buffer (within 2 s) and it is not renewable.
func checkLease(t *testing.T, m mintedToken, buffer time.Duration) {
	t.Helper()
	// The engine computed the TTL at some instant between Before and After.
	lo := m.Data.ExpiresAt.Sub(m.After) - buffer
	hi := m.Data.ExpiresAt.Sub(m.Before) - buffer
	if m.LeaseTTL < lo-2*time.Second || m.LeaseTTL > hi+2*time.Second {
		t.Errorf("lease_duration %s, want expires_at - buffer (%s) = %s..%s within 2s", m.LeaseTTL, buffer, lo.Round(time.Second), hi.Round(time.Second))
	}
	if m.Renewable {
		t.Error("the lease is renewable")
	}
}
