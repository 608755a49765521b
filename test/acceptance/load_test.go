//go:build acceptance

package acceptance

import (
	"encoding/json"
	"errors"
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

// loadRounds is how many times the floor, by-id and kv-v1 runs alternate
// (LOAD_ROUNDS, default 3).
func loadRounds(t testing.TB) int {
	t.Helper()
	n := 3
	if s := os.Getenv("LOAD_ROUNDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("LOAD_ROUNDS: %q", s)
		}
	}
	return n
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

// add pools o into r: the requests, errors and latencies of both runs over
// their summed time.
func (r *loadResult) add(o loadResult) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Elapsed += o.Elapsed
	r.Latencies = append(r.Latencies, o.Latencies...)
	slices.Sort(r.Latencies)
	if r.ErrorKind == nil {
		r.ErrorKind = map[string]int{}
	}
	for k, n := range o.ErrorKind {
		r.ErrorKind[k] += n
	}
}

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
	FloorRate      float64 // 0: not measured in this Vault
	JWTsPer1000    float64
	Workers        int
	DurationPerRun time.Duration
}

// TestLoadThroughVault measures minting through a real Vault server: an
// installation_id role and an owner role among 100 installations, with the
// double answering at once and after 50 ms. Next to them, in the same
// Vault with the same clients: the kv-v1 read throughput (the engine a
// static token would live in) and the floor, an external plugin built and
// served like this one whose read issues a lease and calls nothing
// (test/floorplugin). With the double answering at once, kv-v1, the floor
// and by-id run LOAD_ROUNDS times back to back, in a rotating order, and
// each round's by-id ÷ floor is reported, so that the noise of a shared
// machine shows as a spread. It asserts what is not timing: no errors, one
// GitHub call per token in steady state, no App JWT signed per token.
func TestLoadThroughVault(t *testing.T) {
	workers, d, nRounds := loadWorkers(t), loadDuration(t), loadRounds(t)
	floorSHA := buildFloorPlugin(t)
	var rows []benchRow
	var rounds []floorRound
	var cpuRows map[string]*cpuUse
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
		ops := map[string]func(c *api.Client) error{
			"kv-v1": func(c *api.Client) error {
				_, err := c.Logical().Read("kv/bench")
				return err
			},
			"by-id": func(c *api.Client) error {
				_, err := tryMint(c, "github/token/by-id", nil)
				return err
			},
			"by-owner": func(c *api.Client) error {
				_, err := tryMint(c, "github/token/by-owner", nil)
				return err
			},
		}
		// The floor is measured where it means something: with GitHub
		// answering at once. With 50 ms of latency the clients wait.
		order, n := []string{"kv-v1", "by-id"}, 1
		pluginOf := map[string]string{"by-id": pluginName}
		if latency == 0 {
			v.enableFloor(t, floorSHA)
			ops["floor"] = func(c *api.Client) error {
				s, err := c.Logical().Read("floor/token/bench")
				if err != nil {
					return err
				}
				if s == nil || s.LeaseID == "" {
					return errors.New("floor: no lease in the answer")
				}
				// The floor carries a token of the engine's size.
				if tok, _ := s.Data["token"].(string); len(tok) != githubtest.TokenLength {
					return fmt.Errorf("floor: a token of %d characters, want %d", len(tok), githubtest.TokenLength)
				}
				return nil
			}
			order, n = []string{"kv-v1", "floor", "by-id"}, nRounds
			pluginOf["floor"] = floorPluginName
		}
		dbl.SetLatency(latency)
		for _, role := range []string{"by-id", "by-owner"} {
			mint(t, v.Client, "github/token/"+role) // warm: client, JWT, installation lookup
		}

		// kv-v1, the floor and by-id alternate; by-id is the only one that
		// calls GitHub, so the calls seen meanwhile are its own.
		pooled := map[string]*loadResult{}
		cpu := map[string]*cpuUse{}
		dbl.ResetCalls()
		jwtsBefore := len(dbl.JWTsSeen())
		for r := range n {
			rate := map[string]float64{}
			var ran []string
			for i := range order {
				name := order[(i+r)%len(order)]
				profile := ""
				if latency == 0 {
					profile = fmt.Sprintf("%s-%d", name, r+1)
				}
				if cpu[name] == nil {
					cpu[name], pooled[name] = &cpuUse{}, &loadResult{}
				}
				res := measuredRun(t, v, workers, d, ops[name], pluginOf[name], profile, cpu[name])
				if res.Errors != 0 && name != "by-id" { // by-id's are counted below
					t.Errorf("%s: %d of %d requests failed: %v", name, res.Errors, res.Requests, res.ErrorKind)
				}
				pooled[name].add(res)
				rate[name] = res.rate()
				ran = append(ran, name)
			}
			if latency == 0 {
				rounds = append(rounds, newFloorRound(t, r+1, ran, rate))
			}
		}
		kvRate, floorRate := pooled["kv-v1"].rate(), 0.0
		if f := pooled["floor"]; f != nil {
			floorRate = f.rate()
		}
		byID := *pooled["by-id"]
		rows = append(rows, checkRow(t, dbl, benchRow{
			Scenario: "by-id", Latency: latency, Result: byID, KVRate: kvRate, FloorRate: floorRate, Workers: workers, DurationPerRun: d,
		}, jwtsBefore))

		dbl.ResetCalls()
		jwtsBefore = len(dbl.JWTsSeen())
		res := runLoad(t, v, workers, d, ops["by-owner"])
		rows = append(rows, checkRow(t, dbl, benchRow{
			Scenario: "by-owner", Latency: latency, Result: res, KVRate: kvRate, FloorRate: floorRate, Workers: workers, DurationPerRun: d,
		}, jwtsBefore))
		if latency == 0 {
			cpuRows = cpu
		}
		v.stop(t) // thousands of unexpired leases: no need to revoke them one by one
	}
	writeReport(t, "through-vault.md", rows)
	writeFloorReport(t, "floor.md", rounds, cpuRows, workers, d)
}

