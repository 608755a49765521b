package backend

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// metrics counts what the mount does. It belongs to one mount (mounts share
// a multiplexed process, so nothing here is package-level).
type metrics struct {
	mintedTotal    atomic.Int64
	revokedTotal   atomic.Int64
	revokeFailures atomic.Int64
	cacheHits      atomic.Int64
	cacheMisses    atomic.Int64

	mu       sync.Mutex
	failures map[string]int64        // by reason
	calls    map[string]*callMetrics // by "endpoint status"
	// rateRemaining is X-RateLimit-Remaining of the last answer that drew
	// on each budget: by spender (github.SpenderApp for App JWT calls,
	// github.SpenderInstallation for installation-token calls), then by
	// X-RateLimit-Resource (e.g. "core").
	rateRemaining map[string]map[string]int64
}

type callMetrics struct {
	Count        int64
	TotalSeconds float64
	MaxSeconds   float64
}

func newMetrics() *metrics {
	return &metrics{
		failures:      map[string]int64{},
		calls:         map[string]*callMetrics{},
		rateRemaining: map[string]map[string]int64{},
	}
}

func (m *metrics) minted() { m.mintedTotal.Add(1) }

func (m *metrics) failed(reason string) {
	m.mu.Lock()
	m.failures[reason]++
	m.mu.Unlock()
}

func (m *metrics) revoked(ok bool) {
	if ok {
		m.revokedTotal.Add(1)
	} else {
		m.revokeFailures.Add(1)
	}
}

func (m *metrics) cache(hit bool) {
	if hit {
		m.cacheHits.Add(1)
	} else {
		m.cacheMisses.Add(1)
	}
}

func (m *metrics) observeCall(c github.CallInfo) {
	key := c.Endpoint + " " + strconv.Itoa(c.Status)
	secs := c.Duration.Seconds()
	m.mu.Lock()
	if c.RateLimitRemaining >= 0 {
		spender, resource := labelValue(c.Spender), labelValue(c.RateLimitResource)
		if m.rateRemaining[spender] == nil {
			m.rateRemaining[spender] = map[string]int64{}
		}
		m.rateRemaining[spender][resource] = int64(c.RateLimitRemaining)
	}
	cm := m.calls[key]
	if cm == nil {
		cm = &callMetrics{}
		m.calls[key] = cm
	}
	cm.Count++
	cm.TotalSeconds += secs
	cm.MaxSeconds = max(cm.MaxSeconds, secs)
	m.mu.Unlock()
}

// labelValue bounds a value that comes from GitHub (a header) before it
// becomes a metrics key or label: a short run of lower-case letters, digits,
// "_" or "-", else "other"; empty is "unknown".
func labelValue(v string) string {
	if v == "" {
		return "unknown"
	}
	if len(v) > 40 {
		return "other"
	}
	for _, r := range v {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return "other"
		}
	}
	return v
}

// snapshot is the metrics as response data.
func (m *metrics) snapshot() map[string]any {
	m.mu.Lock()
	failures := make(map[string]any, len(m.failures))
	for k, v := range m.failures {
		failures[k] = v
	}
	calls := make(map[string]any, len(m.calls))
	for k, v := range m.calls {
		calls[k] = map[string]any{"count": v.Count, "total_seconds": v.TotalSeconds, "max_seconds": v.MaxSeconds}
	}
	rate := make(map[string]any, len(m.rateRemaining))
	for spender, byResource := range m.rateRemaining {
		r := make(map[string]any, len(byResource))
		for resource, n := range byResource {
			r[resource] = n
		}
		rate[spender] = r
	}
	m.mu.Unlock()
	return map[string]any{
		"tokens_minted":               m.mintedTotal.Load(),
		"tokens_failed":               failures,
		"tokens_revoked":              m.revokedTotal.Load(),
		"revocations_failed":          m.revokeFailures.Load(),
		"installation_cache_hits":     m.cacheHits.Load(),
		"installation_cache_misses":   m.cacheMisses.Load(),
		"github_calls":                calls,
		"github_rate_limit_remaining": rate, // spender → resource → remaining
	}
}
