//go:build acceptance

package acceptance

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// leaseExpireTime is `vault lease lookup`'s expire_time for a lease.
func leaseExpireTime(t *testing.T, v *vaultServer, leaseID string) time.Time {
	t.Helper()
	out, err := v.cli(nil, "lease", "lookup", "-format=json", leaseID)
	if err != nil {
		t.Fatalf("vault lease lookup: %v: %s", err, out)
	}
	var answer struct {
		Data struct {
			ExpireTime time.Time `json:"expire_time"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &answer); err != nil || answer.Data.ExpireTime.IsZero() {
		t.Fatalf("vault lease lookup answered %q (%v)", out, err)
	}
	return answer.Data.ExpireTime
}

// sameSecond reports whether end, which the engine rounds down from its own
// clock when it mints, is expire, which Vault takes from its clock a moment
// later when it registers the lease: the same second, or the one before
// when that moment crossed a second.
func sameSecond(end, expire time.Time) bool {
	e := expire.Truncate(time.Second)
	return end.Equal(e) || end.Equal(e.Add(-time.Second))
}

// TestLeaseExpiresAt: a mint's lease_expires_at is the lease's expire_time
// as Vault stores it (`vault lease lookup`), with the mount's default max
// TTL and with max_lease_ttl tuned below the token's life; and an Agent
// whose other secret changes every few seconds renders the same token with
// the same validUntil in credentials.json (shipped template), where the old
// template (render time + .LeaseDuration) moved it on every render.
func TestLeaseExpiresAt(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "r", map[string]any{"owner": "acme", "repositories": "widgets"})

	check := func(t *testing.T, wantTTL func(time.Duration) bool) {
		t.Helper()
		s, err := v.Client.Logical().Read("github/token/r")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := s.Data["lease_expires_at"].(string)
		end, err := time.Parse(time.RFC3339, raw)
		if err != nil || !strings.HasSuffix(raw, "Z") {
			t.Fatalf("lease_expires_at %q: want RFC 3339 in UTC (%v)", raw, err)
		}
		expire := leaseExpireTime(t, v, s.LeaseID)
		if !sameSecond(end, expire) {
			t.Errorf("lease_expires_at %s, vault lease lookup's expire_time %s", raw, expire.Format(time.RFC3339Nano))
		}
		if ttl := time.Duration(s.LeaseDuration) * time.Second; !wantTTL(ttl) {
			t.Errorf("lease duration %s", ttl)
		}
		t.Logf("lease %s: lease_duration %ds, lease_expires_at %s, expire_time %s", s.LeaseID, s.LeaseDuration, raw, expire.Format(time.RFC3339Nano))
	}
	t.Run("default max", func(t *testing.T) {
		check(t, func(ttl time.Duration) bool { return ttl > 50*time.Minute && ttl <= 55*time.Minute })
	})
	t.Run("max_lease_ttl 10m", func(t *testing.T) {
		if err := v.Client.Sys().TuneMount("github", api.MountConfigInput{MaxLeaseTTL: "10m"}); err != nil {
			t.Fatal(err)
		}
		check(t, func(ttl time.Duration) bool { return ttl == 10*time.Minute })
		if err := v.Client.Sys().TuneMount("github", api.MountConfigInput{MaxLeaseTTL: "system"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("agent", func(t *testing.T) { agentValidUntilFixed(t, v, d) })
}

// agentValidUntilFixed runs an Agent that renders credentials.json.ctmpl as
// shipped, the same template with the old validUntil (render time +
// .LeaseDuration), and a second role's token whose 5 s lease Agent reads
// again every few seconds: each of those reads renders every template
// again, while role r's token stays the same.
func agentValidUntilFixed(t *testing.T, v *vaultServer, d *githubtest.Server) {
	v.writeRole(t, "github", "ticker", map[string]any{"owner": "acme", "repositories": "gadgets", "ttl": "5s"})
	if err := v.Client.Sys().PutPolicy("lease-end", `path "github/token/r" { capabilities = ["read"] }
path "github/token/ticker" { capabilities = ["read"] }
`); err != nil {
		t.Fatal(err)
	}
	roleID, secretID := v.approle(t, "lease-end", "lease-end")
	// Only the Agent's lease of role r exists from here on.
	if err := v.Client.Sys().RevokePrefix("github/token/r/"); err != nil {
		t.Fatal(err)
	}

	const (
		selector = `(printf "github/token/%s" (env "GITHUB_ROLE"))`
		shipped  = `.Data.lease_expires_at | sprig_mustToDate "2006-01-02T15:04:05Z07:00" | sprig_unixEpoch`
		before   = `timestamp "unix" | parseInt | add .LeaseDuration | add -1`
	)
	tmpl := readExample(t, "runner", "credentials.json.ctmpl")
	if !strings.Contains(tmpl, selector) || !strings.Contains(tmpl, shipped) {
		t.Fatalf("credentials.json.ctmpl no longer reads %s or no longer computes validUntil as %s", selector, shipped)
	}
	tmpl = strings.Replace(tmpl, selector, `"github/token/r"`, 1)
	dir := t.TempDir()
	creds, oldCreds, ticker := filepath.Join(dir, "credentials.json"), filepath.Join(dir, "old.json"), filepath.Join(dir, "ticker")
	a := startAgent(t, agentOptions{
		Vault: v, RoleID: roleID, SecretID: secretID,
		Templates: []agentTemplate{
			{Contents: tmpl, Destination: creds},
			{Contents: strings.Replace(tmpl, shipped, before, 1), Destination: oldCreds},
			{Contents: `{{ with secret "github/token/ticker" }}{{ .Data.token }}{{ end }}`, Destination: ticker},
		},
	})

	read := func(path string) (credentialsJSON, bool) {
		raw, err := readTrimmed(path)
		if err != nil {
			t.Fatal(err)
		}
		var c credentialsJSON
		if raw == "" || json.Unmarshal([]byte(raw), &c) != nil {
			return c, false // not rendered yet, or caught mid-write
		}
		return c, true
	}
	type seen struct{ tokens, until map[string]bool }
	shippedSeen := seen{map[string]bool{}, map[string]bool{}}
	oldSeen := seen{map[string]bool{}, map[string]bool{}}
	tickers := map[string]bool{}
	var validUntil int64
	// Wait for Agent to read the ticker's token three times after the
	// first (each read renders the other templates again).
	waitUntil(t, time.Now().Add(2*time.Minute), 200*time.Millisecond, func() (bool, string) {
		if a.proc.exited() {
			t.Fatalf("vault agent exited: %v", a.proc.err)
		}
		tick, err := readTrimmed(ticker)
		if err != nil {
			t.Fatal(err)
		}
		c, ok1 := read(creds)
		o, ok2 := read(oldCreds)
		if tick == "" || !ok1 || !ok2 {
			return false, "the templates are not rendered yet"
		}
		tickers[tick] = true
		shippedSeen.tokens[c.Token], shippedSeen.until[fmt.Sprint(c.ValidUntil)] = true, true
		oldSeen.tokens[o.Token], oldSeen.until[fmt.Sprint(o.ValidUntil)] = true, true
		validUntil = c.ValidUntil
		return len(tickers) >= 4, fmt.Sprintf("the ticker's token was read %d times, want 4", len(tickers))
	})
	a.stop(t)

	if len(shippedSeen.tokens) != 1 || len(oldSeen.tokens) != 1 {
		t.Fatalf("role r's token changed during the test (%d, %d tokens): the case tests nothing", len(shippedSeen.tokens), len(oldSeen.tokens))
	}
	if len(oldSeen.until) < 2 {
		t.Errorf("the old template's validUntil did not move across %d renders (%v): the case does not reproduce the drift", len(tickers), oldSeen.until)
	}
	if len(shippedSeen.until) != 1 {
		t.Errorf("credentials.json's validUntil moved while its token stayed the same: %v", shippedSeen.until)
	}
	leases, err := v.Client.Logical().List("sys/leases/lookup/github/token/r/")
	if err != nil || leases == nil {
		t.Fatalf("listing role r's leases: %v", err)
	}
	keys, _ := leases.Data["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("role r has %d leases, want the Agent's one", len(keys))
	}
	expire := leaseExpireTime(t, v, "github/token/r/"+fmt.Sprint(keys[0]))
	if until := time.Unix(validUntil, 0).UTC(); !sameSecond(until, expire) {
		t.Errorf("credentials.json validUntil %s, the lease's expire_time %s", until.Format(time.RFC3339), expire.Format(time.RFC3339Nano))
	}
	for tok := range shippedSeen.tokens {
		if !lookupToken(t, d, tok).Live(time.Now()) {
			t.Errorf("the rendered token %s is not live", github.HashToken(tok))
		}
	}
	t.Logf("%d renders of the ticker: credentials.json kept validUntil %d (%s, the lease's expire_time %s); the old template's moved through %d values",
		len(tickers), validUntil, time.Unix(validUntil, 0).UTC().Format(time.RFC3339), expire.Format(time.RFC3339Nano), len(oldSeen.until))
}
