package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
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

// BenchmarkProxy runs the real github-token-proxy binary as a process
// and measures, in the same run, against going direct to the same
// server (a TLS server for github.com on 127.0.0.1, reached through
// -resolve):
//
//   - a large download (PROXY_BENCH_MB, default 256 MB) streamed
//     through it: throughput through the proxy ÷ direct, median of
//     PROXY_BENCH_ROUNDS (default 5) rounds, each way first in turn;
//
//   - the same download paced at 100 MiB/s by the server (a network
//     link rather than the CPU bounding it);
//
//   - the proxy's CPU time per GiB of the unpaced downloads (its serving
//     process's user + system time from /proc, not the client's);
//
//   - the proxy's peak RSS (VmHWM in /proc/PID/status) after the
//     transfers;
//
//   - small requests on a kept-alive connection: p50 and p99 latency
//     direct and through the proxy.
//
//     go test -run '^$' -bench BenchmarkProxy -benchtime 1x ./cmd/github-token-proxy
//
// It reports; it asserts nothing about speed.
func BenchmarkProxy(b *testing.B) {
	size := benchSize(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "github-token-proxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}

	// The server: 32 KiB writes of one buffer, like a pack streamed out.
	caCert, caPEM, leaf := benchCerts(b, "github.com")
	chunk := make([]byte, 32<<10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".git/git-upload-pack") {
			// big-paced.git is paced at paceMBs, like a network link.
			paced := strings.Contains(r.URL.Path, "paced")
			w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
			start := time.Now()
			for sent := int64(0); sent < size; sent += int64(len(chunk)) {
				if paced {
					if ahead := time.Duration(float64(sent)/(paceMBs*(1<<20))*float64(time.Second)) - time.Since(start); ahead > 0 {
						time.Sleep(ahead)
					}
				}
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		}
		_, _ = io.WriteString(w, `{"login":"octo"}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(dir, "upstream-ca.pem")
	creds := filepath.Join(dir, "credentials.json")
	proxyCA := filepath.Join(dir, "proxy-ca.pem")
	data, _ := json.Marshal(map[string]any{"token": "ghs_" + strings.Repeat("x", 516), "validUntil": time.Now().Add(time.Hour).Unix()})
	for f, d := range map[string][]byte{caFile: caPEM, creds: data} {
		if err := os.WriteFile(f, d, 0o600); err != nil {
			b.Fatal(err)
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-listen", addr, "-credentials", creds, "-ca-cert-out", proxyCA,
		"-upstream-ca", caFile, "-resolve", "github.com="+srv.Listener.Addr().String())
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			b.Fatalf("the proxy did not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	serving := servingProcess(b, cmd.Process.Pid)

	upstreamPool := x509.NewCertPool()
	upstreamPool.AddCert(caCert)
	direct := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: upstreamPool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}}
	pem, err := os.ReadFile(proxyCA)
	if err != nil {
		b.Fatal(err)
	}
	proxyPool := x509.NewCertPool()
	proxyPool.AppendCertsFromPEM(pem)
	proxyURL, _ := url.Parse("http://" + addr)
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: proxyPool}}}

	download := func(c *http.Client, repo string) float64 {
		start := time.Now()
		resp, err := c.Post("https://github.com/octo/"+repo+".git/git-upload-pack", "application/x-git-upload-pack-request", strings.NewReader("0000"))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("downloaded %d of %d bytes: %v", n, size, err)
		}
		return float64(size) / (1 << 20) / time.Since(start).Seconds()
	}
	var d, p, dp, pp []float64
	rounds := benchRounds(b)
	b.ResetTimer()
	var cpu time.Duration
	for r := range rounds {
		for i := range 2 {
			if (r+i)%2 == 0 {
				d = append(d, download(direct, "big"))
				continue
			}
			cpu0 := cpuTime(b, serving)
			p = append(p, download(proxied, "big"))
			cpu += cpuTime(b, serving) - cpu0
		}
	}
	for range 3 {
		dp = append(dp, download(direct, "big-paced"))
		pp = append(pp, download(proxied, "big-paced"))
	}
	hwm := vmHWM(b, serving)

	latency := func(c *http.Client, n int) []time.Duration {
		var ds []time.Duration
		for range n {
			start := time.Now()
			resp, err := c.Get("https://github.com/api/user")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds
	}
	latency(direct, 50)
	latency(proxied, 50)
	ld, lp := latency(direct, 2000), latency(proxied, 2000)
	b.StopTimer()

	md, mp := median(d), median(p)
	pct := func(ds []time.Duration, q float64) time.Duration { return ds[int(float64(len(ds)-1)*q)] }
	b.ReportMetric(md, "direct-MB/s")
	b.ReportMetric(mp, "proxied-MB/s")
	b.ReportMetric(100*mp/md, "%-of-direct")
	b.ReportMetric(100*median(pp)/median(dp), "%-of-direct-paced")
	b.ReportMetric(float64(hwm)/1024, "proxy-peak-RSS-MiB")
	b.ReportMetric(float64(pct(lp, 0.5)-pct(ld, 0.5))/1e3, "added-p50-µs")
	b.ReportMetric(float64(pct(lp, 0.99)-pct(ld, 0.99))/1e3, "added-p99-µs")
	ratios := make([]float64, rounds)
	for r := range rounds {
		ratios[r] = 100 * p[r] / d[r]
	}
	b.Logf("download of %d MiB, %d rounds, each way first in turn: direct %s MB/s, proxied %s MB/s; median ratio %.1f%% (round by round %s%%); load average before: %s",
		size>>20, rounds, fmtRuns(d), fmtRuns(p), 100*mp/md, fmtRuns(ratios), loadAverage())
	b.Logf("paced at %d MB/s (a network link): direct %s MB/s, proxied %s MB/s; median ratio %.1f%%",
		int(paceMBs), fmtRuns(dp), fmtRuns(pp), 100*median(pp)/median(dp))
	b.Logf("proxy CPU time for the unpaced downloads (the serving process's user + system): %.2f s per GiB", cpu.Seconds()/(float64(rounds)*float64(size)/(1<<30)))
	b.ReportMetric(cpu.Seconds()/(float64(rounds)*float64(size)/(1<<30)), "proxy-cpu-s/GiB")
	b.Logf("proxy peak RSS (VmHWM) after the transfers: %.1f MiB", float64(hwm)/1024)
	b.Logf("small GET, 2000 each on a kept-alive connection: direct p50 %s p99 %s; proxied p50 %s p99 %s",
		pct(ld, 0.5).Round(time.Microsecond), pct(ld, 0.99).Round(time.Microsecond), pct(lp, 0.5).Round(time.Microsecond), pct(lp, 0.99).Round(time.Microsecond))
}

// paceMBs is the paced server's rate, MiB/s.
const paceMBs = 100.0

// cpuTime is a process's user+system CPU time so far.
func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command's closing parenthesis; utime and stime
	// are the 14th and 15th of the line, in clock ticks (100 a second).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtRuns(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, "/")
}

// vmHWM is a process's peak resident set size in KiB.
func vmHWM(b *testing.B, pid int) int64 {
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
	b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// benchCerts makes a CA and a leaf for names.
func benchCerts(b testing.TB, names ...string) (*x509.Certificate, []byte, tls.Certificate) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	lkey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ltmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	lder, err := x509.CreateCertificate(rand.Reader, ltmpl, ca, &lkey.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), tls.Certificate{Certificate: [][]byte{lder}, PrivateKey: lkey}
}

// BenchmarkProxyGitClone clones a repository whose pack is PROXY_BENCH_MB
// (default 256) MiB of incompressible blobs with real git from a TLS
// server running git-http-backend, direct and through the real proxy
// binary, in PROXY_BENCH_ROUNDS (default 5) rounds. Each round clones
// once each way, in an order that alternates from round to round, so
// that the machine's other work falls on both alike; a round's ratio is
// its proxied throughput ÷ its direct one. It reports the median ratio
// and its spread, the proxy's CPU time per GiB cloned (user + system of
// the serving process, from /proc/PID/stat: the proxy alone, not git or
// the server), git's own CPU time per GiB either way, and the proxy's
// peak RSS after the clones. git's work (index-pack hashing every
// object) is in both times, as it is in every clone.
//
// PROXY_BENCH_BASELINE names another build of github-token-proxy (say,
// main's) to clone through as a third leg of each round, so two builds
// are compared under the same noise.
//
//	go test -run '^$' -bench BenchmarkProxyGitClone -benchtime 1x -timeout 30m ./cmd/github-token-proxy
func BenchmarkProxyGitClone(b *testing.B) {
	size := benchSize(b)
	rounds := benchRounds(b)
	dir := b.TempDir()
	git := func(args ...string) {
		b.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	root := filepath.Join(dir, "repos")
	bare := filepath.Join(root, "octo", "big.git")
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 8<<20)
	for i := 0; int64(i)*int64(len(buf)) < size; i++ {
		if _, err := rand.Read(buf); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("blob%03d", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	git("init", "-q", "--bare", "-b", "main", bare)
	git("--git-dir", bare, "--work-tree", src, "-c", "core.compression=0", "add", ".")
	git("--git-dir", bare, "--work-tree", src, "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q", "-m", "big")
	git("--git-dir", bare, "-c", "pack.compression=0", "repack", "-q", "-a", "-d")
	os.RemoveAll(src)
	packs, _ := filepath.Glob(filepath.Join(bare, "objects", "pack", "*.pack"))
	var packSize int64
	for _, p := range packs {
		fi, _ := os.Stat(p)
		packSize += fi.Size()
	}

	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		b.Fatal(err)
	}
	_, caPEM, leaf := benchCerts(b, "github.com")
	srv := httptest.NewUnstartedServer(&cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	})
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	srv.StartTLS()
	defer srv.Close()
	upstreamCA := filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(upstreamCA, caPEM, 0o644); err != nil {
		b.Fatal(err)
	}
	flags := []string{"-upstream-ca", upstreamCA, "-resolve", "github.com=" + srv.Listener.Addr().String()}
	type leg struct {
		name    string
		pid     int // the serving process; 0: direct
		addr    string
		ca      string
		mbs     []float64
		cpu     time.Duration // the proxy's, over all rounds
		gitCPU  time.Duration // git's, over all rounds
		hwmKiB  int64
		counted int64 // bytes cloned
	}
	legs := []*leg{{name: "direct"}}
	pid, addr, proxyCA := startProxy(b, filepath.Join(dir, "proxy"), "", flags...)
	legs = append(legs, &leg{name: "proxied", pid: pid, addr: addr, ca: proxyCA})
	if base := os.Getenv("PROXY_BENCH_BASELINE"); base != "" {
		pid, addr, proxyCA := startProxy(b, filepath.Join(dir, "baseline"), base, flags...)
		legs = append(legs, &leg{name: "baseline", pid: pid, addr: addr, ca: proxyCA})
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	clone := func(l *leg) {
		dst := filepath.Join(dir, fmt.Sprintf("clone-%d", time.Now().UnixNano()))
		defer os.RemoveAll(dst)
		env := append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_TERMINAL_PROMPT=0")
		args := []string{"clone", "-q", "--bare"}
		if l.pid != 0 {
			env = append(env, "HTTPS_PROXY=http://"+l.addr, "GIT_SSL_CAINFO="+l.ca)
			args = append(args, "https://github.com/octo/big.git", dst)
		} else {
			env = append(env, "GIT_SSL_CAINFO="+upstreamCA)
			args = append([]string{"-c", "http.curloptResolve=github.com:" + port + ":127.0.0.1"}, args...)
			args = append(args, "https://github.com:"+port+"/octo/big.git", dst)
		}
		cmd := exec.Command("git", args...)
		cmd.Env = env
		var cpu0 time.Duration
		if l.pid != 0 {
			cpu0 = cpuTime(b, l.pid)
		}
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git clone (%s): %v\n%s", l.name, err, out)
		}
		l.mbs = append(l.mbs, float64(packSize)/(1<<20)/time.Since(start).Seconds())
		if l.pid != 0 {
			l.cpu += cpuTime(b, l.pid) - cpu0
		}
		// git clone's own time and that of the children it waited for
		// (git-remote-https, index-pack).
		l.gitCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		l.counted += packSize
	}
	b.ResetTimer()
	for r := range rounds {
		for i := range legs {
			clone(legs[(r+i)%len(legs)])
		}
	}
	for _, l := range legs[1:] {
		l.hwmKiB = vmHWM(b, l.pid)
	}
	b.StopTimer()

	direct := legs[0]
	gib := func(l *leg) float64 { return float64(l.counted) / (1 << 30) }
	b.ReportMetric(median(direct.mbs), "direct-MB/s")
	b.Logf("git clone --bare of a %.0f MiB pack, %d rounds, each leg first in turn; load average before: %s",
		float64(packSize)/(1<<20), rounds, loadAverage())
	b.Logf("direct: %s MB/s (median %.1f); git's CPU %.2f s per GiB", fmtRuns(direct.mbs), median(direct.mbs), direct.gitCPU.Seconds()/gib(direct))
	for _, l := range legs[1:] {
		ratios := make([]float64, rounds)
		for r := range rounds {
			ratios[r] = 100 * l.mbs[r] / direct.mbs[r]
		}
		unit := func(m string) string {
			if l.name == "proxied" {
				return m
			}
			return l.name + "-" + m
		}
		b.ReportMetric(median(l.mbs), unit("proxied-MB/s"))
		b.ReportMetric(median(ratios), unit("%-of-direct"))
		b.ReportMetric(slices.Min(ratios), unit("%-of-direct-min"))
		b.ReportMetric(slices.Max(ratios), unit("%-of-direct-max"))
		b.ReportMetric(l.cpu.Seconds()/gib(l), unit("proxy-cpu-s/GiB"))
		b.ReportMetric(float64(l.hwmKiB)/1024, unit("proxy-peak-RSS-MiB"))
		b.Logf("%s: %s MB/s (median %.1f); ÷ direct, round by round: %s%% (median %.1f%%, %.1f-%.1f%%); proxy CPU %.2f s per GiB; git's CPU %.2f s per GiB; proxy peak RSS (VmHWM) %.1f MiB",
			l.name, fmtRuns(l.mbs), median(l.mbs), fmtRuns(ratios), median(ratios), slices.Min(ratios), slices.Max(ratios),
			l.cpu.Seconds()/gib(l), l.gitCPU.Seconds()/gib(l), float64(l.hwmKiB)/1024)
	}
}

// benchRounds is the number of rounds: 5, or PROXY_BENCH_ROUNDS.
func benchRounds(b *testing.B) int {
	n := 5
	if s := os.Getenv("PROXY_BENCH_ROUNDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("PROXY_BENCH_ROUNDS=%q: want a count", s)
		}
	}
	return n
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// startProxy starts a proxy binary in dir (bin, or this package built
// when bin is ""), with a credentials file and extra flags; it returns its
// serving process's pid, its address and CA certificate file, and stops
// it when the benchmark ends.
func startProxy(b *testing.B, dir, bin string, extra ...string) (pid int, addr, caFile string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if bin == "" {
		bin = filepath.Join(dir, "github-token-proxy")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	creds := filepath.Join(dir, "credentials.json")
	data, _ := json.Marshal(map[string]any{"token": "ghs_" + strings.Repeat("x", 516), "validUntil": time.Now().Add(time.Hour).Unix()})
	if err := os.WriteFile(creds, data, 0o600); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	caFile = filepath.Join(dir, "proxy-ca.pem")
	cmd := exec.Command(bin, append([]string{"-listen", addr, "-credentials", creds, "-ca-cert-out", caFile}, extra...)...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	for i := 0; ; i++ {
		if fi, err := os.Stat(caFile); err == nil && fi.Size() > 0 {
			break
		}
		if i == 200 {
			b.Fatal("the proxy did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return servingProcess(b, cmd.Process.Pid), addr, caFile
}

// servingProcess is the supervising process pid's serving child, once it
// has one.
func servingProcess(b *testing.B, pid int) int {
	for i := 0; i < 200; i++ {
		if c := childOf(pid); c != 0 {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("the proxy started no serving process")
	return 0
}

// benchSize is the transfer size: 256 MiB, or PROXY_BENCH_MB.
func benchSize(b *testing.B) int64 {
	size := int64(256 << 20)
	if s := os.Getenv("PROXY_BENCH_MB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		size = int64(n) << 20
	}
	return size
}
