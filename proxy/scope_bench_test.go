package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkScopeLatency measures what the write-scope check adds: the
// same small writes sent direct to the recording GitHub, through the
// proxy unscoped, and through the proxy scoped (REST: POST git/refs,
// parsed and decided; push: a receive-pack body with one command and a
// 64 KiB pack, parsed and streamed). p50 and p99 over kept-alive
// connections, in one process (client, proxy and server share the CPU).
//
//	go test -run '^$' -bench BenchmarkScopeLatency -benchtime 1x ./proxy
//
// It reports; it asserts nothing about speed.
func BenchmarkScopeLatency(b *testing.B) {
	e := newEnv(b, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }, nil)
	direct := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext:     e.p.dial,
	}}
	proxied := e.client()
	rest := []byte(`{"ref":"refs/heads/agent/x","sha":"aa218f56b14c9653891f9e74264a383fa43fefbd"}`)
	push := append(pushBody(" report-status side-band-64k", oidA+" "+oidB+" refs/heads/agent/x"), bytes.Repeat([]byte("p"), 64<<10)...)
	run := func(c *http.Client, url string, body []byte, n int) []time.Duration {
		ds := make([]time.Duration, 0, n)
		for range n {
			start := time.Now()
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("X-Stream", "1") // the recorder keeps nothing
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("%s: %d", url, resp.StatusCode)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds
	}
	pct := func(ds []time.Duration, q float64) time.Duration { return ds[int(float64(len(ds)-1)*q)] }
	const n = 1000
	for _, w := range []struct {
		name, url string
		body      []byte
	}{
		{"rest", "https://api.github.com/repos/o/r/git/refs", rest},
		{"push", "https://github.com/o/r.git/git-receive-pack", push},
	} {
		writeScoped(b, e.credentials, e.token, nil)
		run(direct, w.url, w.body, 50)
		run(proxied, w.url, w.body, 50)
		d, u := run(direct, w.url, w.body, n), run(proxied, w.url, w.body, n)
		writeScoped(b, e.credentials, e.token, []string{"agent/*"})
		run(proxied, w.url, w.body, 50)
		s := run(proxied, w.url, w.body, n)
		b.ReportMetric(float64(pct(s, 0.5)-pct(u, 0.5))/1e3, w.name+"-scope-added-p50-µs")
		b.ReportMetric(float64(pct(s, 0.99)-pct(u, 0.99))/1e3, w.name+"-scope-added-p99-µs")
		b.Logf("%s, %d each: direct p50 %s p99 %s; proxied unscoped p50 %s p99 %s; proxied scoped p50 %s p99 %s",
			w.name, n, pct(d, 0.5).Round(time.Microsecond), pct(d, 0.99).Round(time.Microsecond),
			pct(u, 0.5).Round(time.Microsecond), pct(u, 0.99).Round(time.Microsecond),
			pct(s, 0.5).Round(time.Microsecond), pct(s, 0.99).Round(time.Microsecond))
	}
}
