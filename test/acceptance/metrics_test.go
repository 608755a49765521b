//go:build acceptance

package acceptance

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// metricsJSON is github/metrics read as JSON.
type metricsJSON struct {
	TokensMinted       int64                       `json:"tokens_minted"`
	TokensFailed       map[string]int64            `json:"tokens_failed"`
	TokensRevoked      int64                       `json:"tokens_revoked"`
	RevocationsFailed  int64                       `json:"revocations_failed"`
	CacheHits          int64                       `json:"installation_cache_hits"`
	CacheMisses        int64                       `json:"installation_cache_misses"`
	GitHubCalls        map[string]githubCallStats  `json:"github_calls"`
	RateLimitRemaining map[string]map[string]int64 `json:"github_rate_limit_remaining"` // spender → resource → remaining
}

type githubCallStats struct {
	Count        int64   `json:"count"`
	TotalSeconds float64 `json:"total_seconds"`
	MaxSeconds   float64 `json:"max_seconds"`
}

func readMetricsJSON(t testing.TB, c *api.Client, mount string) metricsJSON {
	t.Helper()
	s, err := c.Logical().Read(mount + "/metrics")
	if err != nil || s == nil {
		t.Fatalf("reading %s/metrics: %v", mount, err)
	}
	raw, err := json.Marshal(s.Data)
	if err != nil {
		t.Fatal(err)
	}
	var m metricsJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s/metrics: %v\n%s", mount, err, raw)
	}
	return m
}

