//go:build acceptance

package acceptance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// Load runs are bounded in time (LOAD_DURATION, default 3s per scenario) and
// send traffic only to Vault on 127.0.0.1. CI runs them short to prove they
// work; `make bench` runs them longer and writes the figures to
// docs/benchmarks.md (LOAD_REPORT names a directory the tables go to).

func loadDuration(t testing.TB) time.Duration {
	t.Helper()
	d := 3 * time.Second
	if s := os.Getenv("LOAD_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("LOAD_DURATION: %v", err)
		}
	}
	return d
}

func loadWorkers(t testing.TB) int {
	t.Helper()
	n := 8
	if s := os.Getenv("LOAD_WORKERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("LOAD_WORKERS: %q", s)
		}
	}
	return n
}

// loadResult is what one load run measured.
type loadResult struct {
	Requests  int
	Errors    int
	Elapsed   time.Duration
	Latencies []time.Duration // of successful requests, sorted
	ErrorKind map[string]int
}

func (r loadResult) rate() float64 { return float64(r.Requests-r.Errors) / r.Elapsed.Seconds() }

func (r loadResult) quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[min(len(r.Latencies)-1, int(q*float64(len(r.Latencies))))]
}

// runLoad has `workers` clients (each with its own connection pool and
// token) call op in a loop for d. Every loop is bounded by the deadline and
// by maxRequests.
func runLoad(t testing.TB, v *vaultServer, workers int, d time.Duration, op func(c *api.Client) error) loadResult {
	t.Helper()
	const maxRequests = 2_000_000
	clients := make([]*api.Client, workers)
	for i := range clients {
		clients[i] = v.newClient(t, v.RootToken)
	}
	var (
		mu    sync.Mutex
		res   = loadResult{ErrorKind: map[string]int{}}
		wg    sync.WaitGroup
		count int
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, c := range clients {
		wg.Go(func() {
			var lat []time.Duration
			errs, n := map[string]int{}, 0
			for time.Now().Before(deadline) {
				mu.Lock()
				count++
				stop := count > maxRequests
				mu.Unlock()
				if stop {
					break
				}
				t0 := time.Now()
				err := op(c)
				n++
				if err != nil {
					errs[errorKind(err)]++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.Requests += n
			res.Latencies = append(res.Latencies, lat...)
			for k, e := range errs {
				res.ErrorKind[k] += e
				res.Errors += e
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(res.Latencies)
	return res
}

func errorKind(err error) string {
	if s := statusOf(err); s != 0 {
		return fmt.Sprintf("HTTP %d", s)
	}
	msg := err.Error()
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return msg
}

// benchRow is one line of the report.
type benchRow struct {
	Scenario       string
	Latency        time.Duration // injected GitHub latency
	Result         loadResult
	CallsPerToken  float64
	KVRate         float64
	JWTsPer1000    float64
	Workers        int
	DurationPerRun time.Duration
}

// TestLoadThroughVault measures minting through a real Vault server: an
// installation_id role and an owner role among 100 installations, with the
// double answering at once and after 50 ms, next to the same Vault's kv-v1
// read throughput as the ceiling. It asserts what is not timing: no errors,
// one GitHub call per token in steady state, no App JWT signed per token.
func TestLoadThroughVault(t *testing.T) {
	workers, d := loadWorkers(t), loadDuration(t)
	var rows []benchRow
	for _, latency := range []time.Duration{0, 50 * time.Millisecond} {
		dbl := newDouble(t)
		for i := range 99 {
			dbl.AddInstallation(fmt.Sprintf("org-%04d", i), "Organization", "repo")
		}
		v := startVault(t, vaultOptions{LogLevel: "warn"})
		v.enableEngine(t, "github")
		v.configureEngine(t, "github", dbl, nil)
		v.writeRole(t, "github", "by-id", map[string]any{"installation_id": githubtest.FirstInstallationID}) // acme, added first by newDouble
		v.writeRole(t, "github", "by-owner", map[string]any{"owner": "org-0042"})
		if err := v.Client.Sys().Mount("kv", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Client.Logical().Write("kv/bench", map[string]any{"value": "x"}); err != nil {
			t.Fatal(err)
		}
		kv := runLoad(t, v, workers, d, func(c *api.Client) error {
			_, err := c.Logical().Read("kv/bench")
			return err
		})
		if kv.Errors != 0 {
			t.Fatalf("kv-v1 reads failed: %v", kv.ErrorKind)
		}
		dbl.SetLatency(latency)
		for _, role := range []string{"by-id", "by-owner"} {
			path := "github/token/" + role
			mint(t, v.Client, path) // warm: client, JWT, installation lookup
			dbl.ResetCalls()
			jwtsBefore := len(dbl.JWTsSeen())
			res := runLoad(t, v, workers, d, func(c *api.Client) error {
				_, err := tryMint(c, path, nil)
				return err
			})
			tokens := res.Requests - res.Errors
			row := benchRow{
				Scenario: role, Latency: latency, Result: res, KVRate: kv.rate(), Workers: workers, DurationPerRun: d,
				CallsPerToken: float64(len(dbl.Calls())) / float64(tokens),
				JWTsPer1000:   float64(len(dbl.JWTsSeen())-jwtsBefore) * 1000 / float64(tokens),
			}
			rows = append(rows, row)
			t.Logf("%s latency=%s: %d tokens in %s = %.0f/s, p50 %s p99 %s, %.3f GitHub calls/token, kv-v1 %.0f/s (%.1f%%)",
				role, latency, tokens, res.Elapsed.Round(time.Millisecond), res.rate(), res.quantile(0.5), res.quantile(0.99),
				row.CallsPerToken, kv.rate(), 100*res.rate()/kv.rate())
			if res.Errors != 0 {
				t.Errorf("%s: %d of %d requests failed: %v", role, res.Errors, res.Requests, res.ErrorKind)
			}
			if calls := len(dbl.Calls()); calls != tokens {
				t.Errorf("%s: %d GitHub calls for %d tokens, want one each", role, calls, tokens)
			}
		}
		v.stop(t) // thousands of unexpired leases: no need to revoke them one by one
	}
	writeReport(t, "through-vault.md", rows)
}

func writeReport(t testing.TB, name string, rows []benchRow) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "| role | GitHub latency | tokens/s | p50 | p99 | GitHub calls/token | JWTs signed/1000 tokens | kv-v1 reads/s | tokens/s ÷ kv-v1 |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %.3f | %.2f | %.0f | %.1f%% |\n",
			r.Scenario, r.Latency, r.Result.rate(), r.Result.quantile(0.5).Round(100*time.Microsecond), r.Result.quantile(0.99).Round(100*time.Microsecond),
			r.CallsPerToken, r.JWTsPer1000, r.KVRate, 100*r.Result.rate()/r.KVRate)
	}
	if len(rows) > 0 {
		fmt.Fprintf(&b, "\n%d concurrent clients, %s per run.\n", rows[0].Workers, rows[0].DurationPerRun)
	}
	report(t, name, b.String())
}

// report writes a table into the LOAD_REPORT directory, when one is set.
func report(t testing.TB, name, text string) {
	t.Helper()
	dir := os.Getenv("LOAD_REPORT")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadWithGitHubFaults mints under load while the double answers 10% of
// requests with 503 and 2% with 429 (Retry-After 1s). Nothing may be lost or
// leaked: every token the double issued has a Vault lease or was revoked,
// every lease's token is live at the double, and after
// `vault lease revoke -prefix` nothing is live.
func TestLoadWithGitHubFaults(t *testing.T) {
	workers, d := loadWorkers(t), loadDuration(t)
	dbl := newDouble(t)
	v := startVault(t, vaultOptions{LogLevel: "info", ExtraConfig: "raw_storage_endpoint = true\n"})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", dbl, nil)
	v.writeRole(t, "github", "load", map[string]any{"owner": "acme", "repositories": "widgets"})

	dbl.SetFailureRate(0.10, 503)
	dbl.SetRateLimitRate(0.02, time.Second)
	var mu sync.Mutex
	seen := map[string]string{} // token -> lease id, as clients saw them
	res := runLoad(t, v, workers, d, func(c *api.Client) error {
		m, err := tryMint(c, "github/token/load", nil)
		if err == nil {
			mu.Lock()
			seen[m.Data.Token] = m.LeaseID
			mu.Unlock()
		}
		return err
	})
	faults := dbl.Faults()
	dbl.ResetFaults()
	t.Logf("fault run: %d requests, %d client-visible errors (%.2f%%) %v; double injected %d 5xx and %d rate limits; %d tokens issued",
		res.Requests, res.Errors, 100*float64(res.Errors)/float64(res.Requests), res.ErrorKind, faults.Injected5xx, faults.InjectedRateLimits, len(dbl.Tokens()))
	if faults.Injected5xx == 0 || faults.InjectedRateLimits == 0 {
		t.Fatalf("no faults were injected: %+v", faults)
	}

	// Map every lease to its token through Vault's own lease entries.
	leaseTokens := leasesByToken(t, v, "github/token/load/")
	live := map[string]bool{}
	for _, tok := range dbl.LiveTokens() {
		live[tok.Value] = true
	}
	for _, tok := range dbl.Tokens() {
		if _, leased := leaseTokens[tok.Value]; !leased && tok.RevokedAt.IsZero() {
			t.Errorf("token %s was issued by the double but has no lease and was not revoked", hashOf(tok.Value))
		}
	}
	for tok := range leaseTokens {
		if !live[tok] {
			t.Errorf("a lease holds token %s, which is not live at the double", hashOf(tok))
		}
	}
	for tok, lease := range seen {
		if leaseTokens[tok] != lease {
			t.Errorf("client got token %s with lease %s; Vault's lease for it is %q", hashOf(tok), lease, leaseTokens[tok])
		}
	}
	t.Logf("tokens issued %d, leases %d, live at double %d, seen by clients %d", len(dbl.Tokens()), len(leaseTokens), len(live), len(seen))
	issued, leases, liveBefore := len(dbl.Tokens()), len(leaseTokens), len(live)

	if out, err := v.cli(nil, "lease", "revoke", "-prefix", "github/token/"); err != nil {
		t.Fatalf("lease revoke -prefix: %v: %s", err, out)
	}
	waitUntil(t, time.Now().Add(2*time.Minute), 200*time.Millisecond, func() (bool, string) {
		n := len(dbl.LiveTokens())
		return n == 0, fmt.Sprintf("%d tokens still live after revoke -prefix", n)
	})
	if n := len(leasesByToken(t, v, "github/token/load/")); n != 0 {
		t.Fatalf("%d leases left after revoke -prefix", n)
	}
	report(t, "faults.md", fmt.Sprintf("| requests | client-visible errors | injected 503s | injected 429s | tokens issued | leases | live at double | live after revoke -prefix |\n|---|---|---|---|---|---|---|---|\n| %d | %d (%.2f%%) | %d | %d | %d | %d | %d | %d |\n\n%d concurrent clients, %s.\n",
		res.Requests, res.Errors, 100*float64(res.Errors)/float64(res.Requests), faults.Injected5xx, faults.InjectedRateLimits,
		issued, leases, liveBefore, len(dbl.LiveTokens()), workers, d))
}

// leasesByToken reads every lease under prefix from Vault's raw storage and
// returns token -> lease id.
func leasesByToken(t testing.TB, v *vaultServer, prefix string) map[string]string {
	t.Helper()
	s, err := v.Client.Logical().List("sys/leases/lookup/" + strings.TrimSuffix(prefix, "/"))
	if err != nil {
		t.Fatalf("listing leases: %v", err)
	}
	out := map[string]string{}
	if s == nil {
		return out
	}
	keys, _ := s.Data["keys"].([]any)
	for _, k := range keys {
		id := prefix + k.(string)
		raw, err := v.Client.Logical().Read("sys/raw/sys/expire/id/" + id)
		if err != nil || raw == nil {
			t.Fatalf("reading lease entry %s: %v", id, err)
		}
		var entry struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(raw.Data["value"].(string)), &entry); err != nil {
			t.Fatalf("decoding lease entry %s: %v", id, err)
		}
		tok, _ := entry.Data["token"].(string)
		if tok == "" {
			t.Fatalf("lease entry %s holds no token", id)
		}
		out[tok] = id
	}
	return out
}

// hashOf names a token in test output the way GitHub's audit log does.
func hashOf(token string) string { return github.HashToken(token) }

// TestLeaseEntrySize measures what Vault stores for one lease of a role with
// 500 repositories (GitHub's limit): the lease entry read from raw storage
// must stay under 100 bytes per repository. GitHub's answer carries a full
// repository object per repository; the engine keeps names only.
func TestLeaseEntrySize(t *testing.T) {
	t.Parallel()
	dbl := newDouble(t)
	repos := make([]string, 500)
	for i := range repos {
		repos[i] = fmt.Sprintf("service-repository-%03d", i)
	}
	big := dbl.AddInstallation("bigorg", "Organization", repos...)
	v := startVault(t, vaultOptions{ExtraConfig: "raw_storage_endpoint = true\n"})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", dbl, nil)
	v.writeRole(t, "github", "big", map[string]any{"installation_id": big.ID, "repositories": strings.Join(repos, ",")})
	m := mint(t, v.Client, "github/token/big")
	if len(m.Data.Repositories) != 500 {
		t.Fatalf("token covers %d repositories", len(m.Data.Repositories))
	}
	raw, err := v.Client.Logical().Read("sys/raw/sys/expire/id/" + m.LeaseID)
	if err != nil || raw == nil {
		t.Fatalf("reading the lease entry: %v", err)
	}
	size := len(raw.Data["value"].(string))
	perRepo := float64(size) / 500
	t.Logf("lease entry for 500 repositories: %d bytes, %.1f bytes per repository", size, perRepo)
	report(t, "lease-size.md", fmt.Sprintf("A lease of a role with 500 repositories: Vault's lease entry (read from `sys/raw/sys/expire/id/<lease>`) is %d bytes, %.1f bytes per repository.\n", size, perRepo))
	if perRepo >= 100 {
		t.Fatalf("lease entry %d bytes = %.1f bytes per repository, want < 100", size, perRepo)
	}
}
