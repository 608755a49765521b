package backend

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// metrics counts what the mount does, by App. It belongs to one mount
// (mounts share a multiplexed process, so nothing here is package-level).
type metrics struct {
	mu    sync.Mutex
	byApp map[string]*appMetrics
}

func newMetrics() *metrics {
	return &metrics{byApp: map[string]*appMetrics{}}
}

// forApp returns the counters of the App called name, made on first use.
// They outlive the App's config, so a deleted App's revocations still count.
func (m *metrics) forApp(name string) *appMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	am := m.byApp[name]
	if am == nil {
		am = newAppMetrics()
		m.byApp[name] = am
	}
	return am
}

// each runs f on every App's counters, in name order.
func (m *metrics) each(f func(name string, am *appMetrics)) {
	m.mu.Lock()
	names := make([]string, 0, len(m.byApp))
	for n := range m.byApp {
		names = append(names, n)
	}
	m.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		f(n, m.forApp(n))
	}
}

// appMetrics counts what one App of the mount does.
type appMetrics struct {
	mintedTotal    atomic.Int64
	revokedTotal   atomic.Int64
	revokeFailures atomic.Int64
	cacheHits      atomic.Int64
	cacheMisses    atomic.Int64

	mu       sync.Mutex
	failures map[string]int64 // by reason
	// unleasedRevokeFailures counts failed revocations of tokens that have
	// no lease, by what they were ("resolve_ids", "check", "no_lease"):
	// nobody retries them, and each lives at GitHub until it expires.
	unleasedRevokeFailures map[string]int64
	calls                  map[string]*callMetrics // by "endpoint status"
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

func newAppMetrics() *appMetrics {
	return &appMetrics{
		failures:               map[string]int64{},
		unleasedRevokeFailures: map[string]int64{},
		calls:                  map[string]*callMetrics{},
		rateRemaining:          map[string]map[string]int64{},
	}
}

func (m *appMetrics) minted() { m.mintedTotal.Add(1) }

func (m *appMetrics) failed(reason string) {
	m.mu.Lock()
	m.failures[reason]++
	m.mu.Unlock()
}

func (m *appMetrics) revoked(ok bool) {
	if ok {
		m.revokedTotal.Add(1)
	} else {
		m.revokeFailures.Add(1)
	}
}

// unleasedRevokeFailed counts a failed revocation of a token without a
// lease, of kind reason.
func (m *appMetrics) unleasedRevokeFailed(reason string) {
	m.mu.Lock()
	m.unleasedRevokeFailures[reason]++
	m.mu.Unlock()
}

func (m *appMetrics) cache(hit bool) {
	if hit {
		m.cacheHits.Add(1)
	} else {
		m.cacheMisses.Add(1)
	}
}

func (m *appMetrics) observeCall(c github.CallInfo) {
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

// snapshot is the metrics as response data: the mount's totals (the
// lowest rate-limit remaining of any App for each budget), and under "apps"
// each App's own.
func (m *metrics) snapshot() map[string]any {
	total := newAppMetrics()
	apps := map[string]any{}
	m.each(func(name string, am *appMetrics) {
		apps[name] = am.snapshot()
		total.add(am)
	})
	out := total.snapshot()
	out["apps"] = apps
	return out
}

// add adds o's counters to m (m is not shared).
func (m *appMetrics) add(o *appMetrics) {
	m.mintedTotal.Add(o.mintedTotal.Load())
	m.revokedTotal.Add(o.revokedTotal.Load())
	m.revokeFailures.Add(o.revokeFailures.Load())
	m.cacheHits.Add(o.cacheHits.Load())
	m.cacheMisses.Add(o.cacheMisses.Load())
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, v := range o.failures {
		m.failures[k] += v
	}
	for k, v := range o.unleasedRevokeFailures {
		m.unleasedRevokeFailures[k] += v
	}
	for k, v := range o.calls {
		cm := m.calls[k]
		if cm == nil {
			cm = &callMetrics{}
			m.calls[k] = cm
		}
		cm.Count += v.Count
		cm.TotalSeconds += v.TotalSeconds
		cm.MaxSeconds = max(cm.MaxSeconds, v.MaxSeconds)
	}
	for spender, byResource := range o.rateRemaining {
		if m.rateRemaining[spender] == nil {
			m.rateRemaining[spender] = map[string]int64{}
		}
		for resource, n := range byResource {
			if have, ok := m.rateRemaining[spender][resource]; !ok || n < have {
				m.rateRemaining[spender][resource] = n
			}
		}
	}
}

// snapshot is one App's metrics as response data.
func (m *appMetrics) snapshot() map[string]any {
	m.mu.Lock()
	failures := make(map[string]any, len(m.failures))
	for k, v := range m.failures {
		failures[k] = v
	}
	unleased := make(map[string]any, len(m.unleasedRevokeFailures))
	for k, v := range m.unleasedRevokeFailures {
		unleased[k] = v
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
		"unleased_revocations_failed": unleased, // by reason: resolve_ids, check, no_lease
		"installation_cache_hits":     m.cacheHits.Load(),
		"installation_cache_misses":   m.cacheMisses.Load(),
		"github_calls":                calls,
		"github_rate_limit_remaining": rate, // spender → resource → remaining
	}
}