// getPrometheus is a plain GET of /v1/<mount>/metrics?format=prometheus,
// as a scraper with a Vault token would do it.
func getPrometheus(t testing.TB, v *vaultServer, mount, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, v.Addr+"/v1/"+mount+"/metrics?format=prometheus", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// promLine is one sample line of the Prometheus text format.
var promLine = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? -?[0-9.eE+-]+$`)

// TestMetrics: after three mints, a narrowing refusal, a revocation and a
// GitHub 429, github/metrics (the engine's counters; an external plugin
// cannot feed sys/metrics) reports exactly those, as JSON through the API
// and in the Prometheus text format through a plain GET with
// X-Vault-Token. It is an ordinary ACL-guarded path: no token, or a token
// without a policy for it, gets 403; a scrape-only policy reads it and
// nothing else. Vault's own sys/metrics (telemetry with
// disable_hostname) carries Vault's per-mount metrics for the engine's
// requests: vault.route.read.github- and vault.secret.lease.creation with
// mount_point github/.
func TestMetrics(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{ExtraConfig: "telemetry {\n  disable_hostname = true\n}\n"})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "web", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read"})
	c := v.newClient(t, v.RootToken)
	c.SetMaxRetries(0)

	base := readMetricsJSON(t, c, "github")
	if base.TokensMinted != 0 || base.TokensRevoked != 0 || len(base.TokensFailed) != 0 {
		t.Fatalf("metrics before any mint: %+v", base)
	}

	var minted []mintedToken
	for range 3 {
		minted = append(minted, mint(t, c, "github/token/web"))
	}
	if _, err := c.Logical().Write("github/token/web", map[string]any{"repositories": "tools"}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("narrowing beyond the role: %v, want 403", err)
	}
	if err := c.Sys().Revoke(minted[0].LeaseID); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, d, minted[0].Data.Token, time.Now().Add(15*time.Second))
	d.RateLimitNext(1, http.StatusTooManyRequests, time.Minute)
	if _, err := c.Logical().Read("github/token/web"); statusOf(err) != http.StatusBadGateway {
		t.Fatalf("minting into a 429: %v, want 502", err)
	}
	d.ResetFaults()

	// JSON, through the API.
	m := readMetricsJSON(t, c, "github")
	t.Logf("github/metrics: minted %d, failed %v, revoked %d, revocations failed %d, cache hits %d misses %d, rate limit remaining %v",
		m.TokensMinted, m.TokensFailed, m.TokensRevoked, m.RevocationsFailed, m.CacheHits, m.CacheMisses, m.RateLimitRemaining)
	for _, k := range slices.Sorted(maps.Keys(m.GitHubCalls)) {
		t.Logf("github/metrics: github_calls[%q] = %+v", k, m.GitHubCalls[k])
	}
	if m.TokensMinted != 3 {
		t.Errorf("tokens_minted %d, want 3", m.TokensMinted)
	}
	if want := map[string]int64{"denied": 1, "rate_limited": 1}; fmt.Sprint(m.TokensFailed) != fmt.Sprint(want) {
		t.Errorf("tokens_failed %v, want %v", m.TokensFailed, want)
	}
	if m.TokensRevoked != 1 || m.RevocationsFailed != 0 {
		t.Errorf("tokens_revoked %d, revocations_failed %d, want 1 and 0", m.TokensRevoked, m.RevocationsFailed)
	}
	// Four installation lookups (three mints, the rate-limited one); the
	// refused narrowing never got that far.
	if m.CacheHits+m.CacheMisses != 4 || m.CacheMisses < 1 {
		t.Errorf("installation cache hits %d, misses %d, want 4 lookups, the first a miss", m.CacheHits, m.CacheMisses)
	}
	const mintEndpoint = "POST /app/installations/{id}/access_tokens"
	for key, want := range map[string]int64{mintEndpoint + " 201": 3, mintEndpoint + " 429": 1, "DELETE /installation/token 204": 1} {
		if got := m.GitHubCalls[key]; got.Count != want || got.TotalSeconds <= 0 || got.MaxSeconds <= 0 {
			t.Errorf("github_calls[%q] = %+v, want count %d and non-zero times", key, got, want)
		}
	}
	// The App's budget (JWT calls) and the installation's (revocations with
	// the token) are kept apart; the App's may be 0 after the injected 429.
	if _, ok := m.RateLimitRemaining["app"]["core"]; !ok || m.RateLimitRemaining["installation"]["core"] <= 0 {
		t.Errorf("github_rate_limit_remaining %v: want app/core and a positive installation/core", m.RateLimitRemaining)
	}

	// Prometheus text, a plain GET with the token in X-Vault-Token.
	resp, body := getPrometheus(t, v, "github", v.RootToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET ?format=prometheus: HTTP %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	t.Logf("GET /v1/github/metrics?format=prometheus: Content-Type %q, %d lines", resp.Header.Get("Content-Type"), strings.Count(body, "\n"))
	for _, want := range []string{
		"# TYPE github_app_tokens_minted_total counter\n",
		"\n" + `github_app_tokens_minted_total{app="default"} 3` + "\n",
		"\n" + `github_app_tokens_revoked_total{app="default"} 1` + "\n",
		"\n" + `github_app_revocations_failed_total{app="default"} 0` + "\n",
		"\n" + `github_app_tokens_failed_total{app="default",reason="denied"} 1` + "\n",
		"\n" + `github_app_tokens_failed_total{app="default",reason="rate_limited"} 1` + "\n",
		"\n" + `github_app_github_calls_total{app="default",endpoint="POST /app/installations/{id}/access_tokens",status="201"} 3` + "\n",
		"\n" + `github_app_github_calls_total{app="default",endpoint="POST /app/installations/{id}/access_tokens",status="429"} 1` + "\n",
		"\n" + `github_app_github_calls_total{app="default",endpoint="DELETE /installation/token",status="204"} 1` + "\n",
		"# TYPE github_app_rate_limit_remaining gauge\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("Prometheus output lacks %q", strings.TrimSpace(want))
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if !strings.HasPrefix(l, "# HELP ") && !strings.HasPrefix(l, "# TYPE ") && !promLine.MatchString(l) {
			t.Errorf("not a Prometheus text line: %q", l)
		}
	}
	if strings.Contains(body, "ghs_") {
		t.Error("the Prometheus output contains a token")
	}

	// ACL: no unauthenticated endpoint; a token without a policy for
	// github/metrics is refused; a scrape-only policy reads it.
	if resp, _ := getPrometheus(t, v, "github", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET without a token: HTTP %d, want 403", resp.StatusCode)
	}
	minter := v.tokenWithPolicy(t, "web-minter", `path "github/token/web" { capabilities = ["read"] }`)
	minter.SetMaxRetries(0)
	if _, err := minter.Logical().Read("github/metrics"); statusOf(err) != http.StatusForbidden {
		t.Errorf("reading github/metrics without a policy for it: %v, want 403", err)
	}
	if resp, _ := getPrometheus(t, v, "github", minter.Token()); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET ?format=prometheus without a policy for it: HTTP %d, want 403", resp.StatusCode)
	}
	scraper := v.tokenWithPolicy(t, "metrics-scraper", `path "github/metrics" { capabilities = ["read"] }`)
	scraper.SetMaxRetries(0)
	if resp, body := getPrometheus(t, v, "github", scraper.Token()); resp.StatusCode != http.StatusOK || !strings.Contains(body, `github_app_tokens_minted_total{app="default"} 3`+"\n") {
		t.Errorf("GET ?format=prometheus with a scrape-only policy: HTTP %d", resp.StatusCode)
	}
	if _, err := scraper.Logical().Read("github/token/web"); statusOf(err) != http.StatusForbidden {
		t.Errorf("the scraper minting: %v, want 403", err)
	}
	if _, err := c.Logical().ReadWithData("github/metrics", map[string][]string{"format": {"xml"}}); statusOf(err) != http.StatusBadRequest {
		t.Errorf("format=xml: %v, want 400", err)
	}

	// Vault's own telemetry, `vault read sys/metrics`. Its in-memory sink
	// keeps 10 s intervals and shows the last finished one (the current
	// one while it is the only one), so after a mint poll until that
	// interval shows, for at most three intervals.
	type vaultMetric struct {
		Name   string
		Labels map[string]string
	}
	mint(t, c, "github/token/web")
	var found map[string]vaultMetric
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := v.cli(nil, "read", "-format=json", "sys/metrics")
		if err != nil {
			t.Fatalf("vault read sys/metrics: %v: %s", err, out)
		}
		var doc struct {
			Data struct {
				Counters, Gauges, Samples []vaultMetric
			}
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("vault read sys/metrics: %v", err)
		}
		found = map[string]vaultMetric{}
		for kind, list := range map[string][]vaultMetric{"counter": doc.Data.Counters, "gauge": doc.Data.Gauges, "sample": doc.Data.Samples} {
			for _, vm := range list {
				if strings.Contains(vm.Name, "github") || vm.Labels["mount_point"] == "github/" {
					found[kind+" "+vm.Name+" "+fmt.Sprint(vm.Labels)] = vm
				}
			}
		}
		route := slices.ContainsFunc(slices.Collect(maps.Values(found)), func(vm vaultMetric) bool { return vm.Name == "vault.route.read.github-" })
		lease := slices.ContainsFunc(slices.Collect(maps.Values(found)), func(vm vaultMetric) bool {
			return vm.Name == "vault.secret.lease.creation" && vm.Labels["mount_point"] == "github/" && vm.Labels["secret_engine"] == pluginName
		})
		if route && lease {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("sys/metrics: vault.route.read.github- %v, vault.secret.lease.creation{mount_point=github/,secret_engine=%s} %v; mount metrics seen: %v",
				route, pluginName, lease, slices.Sorted(maps.Keys(found)))
			break
		}
		time.Sleep(time.Second)
	}
	for _, k := range slices.Sorted(maps.Keys(found)) {
		t.Logf("sys/metrics: %s", k)
	}
}
