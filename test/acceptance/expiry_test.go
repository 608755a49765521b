//go:build acceptance

package acceptance

import (
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestLeaseExpiryRevokes: with 30 s tokens and a 10 s buffer, Vault ends
// the lease after ~20 s and the engine revokes the token at GitHub then —
// after the lease ends and before the token's own expires_at. A role ttl
// shorter than that cuts the token's life short the same way.
func TestLeaseExpiryRevokes(t *testing.T) {
	t.Parallel()
	const (
		tokenLife = 30 * time.Second
		buffer    = 10 * time.Second
	)
	d := newDouble(t, githubtest.WithTokenLifetime(tokenLife))
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, map[string]any{"expiry_buffer": buffer.String()})
	v.writeRole(t, "github", "short", map[string]any{"owner": "acme"})
	v.writeRole(t, "github", "cut", map[string]any{"owner": "acme", "ttl": "5s"})

	byBuffer := mint(t, v.Client, "github/token/short")
	byTTL := mint(t, v.Client, "github/token/cut")
	checkLease(t, byBuffer, buffer)
	if byTTL.LeaseTTL != 5*time.Second || byTTL.Renewable {
		t.Errorf("role ttl 5s: lease_duration %s renewable %v, want 5s and false", byTTL.LeaseTTL, byTTL.Renewable)
	}

	for _, c := range []struct {
		name string
		m    mintedToken
	}{{"ttl 5s", byTTL}, {"buffer 10s", byBuffer}} {
		m := c.m
		leaseEnd := m.Before.Add(m.LeaseTTL)
		// Not revoked while the lease runs.
		if tok := lookupToken(t, d, m.Data.Token); !tok.RevokedAt.IsZero() && tok.RevokedAt.Before(leaseEnd) {
			t.Fatalf("%s: token revoked at %s, before its lease ends at %s", c.name, tok.RevokedAt, leaseEnd)
		}
		// Revoked once it ends, and before GitHub would expire it.
		tok := waitRevoked(t, d, m.Data.Token, m.Data.ExpiresAt)
		if tok.RevokedAt.Before(leaseEnd.Add(-time.Second)) {
			t.Errorf("%s: token revoked at %s, before its lease (%s) ended at %s", c.name, tok.RevokedAt.Format(time.RFC3339Nano), m.LeaseTTL, leaseEnd.Format(time.RFC3339Nano))
		}
		if !tok.RevokedAt.Before(tok.ExpiresAt) {
			t.Errorf("%s: token revoked at %s, not before its expires_at %s", c.name, tok.RevokedAt, tok.ExpiresAt)
		}
		t.Logf("%s: lease %s; revoked %.1fs after the lease ended, %.1fs before expires_at", c.name, m.LeaseTTL,
			tok.RevokedAt.Sub(leaseEnd).Seconds(), tok.ExpiresAt.Sub(tok.RevokedAt).Seconds())
		waitUntil(t, time.Now().Add(5*time.Second), 100*time.Millisecond, func() (bool, string) {
			return !v.leaseExists(t, m.LeaseID), "lease " + m.LeaseID + " still exists after its token was revoked"
		})
	}
}
