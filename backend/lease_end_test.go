package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// lease_expires_at is the lease's end as Vault stores it: the engine's TTL
// capped by the mount's max_lease_ttl (the system view's), from the moment
// of the mint, to the second and never after.
func TestTokenLeaseExpiresAt(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme"})
	sys := e.sys.SystemView.(*logical.StaticSystemView)

	for _, c := range []struct {
		name   string
		max    time.Duration
		capped bool
	}{
		{"mount max above the token's life", 48 * time.Hour, false},
		{"mount max_lease_ttl tuned to 10m", 10 * time.Minute, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sys.MaxLeaseTTLVal = c.max
			before := time.Now()
			resp := e.ok(logical.ReadOperation, "token/r", nil)
			after := time.Now()
			raw, _ := resp.Data["lease_expires_at"].(string)
			end, err := time.Parse(time.RFC3339, raw)
			if err != nil || end.Location() != time.UTC || end.Nanosecond() != 0 {
				t.Fatalf("lease_expires_at %q: want RFC 3339 in UTC, whole seconds (%v)", raw, err)
			}
			ttl := resp.Secret.TTL // what the engine asks; Vault caps it at c.max
			if c.capped {
				if ttl <= c.max {
					t.Fatalf("the engine's TTL %s is not above the mount's max %s: the case tests nothing", ttl, c.max)
				}
				ttl = c.max
			}
			if lo, hi := before.Add(ttl).Truncate(time.Second), after.Add(ttl); end.Before(lo) || end.After(hi) {
				t.Fatalf("lease_expires_at %s, want the mint time + %s: between %s and %s", end, ttl, lo, hi)
			}
		})
	}
}
