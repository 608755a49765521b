//go:build acceptance

package acceptance

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// agentPolicy is what the runner's Vault Agent may do: mint its role.
const agentPolicy = `path "github/token/agent" {
  capabilities = ["read"]
}
`

// rendered is one token as it appeared in the Agent's output file.
type rendered struct {
	value      string
	seenAt     time.Time // first poll that saw it
	replacedAt time.Time // first poll that saw the next token; zero while current
	tok        githubtest.Token
}

// TestAgentRotation: a real `vault agent` with AppRole auto_auth renders
// github/token/agent to a file. With 60 s tokens and a 15 s buffer (45 s
// leases), across at least three rotations:
//   - every rendered token was live at GitHub when it was rendered;
//   - each token was replaced in the file at least the buffer's length
//     before its expires_at (the measured margin is logged);
//   - each replaced token was revoked at GitHub once its lease ended, and
//     not while it was still in the file.
func TestAgentRotation(t *testing.T) {
	t.Parallel()
	const (
		tokenLife = 60 * time.Second
		buffer    = 15 * time.Second
		rotations = 3
		poll      = 200 * time.Millisecond
	)
	d := newDouble(t, githubtest.WithTokenLifetime(tokenLife))
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, map[string]any{"expiry_buffer": buffer.String()})
	v.writeRole(t, "github", "agent", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=write"})
	if err := v.Client.Sys().PutPolicy("agent", agentPolicy); err != nil {
		t.Fatal(err)
	}
	roleID, secretID := v.approle(t, "runner", "agent")

	out := filepath.Join(t.TempDir(), "github-token")
	a := startAgent(t, agentOptions{
		Vault:    v,
		RoleID:   roleID,
		SecretID: secretID,
		Templates: []agentTemplate{{
			Contents:    `{{ with secret "github/token/agent" }}{{ .Data.token }}{{ end }}`,
			Destination: out,
		}},
	})

	// Poll the file until the token has been replaced `rotations` times.
	// Each rotation takes 85-95% of a 45 s lease; allow twice that.
	var seen []*rendered
	deadline := time.Now().Add(30*time.Second + rotations*2*(tokenLife-buffer))
	for len(seen) <= rotations {
		if time.Now().After(deadline) {
			t.Fatalf("only %d tokens rendered by %s; want %d rotations", len(seen), deadline.Format(time.RFC3339), rotations)
		}
		if a.proc.exited() {
			t.Fatalf("vault agent exited: %v", a.proc.err)
		}
		value, err := readTrimmed(out)
		now := time.Now()
		if err != nil {
			t.Fatalf("reading the rendered file: %v", err)
		}
		if value != "" && (len(seen) == 0 || seen[len(seen)-1].value != value) {
			tok := lookupToken(t, d, value)
			if !tok.Live(now) {
				t.Errorf("token %s rendered at %s is not live at GitHub (revoked %s, expires %s)",
					github.HashToken(value), now.Format(time.RFC3339Nano), tok.RevokedAt, tok.ExpiresAt)
			}
			if len(seen) > 0 {
				seen[len(seen)-1].replacedAt = now
			}
			seen = append(seen, &rendered{value: value, seenAt: now, tok: tok})
		}
		time.Sleep(poll)
	}
	a.stop(t)

	// Every replaced token: replaced early enough, and revoked at GitHub
	// once its lease ended, never while it was still in the file.
	for i, r := range seen[:rotations] {
		margin := r.tok.ExpiresAt.Sub(r.replacedAt)
		t.Logf("rotation %d: token %d issued %s, rendered +%.1fs, replaced +%.1fs, expires_at +%.0fs: replacement margin %.1fs (buffer %s)",
			i+1, i+1, r.tok.IssuedAt.Format("15:04:05.000"), r.seenAt.Sub(r.tok.IssuedAt).Seconds(),
			r.replacedAt.Sub(r.tok.IssuedAt).Seconds(), r.tok.ExpiresAt.Sub(r.tok.IssuedAt).Seconds(), margin.Seconds(), buffer)
		if margin < buffer {
			t.Errorf("rotation %d: token %s replaced only %s before its expires_at, want at least the buffer %s",
				i+1, github.HashToken(r.value), margin.Round(time.Millisecond), buffer)
		}
	}
	for i, r := range seen[:rotations] {
		// The lease ends expires_at - buffer (its TTL is truncated to the
		// second, so up to a second earlier); Vault revokes it then.
		leaseEnd := r.tok.ExpiresAt.Add(-buffer)
		tok := waitRevoked(t, d, r.value, r.tok.ExpiresAt)
		if tok.RevokedAt.Before(r.replacedAt) {
			t.Errorf("rotation %d: token %s revoked at %s while still in the file (replaced at %s)",
				i+1, github.HashToken(r.value), tok.RevokedAt.Format(time.RFC3339Nano), r.replacedAt.Format(time.RFC3339Nano))
		}
		if tok.RevokedAt.Before(leaseEnd.Add(-2 * time.Second)) {
			t.Errorf("rotation %d: token %s revoked at %s, before its lease ended (~%s)",
				i+1, github.HashToken(r.value), tok.RevokedAt.Format(time.RFC3339Nano), leaseEnd.Format(time.RFC3339Nano))
		}
		t.Logf("rotation %d: replaced token revoked %.1fs after it left the file, %.1fs before expires_at",
			i+1, tok.RevokedAt.Sub(r.replacedAt).Seconds(), tok.ExpiresAt.Sub(tok.RevokedAt).Seconds())
	}

	// The Agent minted nothing it did not render.
	if n := len(d.Tokens()); n != len(seen) {
		t.Errorf("the double issued %d tokens, the file showed %d", n, len(seen))
	}
}
