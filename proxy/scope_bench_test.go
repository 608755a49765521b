package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkScopeLatency measures what the proxy adds to a small write:
// the same requests sent direct to a server standing in for GitHub,
// through the real github-token-proxy binary (built from
// ../cmd/github-token-proxy, its own process as in a pod) with no write
// scope, and through a second one whose credentials file carries a scope
// (REST: POST git/refs, its body parsed and the ref decided; push: a
// receive-pack body with one command and a 64 KiB pack, its commands
// parsed and the rest streamed). Each request is timed alone on a
// kept-alive connection, from sending it to reading the whole answer.
//
// SCOPE_BENCH_ROUNDS rounds (default 5) of SCOPE_BENCH_N requests (default
// 200) per leg, each leg first in turn, so that the machine's other work
// falls on every leg alike; percentiles pool the rounds. It reports, per
// workload, p50 and p99 of direct, of proxied with the scope, their
// difference (what the proxy adds) and the scope's own part (scoped minus
// unscoped); and the serving processes' peak RSS (VmHWM) after all of it.
//
//	go test -run '^$' -bench BenchmarkScopeLatency -benchtime 1x ./proxy
//
// It reports; it asserts nothing about speed.
func BenchmarkScopeLatency(b *testing.B) {
	rounds, n := envCount(b, "SCOPE_BENCH_ROUNDS", 5), envCount(b, "SCOPE_BENCH_N", 200)
	e := newEnv(b, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }, nil)
	bin := filepath.Join(b.TempDir(), "github-token-proxy")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/github-token-proxy").CombinedOutput(); err != nil {
		b.Fatalf("go build ../cmd/github-token-proxy: %v\n%s", err, out)
	}
	direct := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext:     e.p.dial,
	}}
	unscoped := startBinary(b, bin, e, nil)
	scoped := startBinary(b, bin, e, []string{"agent/*"})
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
		return ds
	}
	pct := func(ds []time.Duration, q float64) time.Duration { return ds[int(float64(len(ds)-1)*q)] }
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	b.Logf("%d rounds of %d requests per leg, each leg first in turn; load average before: %s", rounds, n, loadAvg())
	for _, w := range []struct {
		name, url string
		body      []byte
	}{
		{"rest", "https://api.github.com/repos/o/r/git/refs", rest},
		{"push", "https://github.com/o/r.git/git-receive-pack", push},
	} {
		legs := []*http.Client{direct, unscoped.client, scoped.client}
		got := make([][]time.Duration, len(legs))
		for i, c := range legs {
			run(c, w.url, w.body, 20) // connections made, caches warm
			got[i] = make([]time.Duration, 0, rounds*n)
		}
		cpu0 := procCPU(b, scoped.pid)
		for r := range rounds {
			for i := range legs {
				k := (r + i) % len(legs)
				got[k] = append(got[k], run(legs[k], w.url, w.body, n)...)
			}
		}
		cpu := procCPU(b, scoped.pid) - cpu0
		for _, ds := range got {
			slices.Sort(ds)
		}
		d, u, s := got[0], got[1], got[2]
		b.ReportMetric(us(pct(s, 0.5)-pct(d, 0.5)), w.name+"-added-p50-µs")
		b.ReportMetric(us(pct(s, 0.99)-pct(d, 0.99)), w.name+"-added-p99-µs")
		b.ReportMetric(us(pct(s, 0.5)-pct(u, 0.5)), w.name+"-scope-added-p50-µs")
		b.ReportMetric(us(pct(s, 0.99)-pct(u, 0.99)), w.name+"-scope-added-p99-µs")
		b.ReportMetric(us(cpu)/float64(len(s)), w.name+"-proxy-cpu-µs/req")
		b.Logf("%s, %d each: direct p50 %s p99 %s; proxied unscoped p50 %s p99 %s; proxied scoped p50 %s p99 %s; the proxy adds p50 %s p99 %s (the scope's part: p50 %s p99 %s); the scoped proxy's CPU time %.0f µs per request",
			w.name, len(d), pct(d, 0.5).Round(time.Microsecond), pct(d, 0.99).Round(time.Microsecond),
			pct(u, 0.5).Round(time.Microsecond), pct(u, 0.99).Round(time.Microsecond),
			pct(s, 0.5).Round(time.Microsecond), pct(s, 0.99).Round(time.Microsecond),
			(pct(s, 0.5) - pct(d, 0.5)).Round(time.Microsecond), (pct(s, 0.99) - pct(d, 0.99)).Round(time.Microsecond),
			(pct(s, 0.5) - pct(u, 0.5)).Round(time.Microsecond), (pct(s, 0.99) - pct(u, 0.99)).Round(time.Microsecond),
			us(cpu)/float64(len(s)))
	}
	hu, hs := vmHWMKiB(b, unscoped.pid), vmHWMKiB(b, scoped.pid)
	b.ReportMetric(float64(max(hu, hs))/1024, "proxy-peak-RSS-MiB")
	b.Logf("proxy peak RSS (VmHWM of the serving process): unscoped %.1f MiB, scoped %.1f MiB; load average after: %s", float64(hu)/1024, float64(hs)/1024, loadAvg())
}

// binaryProxy is a github-token-proxy process and a client through it.
type binaryProxy struct {
	pid    int // the serving process
	client *http.Client
}

// startBinary runs bin against e's upstreams with a credentials file of
// its own carrying e's token and scope (nil: none), and stops it when the
// benchmark ends.
func startBinary(b *testing.B, bin string, e *env, scope []string) binaryProxy {
	dir := b.TempDir()
	creds, caFile := filepath.Join(dir, "credentials.json"), filepath.Join(dir, "ca.pem")
	writeScoped(b, creds, e.token, scope)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"-listen", addr, "-credentials", creds, "-ca-cert-out", caFile, "-upstream-ca", e.cfg.UpstreamCA}
	for _, h := range []string{"github.com", "api.github.com", "uploads.github.com"} {
		args = append(args, "-resolve", h+"="+e.github.addr())
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	var pid int
	for i := 0; ; i++ {
		if fi, err := os.Stat(caFile); err == nil && fi.Size() > 0 {
			if pid = onlyChild(cmd.Process.Pid); pid != 0 {
				break
			}
		}
		if i == 200 {
			b.Fatal("the proxy did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	u, _ := url.Parse("http://" + addr)
	tr := &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: pool}}
	b.Cleanup(tr.CloseIdleConnections)
	return binaryProxy{pid: pid, client: &http.Client{Transport: &placeholderAuth{tr}}}
}

// onlyChild is pid's only child (the supervisor's serving process), 0 if
// it has none or several.
func onlyChild(pid int) int {
	var data []byte
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		data = append(data, b...)
	}
	if f := strings.Fields(string(data)); len(f) == 1 {
		n, _ := strconv.Atoi(f[0])
		return n
	}
	return 0
}

// vmHWMKiB is a process's peak resident set size in KiB.
func vmHWMKiB(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// procCPU is a process's user and system CPU time so far (/proc/PID/stat,
// in clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// envCount is a positive count from the environment, or def.
func envCount(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive count", name, s)
	}
	return n
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}
