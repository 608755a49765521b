//go:build acceptance

package acceptance

import (
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestRestart: a Vault server with persistent storage is stopped and
// started again; the leases it handed out before still get their tokens
// revoked at GitHub afterwards — one whose lease ended while Vault was
// down (revoked when Vault comes back), one that ends after the restart
// (revoked on time), and one revoked by hand after the restart.
func TestRestart(t *testing.T) {
	t.Parallel()
	for _, storage := range []string{"file", "raft"} {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			testRestart(t, storage)
		})
	}
}

func testRestart(t *testing.T, storage string) {
	const (
		tokenLife = 40 * time.Second
		buffer    = 10 * time.Second
	)
	d := newDouble(t, githubtest.WithTokenLifetime(tokenLife))
	v := startVault(t, vaultOptions{Storage: storage})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, map[string]any{"expiry_buffer": buffer.String()})
	v.writeRole(t, "github", "short", map[string]any{"owner": "acme", "ttl": "3s"})
	v.writeRole(t, "github", "long", map[string]any{"owner": "acme"})

	endsWhileDown := mint(t, v.Client, "github/token/short")
	endsAfter := mint(t, v.Client, "github/token/long")
	revokedByHand := mint(t, v.Client, "github/token/long")

	v.stop(t)
	stoppedAt := time.Now()
	// Let the short lease end while Vault is down: nobody revokes it yet.
	time.Sleep(time.Until(endsWhileDown.After.Add(endsWhileDown.LeaseTTL + 2*time.Second)))
	if tok := lookupToken(t, d, endsWhileDown.Data.Token); !tok.RevokedAt.IsZero() {
		t.Fatalf("token revoked at %s while Vault was down", tok.RevokedAt)
	}

	v.start(t)
	upAt := time.Now()
	t.Logf("%s: down for %.1fs", storage, upAt.Sub(stoppedAt).Seconds())
	if m, err := v.Client.Sys().GetMount("github"); err != nil || m.RunningVersion != pluginVersion {
		t.Fatalf("after restart the mount runs %v (%v), want %s", m, err, pluginVersion)
	}

	// The lease that ended during the downtime is revoked once Vault is
	// back (it restores leases and revokes the expired ones).
	tok := waitRevoked(t, d, endsWhileDown.Data.Token, endsWhileDown.Data.ExpiresAt)
	if tok.RevokedAt.Before(upAt.Add(-5 * time.Second)) {
		t.Errorf("token revoked at %s, before Vault came back at %s", tok.RevokedAt, upAt)
	}
	t.Logf("%s: lease ended during the downtime; revoked %.1fs after Vault was back", storage, tok.RevokedAt.Sub(upAt).Seconds())

	// A lease from before the restart can be revoked by hand.
	if err := v.Client.Sys().Revoke(revokedByHand.LeaseID); err != nil {
		t.Fatalf("revoking a lease from before the restart: %v", err)
	}
	waitRevoked(t, d, revokedByHand.Data.Token, time.Now().Add(10*time.Second))

	// A lease that outlives the restart is revoked when it ends, before
	// GitHub's expires_at.
	leaseEnd := endsAfter.Before.Add(endsAfter.LeaseTTL)
	if upAt.After(leaseEnd) {
		t.Fatalf("the restart took until %s, past the long lease's end %s; lengthen tokenLife", upAt, leaseEnd)
	}
	tok = waitRevoked(t, d, endsAfter.Data.Token, endsAfter.Data.ExpiresAt)
	if tok.RevokedAt.Before(leaseEnd.Add(-time.Second)) {
		t.Errorf("token revoked at %s, before its lease ended at %s", tok.RevokedAt, leaseEnd)
	}
	t.Logf("%s: lease outliving the restart revoked %.2fs after it ended, %.1fs before expires_at", storage,
		tok.RevokedAt.Sub(leaseEnd).Seconds(), tok.ExpiresAt.Sub(tok.RevokedAt).Seconds())

	// The engine still mints after the restart: config and key survived.
	m := mint(t, v.Client, "github/token/long")
	checkLease(t, m, buffer)
	if len(d.LiveTokens()) != 1 {
		t.Errorf("%d live tokens at the double, want only the one minted after the restart", len(d.LiveTokens()))
	}
}