// checkRow completes row with the double's count of GitHub calls and App
// JWTs since they were reset (jwtsBefore), logs it and checks what is not
// timing: no errors, one GitHub call per token.
func checkRow(t testing.TB, dbl *githubtest.Server, row benchRow, jwtsBefore int) benchRow {
	t.Helper()
	res := row.Result
	tokens := res.Requests - res.Errors
	row.CallsPerToken = float64(len(dbl.Calls())) / float64(tokens)
	row.JWTsPer1000 = float64(len(dbl.JWTsSeen())-jwtsBefore) * 1000 / float64(tokens)
	floor := ""
	if row.FloorRate > 0 {
		floor = fmt.Sprintf(", floor %.0f/s (%.1f%%)", row.FloorRate, 100*res.rate()/row.FloorRate)
	}
	t.Logf("%s latency=%s: %d tokens in %s = %.0f/s, p50 %s p99 %s, %.3f GitHub calls/token, kv-v1 %.0f/s (%.1f%%)%s",
		row.Scenario, row.Latency, tokens, res.Elapsed.Round(time.Millisecond), res.rate(), res.quantile(0.5), res.quantile(0.99),
		row.CallsPerToken, row.KVRate, 100*res.rate()/row.KVRate, floor)
	if res.Errors != 0 {
		t.Errorf("%s: %d of %d requests failed: %v", row.Scenario, res.Errors, res.Requests, res.ErrorKind)
	}
	if calls := len(dbl.Calls()); calls != tokens {
		t.Errorf("%s: %d GitHub calls for %d tokens, want one each", row.Scenario, calls, tokens)
	}
	return row
}

func writeReport(t testing.TB, name string, rows []benchRow) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "| role | GitHub latency | tokens/s | p50 | p99 | GitHub calls/token | JWTs signed/1000 tokens | kv-v1 reads/s | tokens/s ÷ kv-v1 | floor reads/s | tokens/s ÷ floor |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		floor, perFloor := "–", "–"
		if r.FloorRate > 0 {
			floor, perFloor = fmt.Sprintf("%.0f", r.FloorRate), fmt.Sprintf("%.1f%%", 100*r.Result.rate()/r.FloorRate)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %.3f | %.2f | %.0f | %.1f%% | %s | %s |\n",
			r.Scenario, r.Latency, r.Result.rate(), r.Result.quantile(0.5).Round(100*time.Microsecond), r.Result.quantile(0.99).Round(100*time.Microsecond),
			r.CallsPerToken, r.JWTsPer1000, r.KVRate, 100*r.Result.rate()/r.KVRate, floor, perFloor)
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
