package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Audit and metrics: one structured log line per request or tunnel, and
// Prometheus text metrics. A line holds the method, the CONNECT target,
// the path without its query, the status, the bytes each way, the
// duration and hashed_token; never the token, never a header value.

// record is what one request's log line says; the handler and the
// transport fill it in.
type record struct {
	mu      sync.Mutex
	hash    string
	retried bool
	refused string // the refusal's reason label
	ref     string // the ref a write-scope refusal is about
}

// refuse notes a write-scope refusal: its rule and ref.
func (r *record) refuse(rule, ref string) {
	r.mu.Lock()
	r.refused, r.ref = rule, ref
	r.mu.Unlock()
}

func (r *record) injected(hash string) {
	r.mu.Lock()
	r.hash = hash
	r.mu.Unlock()
}

func (r *record) hashed() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hash
}

type auditLine struct {
	method, host, path string
	status             int
	in, out            int64
	start              time.Time
	tunnel             bool
	rec                *record
}

func (p *Proxy) audit(l auditLine) {
	p.metrics.request(l.host, l.status, l.in, l.out, p.configured(l.host))
	attrs := []slog.Attr{
		slog.String("method", l.method),
		slog.String("host", l.host),
		slog.String("path", l.path),
		slog.Int("status", l.status),
		slog.Int64("bytes_in", l.in),
		slog.Int64("bytes_out", l.out),
		slog.Float64("duration_ms", float64(time.Since(l.start).Microseconds())/1000),
	}
	if l.tunnel {
		attrs = append(attrs, slog.Bool("tunnel", true))
	}
	if l.rec != nil {
		if h := l.rec.hashed(); h != "" {
			attrs = append(attrs, slog.String("hashed_token", h))
		}
		if l.rec.retried {
			attrs = append(attrs, slog.Bool("retried_on_401", true))
		}
		if l.rec.refused != "" {
			attrs = append(attrs, slog.String("refused", l.rec.refused))
		}
		if l.rec.ref != "" {
			attrs = append(attrs, slog.String("ref", l.rec.ref))
		}
	}
	p.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

// countingReader counts what the client sent.
type countingReader struct {
	io.ReadCloser
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// statusWriter counts what the client received and keeps the status.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// metrics are counters rendered in Prometheus' text format. Labels come
// from bounded sets: configured hosts (any other host is "other"), status
// codes, and the refusal reasons below.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]int64 // host, status
	refused  map[string]int64

	injected, retries401, waits, bytesIn, bytesOut atomic.Int64

	connsOpen, tunnelsOpen *atomic.Int64 // the proxy's gates (nil: not shown)
}

// Refusal reasons, the label of github_token_proxy_refused_total.
const (
	reasonNotLoopback      = "not_loopback"
	reasonNotConnect       = "not_connect"
	reasonPlainHTTP        = "plain_http_to_configured_host"
	reasonOtherHost        = "other_host"
	reasonPort             = "port"
	reasonMisdirected      = "host_mismatch"
	reasonTokenUnavailable = "token_unavailable"
	reasonUpstream         = "upstream_error"
	reasonMethod           = "method"
	reasonRevoke           = "revoke_token"
	reasonAddress          = "internal_address"
	reasonLimit            = "limit"
)

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]int64{}, refused: map[string]int64{}}
}

func (m *metrics) request(host string, status int, in, out int64, configured bool) {
	if !configured {
		host = "other"
	}
	m.bytesIn.Add(in)
	m.bytesOut.Add(out)
	m.mu.Lock()
	m.requests[[2]string{host, fmt.Sprint(status)}]++
	m.mu.Unlock()
}

func (m *metrics) refuse(reason string) {
	m.mu.Lock()
	m.refused[reason]++
	m.mu.Unlock()
}

func (m *metrics) refusedCount(reason string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused[reason]
}

func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackRemote(r.RemoteAddr) {
		http.Error(w, "github-token-proxy: metrics are served to loopback only", http.StatusForbidden)
		return
	}
	var b strings.Builder
	m.mu.Lock()
	b.WriteString("# HELP github_token_proxy_requests_total Requests and tunnels by CONNECT target (configured hosts; any other is \"other\") and status.\n# TYPE github_token_proxy_requests_total counter\n")
	keys := slices.SortedFunc(maps.Keys(m.requests), func(a, b [2]string) int {
		return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1])
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "github_token_proxy_requests_total{host=%q,status=%q} %d\n", k[0], k[1], m.requests[k])
	}
	b.WriteString("# HELP github_token_proxy_refused_total Requests refused, by reason.\n# TYPE github_token_proxy_refused_total counter\n")
	for _, reason := range append([]string{reasonNotLoopback, reasonNotConnect, reasonPlainHTTP, reasonOtherHost, reasonPort, reasonMisdirected, reasonTokenUnavailable, reasonUpstream, reasonMethod, reasonRevoke, reasonAddress, reasonLimit}, scopeRules...) {
		fmt.Fprintf(&b, "github_token_proxy_refused_total{reason=%q} %d\n", reason, m.refused[reason])
	}
	m.mu.Unlock()
	for _, c := range []struct {
		name, help string
		v          *atomic.Int64
	}{
		{"github_token_proxy_injected_total", "Requests sent upstream with the token.", &m.injected},
		{"github_token_proxy_retries_on_401_total", "Requests sent again with a fresh token after a 401.", &m.retries401},
		{"github_token_proxy_waits_for_fresh_token_total", "Requests that waited for Vault Agent to render a fresh token.", &m.waits},
		{"github_token_proxy_bytes_in_total", "Bytes received from clients (request bodies; tunnels: client to server).", &m.bytesIn},
		{"github_token_proxy_bytes_out_total", "Bytes sent to clients (response bodies; tunnels: server to client).", &m.bytesOut},
	} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v.Load())
	}
	for _, g := range []struct {
		name, help string
		v          *atomic.Int64
	}{
		{"github_token_proxy_connections_open", "Client connections open now (-max-conns bounds them).", m.connsOpen},
		{"github_token_proxy_tunnels_open", "Tunnels open now (-max-tunnels bounds them).", m.tunnelsOpen},
	} {
		if g.v != nil {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", g.name, g.help, g.name, g.name, g.v.Load())
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}
