package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/hashicorp/vault/sdk/logical"
)

func TestMetrics(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme"})
	resp := e.ok(logical.ReadOperation, "token/r", nil)
	e.ok(logical.ReadOperation, "token/r", nil)
	e.gh.RateLimitNext(1, 429, time.Hour)
	if _, err := e.req(logical.ReadOperation, "token/r", nil); err == nil {
		t.Fatal("rate limit not reported")
	}
	if _, err := revoke(e, resp.Secret); err != nil {
		t.Fatal(err)
	}

	m := e.ok(logical.ReadOperation, "metrics", nil).Data
	if m["tokens_minted"] != int64(2) || m["tokens_revoked"] != int64(1) ||
		m["installation_cache_hits"] != int64(2) || m["installation_cache_misses"] != int64(1) {
		t.Fatalf("metrics %v", m)
	}
	if m["tokens_failed"].(map[string]any)["rate_limited"] != int64(1) {
		t.Fatalf("failures %v", m["tokens_failed"])
	}
	calls := m["github_calls"].(map[string]any)
	if c, ok := calls["POST /app/installations/{id}/access_tokens 201"].(map[string]any); !ok || c["count"] != int64(2) {
		t.Fatalf("calls %v", calls)
	}
	// The App's budget and the installations' are apart: the App's last
	// answer was the injected rate limit (0 left), the installation's the
	// revocation (its own budget, used by the bot user's lookup and the
	// revocation only).
	rate := m["github_rate_limit_remaining"].(map[string]any)
	app, _ := rate[github.SpenderApp].(map[string]any)
	inst, _ := rate[github.SpenderInstallation].(map[string]any)
	if len(rate) != 2 || app["core"] != int64(0) || inst["core"] != int64(4998) {
		t.Fatalf("rate limit remaining %v, want app core 0 and installation core 4998", rate)
	}

	prom := e.ok(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"})
	body := string(prom.Data[logical.HTTPRawBody].([]byte))
	for _, want := range []string{
		`github_app_tokens_minted_total{app="default"} 2` + "\n",
		`github_app_tokens_failed_total{app="default",reason="rate_limited"} 1`,
		`github_app_github_calls_total{app="default",endpoint="POST /app/installations/{id}/access_tokens",status="201"} 2`,
		`github_app_installation_cache_total{app="default",result="hit"} 2`,
		`github_app_rate_limit_remaining{app="default",resource="core",spender="app"} 0` + "\n",
		`github_app_rate_limit_remaining{app="default",resource="core",spender="installation"} 4998` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("prometheus output lacks %q:\n%s", want, body)
		}
	}
}

func TestMetricsArePerMount(t *testing.T) {
	a, b := newTestBackend(t), newTestBackend(t)
	a.configure(nil)
	a.writeRole("r", map[string]any{"installation_id": a.acme.ID})
	a.ok(logical.ReadOperation, "token/r", nil)
	if got := b.ok(logical.ReadOperation, "metrics", nil).Data["tokens_minted"]; got != int64(0) {
		t.Fatalf("another mount's metrics show %v minted", got)
	}
}

// Before any call there is no budget to show; values from GitHub's headers
// are bounded before they become labels.
func TestRateLimitGaugeLabels(t *testing.T) {
	m := newMetrics()
	if rate := m.snapshot()["github_rate_limit_remaining"].(map[string]any); len(rate) != 0 {
		t.Fatalf("rate before any call: %v", rate)
	}
	if strings.Contains(m.prometheus(), "github_app_rate_limit_remaining{") {
		t.Fatal("a gauge sample before any call")
	}
	m.forApp(defaultApp).observeCall(github.CallInfo{Endpoint: "GET /app", Status: 200, RateLimitRemaining: 4000, RateLimitResource: "core", Spender: github.SpenderApp})
	m.forApp(defaultApp).observeCall(github.CallInfo{Endpoint: "GET /app", Status: 200, RateLimitRemaining: 12, RateLimitResource: `x"} 1` + "\nevil 2", Spender: github.SpenderApp})
	m.forApp(defaultApp).observeCall(github.CallInfo{Endpoint: "GET /app", Status: 200, RateLimitRemaining: 7, Spender: github.SpenderApp})
	m.forApp(defaultApp).observeCall(github.CallInfo{Endpoint: "GET /app", Status: 0, RateLimitRemaining: -1, Spender: github.SpenderInstallation})
	prom := m.prometheus()
	for _, want := range []string{
		`github_app_rate_limit_remaining{app="default",resource="core",spender="app"} 4000` + "\n",
		`github_app_rate_limit_remaining{app="default",resource="other",spender="app"} 12` + "\n",
		`github_app_rate_limit_remaining{app="default",resource="unknown",spender="app"} 7` + "\n",
	} {
		if !strings.Contains(prom, want) {
			t.Errorf("prometheus output lacks %q:\n%s", want, prom)
		}
	}
	if strings.Contains(prom, "evil") || strings.Contains(prom, `spender="installation"`) {
		t.Errorf("prometheus output:\n%s", prom)
	}
}
