package backend

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// The metrics path exists because external plugins cannot feed Vault's own
// telemetry (sys/metrics): they run in another process and the SDK has no
// metrics RPC (hashicorp/vault#7259). It is an ordinary path under the mount,
// so Vault's ACL policies guard it like any other.
func pathMetrics(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "metrics$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "metrics",
		},
		Fields: map[string]*framework.FieldSchema{
			"format": {
				Type:          framework.TypeString,
				Description:   `"json" (default) or "prometheus" (text exposition format).`,
				Query:         true,
				AllowedValues: []any{"json", "prometheus"},
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathMetricsRead,
				Summary:      "Read this mount's counters: tokens minted and failed, revocations, installation cache, GitHub calls and rate limit.",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
			},
		},
		HelpSynopsis:    "Counters of this mount: tokens, revocations, cache, GitHub calls.",
		HelpDescription: "Reads this mount's counters since the plugin started. format=prometheus answers in the Prometheus text format for scraping with a Vault token.",
	}}
}

func (b *backend) pathMetricsRead(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	snap := b.metrics.snapshot()
	switch format := fieldString(d, "format"); format {
	case "", "json":
		return &logical.Response{Data: snap}, nil
	case "prometheus":
		return &logical.Response{Data: map[string]any{
			logical.HTTPContentType: "text/plain; version=0.0.4",
			logical.HTTPRawBody:     []byte(b.metrics.prometheus()),
			logical.HTTPStatusCode:  http.StatusOK,
		}}, nil
	default:
		return nil, badRequest("format: %q is not json or prometheus", format)
	}
}

// prometheus renders the counters in the Prometheus text format; every
// sample carries the label app.
func (m *metrics) prometheus() string {
	all := map[string]map[string]float64{} // metric → labels → value
	m.each(func(app string, am *appMetrics) {
		am.samples(app, all)
	})
	var b strings.Builder
	for _, mt := range metricTypes {
		samples := all[mt.name]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", mt.name, mt.help, mt.name, mt.kind)
		keys := make([]string, 0, len(samples))
		for k := range samples {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, labels := range keys {
			fmt.Fprintf(&b, "%s%s %g\n", mt.name, labels, samples[labels])
		}
	}
	return b.String()
}

var metricTypes = []struct{ name, help, kind string }{
	{"github_app_tokens_minted_total", "Installation tokens minted.", "counter"},
	{"github_app_tokens_revoked_total", "Tokens revoked at GitHub.", "counter"},
	{"github_app_revocations_failed_total", "Revocations that failed and will be retried by Vault.", "counter"},
	{"github_app_unleased_revocations_failed_total", "Revocations of tokens without a lease (probes, checks, tokens too short for a lease) that failed, by reason; nobody retries them and each lives at GitHub until it expires.", "counter"},
	{"github_app_installation_cache_total", "Installation lookups by result.", "counter"},
	{"github_app_rate_limit_remaining", "X-RateLimit-Remaining of GitHub's last answer on each budget: spender app (App JWT calls) or installation (installation-token calls), by X-RateLimit-Resource.", "gauge"},
	{"github_app_tokens_failed_total", "Token requests that failed, by reason.", "counter"},
	{"github_app_github_calls_total", "HTTP attempts to GitHub by endpoint and status (0: no answer).", "counter"},
	{"github_app_github_call_seconds_total", "Time spent in HTTP attempts to GitHub by endpoint and status.", "counter"},
}

// samples adds the App's samples to all, labelled app.
func (m *appMetrics) samples(app string, all map[string]map[string]float64) {
	line := func(name string, samples map[string]float64) {
		if all[name] == nil {
			all[name] = map[string]float64{}
		}
		for labels, v := range samples {
			l := fmt.Sprintf("app=%q", app)
			if labels != "" {
				l += "," + strings.TrimPrefix(labels, "{")
			} else {
				l += "}"
			}
			all[name]["{"+l] = v
		}
	}
	line("github_app_tokens_minted_total", map[string]float64{"": float64(m.mintedTotal.Load())})
	line("github_app_tokens_revoked_total", map[string]float64{"": float64(m.revokedTotal.Load())})
	line("github_app_revocations_failed_total", map[string]float64{"": float64(m.revokeFailures.Load())})
	line("github_app_installation_cache_total", map[string]float64{
		`{result="hit"}`: float64(m.cacheHits.Load()), `{result="miss"}`: float64(m.cacheMisses.Load()),
	})
	m.mu.Lock()
	rate := map[string]float64{}
	for spender, byResource := range m.rateRemaining {
		for resource, n := range byResource {
			rate[fmt.Sprintf("{resource=%q,spender=%q}", resource, spender)] = float64(n)
		}
	}
	failed := map[string]float64{}
	for reason, n := range m.failures {
		failed[fmt.Sprintf("{reason=%q}", reason)] = float64(n)
	}
	unleased := map[string]float64{}
	for reason, n := range m.unleasedRevokeFailures {
		unleased[fmt.Sprintf("{reason=%q}", reason)] = float64(n)
	}
	count, sum := map[string]float64{}, map[string]float64{}
	for key, c := range m.calls {
		i := strings.LastIndexByte(key, ' ')
		labels := fmt.Sprintf("{endpoint=%q,status=%q}", key[:i], key[i+1:])
		count[labels], sum[labels] = float64(c.Count), c.TotalSeconds
	}
	m.mu.Unlock()
	line("github_app_rate_limit_remaining", rate)
	line("github_app_tokens_failed_total", failed)
	line("github_app_unleased_revocations_failed_total", unleased)
	line("github_app_github_calls_total", count)
	line("github_app_github_call_seconds_total", sum)
}
