package backend

import (
	"strings"
	"testing"
	"time"

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
	if m["github_rate_limit_remaining"].(int64) < 0 {
		t.Fatalf("rate limit remaining not recorded: %v", m["github_rate_limit_remaining"])
	}

	prom := e.ok(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"})
	body := string(prom.Data[logical.HTTPRawBody].([]byte))
	for _, want := range []string{
		"github_app_tokens_minted_total 2\n",
		`github_app_tokens_failed_total{reason="rate_limited"} 1`,
		`github_app_github_calls_total{endpoint="POST /app/installations/{id}/access_tokens",status="201"} 2`,
		`github_app_installation_cache_total{result="hit"} 2`,
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
