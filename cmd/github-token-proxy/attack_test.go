package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The agent's attacks on the real binary (issue 22 item 9), run as
// examples/runner/k8s/proxy-pod.yaml runs it: the manifest's command line
// (paths moved into a temporary directory, -listen on a free port, GitHub
// sent to a local git server with -resolve and -upstream-ca) and the soft
// memory limit the proxy sets itself under the manifest's memory limit
// (three quarters of it; outside a cgroup the test gives it as
// GOMEMLIMIT). Each attack is held while the proxy's memory is sampled and
// real git clones through it; the proxy must stay up (the same serving
// process), keep serving git, and stay under the manifest's limit: the
// serving process's peak RSS (VmHWM) plus the supervising process's anonymous
// memory (the binary's pages they share are counted once, in the first).
//
// PROXY_BIN runs the attacks against another build (e.g. main's) to
// measure it; the assertions then say what that build does.

// proxyBin is the binary under test: PROXY_BIN, or this package built
// once per test run.
var proxyBin = sync.OnceValues(func() (string, error) {
	if b := os.Getenv("PROXY_BIN"); b != "" {
		return b, nil
	}
	dir, err := os.MkdirTemp("", "github-token-proxy-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "github-token-proxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// manifestProxy reads the proxy container of proxy-pod.yaml: its command
// (without the program name) and its memory limit in bytes. A reading of
// the lines the manifest has, not a YAML parser: the acceptance test
// parses the manifest whole.
func manifestProxy(t testing.TB) (args []string, limit int64) {
	t.Helper()
	data, err := os.ReadFile("../../examples/runner/k8s/proxy-pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	in, inCommand, inLimits := false, false, false
	for _, l := range lines {
		tl := strings.TrimSpace(l)
		switch {
		case tl == "- name: github-token-proxy":
			in = true
		case !in:
		case tl == "command:":
			inCommand = true
		case inCommand && strings.HasPrefix(tl, "- "):
			args = append(args, strings.Trim(strings.TrimPrefix(tl, "- "), `"`))
		case inCommand:
			inCommand = false
			if tl == "limits:" {
				inLimits = true
			}
		case tl == "limits:":
			inLimits = true
		case inLimits && strings.HasPrefix(tl, "memory:"):
			v := strings.TrimSpace(strings.TrimPrefix(tl, "memory:"))
			n, err := strconv.ParseInt(strings.TrimSuffix(v, "Mi"), 10, 64)
			if err != nil || !strings.HasSuffix(v, "Mi") {
				t.Fatalf("the proxy's memory limit %q: want NNMi", v)
			}
			limit = n << 20
		case strings.HasPrefix(tl, "- name: "):
			in = false
		}
		if limit != 0 {
			break
		}
	}
	if len(args) < 2 || args[0] != "github-token-proxy" || limit == 0 {
		t.Fatalf("proxy-pod.yaml: command %q, memory limit %d", args, limit)
	}
	return args[1:], limit
}

// gitServer is GitHub for these tests: git-http-backend over TLS for
// github.com, refusing any request without the token.
type gitServer struct {
	addr, caFile, token string
}

func newGitServer(t testing.TB) *gitServer {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "repos")
	bare := filepath.Join(root, "octo", "hello.git")
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
			"GIT_AUTHOR_NAME=o", "GIT_AUTHOR_EMAIL=o@example.com", "GIT_COMMITTER_NAME=o", "GIT_COMMITTER_EMAIL=o@example.com")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "--bare", "-b", "main", bare)
	tree := git("--git-dir", bare, "hash-object", "-w", "-t", "tree", "/dev/null")
	git("--git-dir", bare, "update-ref", "refs/heads/main", git("--git-dir", bare, "commit-tree", "-m", "first", tree))
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	g := &gitServer{token: "ghs_" + strings.Repeat("T", 516)}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+g.token))
	bearer := "Bearer " + g.token
	_, caPEM, leaf := benchCerts(t, "github.com", "api.github.com")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != want && a != bearer {
			http.Error(w, "need the token", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/octo/slow" {
			// GitHub slow to answer: hold the request until the client
			// goes (at most 20 s).
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			return
		}
		if r.URL.Path == "/octo/big" {
			// A large download (an archive, a release asset): 64 MiB,
			// or until the client stops reading.
			for range 64 {
				if _, err := w.Write(megabyte); err != nil {
					return
				}
			}
			return
		}
		backend.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	g.addr = srv.Listener.Addr().String()
	g.caFile = filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(g.caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return g
}

// proxyProc is the binary running.
type proxyProc struct {
	t                   testing.TB
	cmd                 *exec.Cmd
	addr, caFile, creds string
	exited              chan struct{}
	stderr              *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startManifestProxy starts bin with the manifest's flags (paths moved
// under a temporary directory, -listen and -metrics-listen on free ports),
// extra flags, GitHub at g, and env; it waits for the CA certificate, as
// the pod's startup probe does.
func startManifestProxy(t testing.TB, bin string, g *gitServer, env []string, extra ...string) *proxyProc {
	t.Helper()
	margs, _ := manifestProxy(t)
	dir := t.TempDir()
	p := &proxyProc{t: t, addr: freeAddr(t), exited: make(chan struct{}), stderr: &lockedBuffer{}}
	var args []string
	for i := 0; i < len(margs); i++ {
		a := margs[i]
		args = append(args, a)
		if i+1 == len(margs) || !strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
			continue
		}
		v := margs[i+1]
		switch a {
		case "-listen":
			v = p.addr
		case "-metrics-listen":
			v = freeAddr(t)
		case "-credentials":
			p.creds = filepath.Join(dir, filepath.Base(v))
			v = p.creds
		case "-ca-cert-out":
			p.caFile = filepath.Join(dir, filepath.Base(v))
			v = p.caFile
		case "-ca-bundle-out":
			v = filepath.Join(dir, filepath.Base(v))
		}
		args = append(args, v)
		i++
	}
	data, _ := json.Marshal(map[string]any{"token": g.token, "validUntil": time.Now().Add(time.Hour).Unix()})
	if err := os.WriteFile(p.creds, data, 0o440); err != nil {
		t.Fatal(err)
	}
	args = append(args, "-upstream-ca", g.caFile, "-resolve", "github.com="+g.addr, "-resolve", "api.github.com="+g.addr)
	args = append(args, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			t.Error("the proxy did not stop within 10 s of SIGTERM")
		}
	})
	for i := 0; ; i++ {
		if fi, err := os.Stat(p.caFile); err == nil && fi.Size() > 0 {
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("the proxy exited at start: %s", p.stderr.String())
		default:
		}
		if i == 400 {
			t.Fatalf("no CA certificate after 20 s: %s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// servingPID is the process that serves: the supervisor's child, or the
// started process itself when it has none (a build without one).
func (p *proxyProc) servingPID() int {
	for i := 0; i < 100; i++ {
		if c := childOf(p.cmd.Process.Pid); c != 0 {
			return c
		}
		if strings.Contains(p.stderr.String(), `"msg":"listening"`) {
			return p.cmd.Process.Pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p.cmd.Process.Pid
}

// childOf is pid's only child, 0 if it has none or several. Each thread
// lists the children it forked, and a Go process forks from any thread.
func childOf(pid int) int {
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

// procStatus is a field of /proc/PID/status in bytes (0 if the process is
// gone).
func procStatus(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// gitThrough runs git ls-remote through the proxy and returns its error.
func gitThrough(t testing.TB, p *proxyProc) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, "git", "ls-remote", "https://github.com/octo/hello.git")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "HTTPS_PROXY=http://" + p.addr, "GIT_SSL_CAINFO=" + p.caFile,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
	out, err := cmd.CombinedOutput()
	if err == nil && !strings.Contains(string(out), "refs/heads/main") {
		err = fmt.Errorf("no refs/heads/main in %q", out)
	}
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// readerConn reads first what a bufio.Reader holds.
type readerConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readerConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// agent is the attacker's side: its connections, closed at the end.
type agent struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (a *agent) dial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		a.mu.Lock()
		a.conns = append(a.conns, c)
		a.mu.Unlock()
	}
	return c, err
}

func (a *agent) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		c.Close()
	}
	a.conns = nil
}

var megabyte = bytes.Repeat([]byte("m"), 1<<20)

// chunk is what each end of an agent's tunnel sends through it: enough to
// fill the proxy's copy buffers, as traffic does.
var chunk = bytes.Repeat([]byte("x"), 64<<10)

// agentListener is a listener the agent owns: it accepts, sends a chunk
// and holds.
func agentListener(t testing.TB, a *agent) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.conns = append(a.conns, c)
			a.mu.Unlock()
			go c.Write(chunk)
		}
	}()
	return l.Addr().String()
}

// tunnels opens n CONNECTs to target at once, each on its own
// connection, sends a chunk through each that opens and reads nothing
// back; it returns how many got 200 and how many a refusal.
func tunnels(a *agent, proxyAddr, target string, n int) (opened, refused int64) {
	var wg sync.WaitGroup
	var o, r atomic.Int64
	sem := make(chan struct{}, 64)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := a.dial(proxyAddr)
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
			_ = c.SetDeadline(time.Time{})
			if err != nil {
				return
			}
			if resp.StatusCode == 200 {
				o.Add(1)
				go c.Write(chunk)
			} else {
				r.Add(1)
			}
		}()
	}
	wg.Wait()
	return o.Load(), r.Load()
}

// TestSurvivesAgentAttacks: each attack of issue 22 item 9 on the real
// binary, at the manifest's limits.
func TestSurvivesAgentAttacks(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal(err)
	}
	bin, err := proxyBin()
	if err != nil {
		t.Fatal(err)
	}
	_, limit := manifestProxy(t)
	g := newGitServer(t)
	env := []string{fmt.Sprintf("GOMEMLIMIT=%dMiB", limit*3/4>>20)}
	attacks := []struct {
		name  string
		flags []string
		// run starts the attack and returns when it is in place; what
		// it says is logged.
		run func(t *testing.T, p *proxyProc, a *agent) string
		// gitDuring: git must work while the attack is held (else only
		// once the agent lets go: it may hold every connection).
		gitDuring bool
	}{
		{"3000 nested CONNECTs to the proxy itself in one write", nil, func(t *testing.T, p *proxyProc, a *agent) string {
			c, err := a.dial(p.addr)
			if err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", p.addr, p.addr)
			go io.WriteString(c, strings.Repeat(line, 3000))
			// Read what comes back until it stops for a second.
			var n int64
			for {
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				k, err := io.Copy(io.Discard, c)
				n += k
				if err == nil || k == 0 {
					break
				}
			}
			return fmt.Sprintf("%d bytes came back", n)
		}, true},
		{"900 tunnels to a loopback listener the agent owns", nil, func(t *testing.T, p *proxyProc, a *agent) string {
			target := agentListener(t, a)
			o, r := tunnels(a, p.addr, target, 900)
			return fmt.Sprintf("%d tunnels opened, %d refused", o, r)
		}, true},
		{"900 tunnels to a host of the agent's elsewhere", []string{"-resolve", "agent.example=AGENT"}, func(t *testing.T, p *proxyProc, a *agent) string {
			o, r := tunnels(a, p.addr, "agent.example:443", 900)
			return fmt.Sprintf("%d tunnels opened, %d refused", o, r)
		}, true},
		{"100 connections holding 1 MiB of headers each, -other-hosts refuse", []string{"-other-hosts", "refuse"}, func(t *testing.T, p *proxyProc, a *agent) string {
			var pad strings.Builder
			pad.WriteString("CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n")
			for i := 0; pad.Len() < 1000<<10; i++ {
				fmt.Fprintf(&pad, "X-Pad-%d: %s\r\n", i, strings.Repeat("a", 1000))
			}
			var wg sync.WaitGroup
			var sent atomic.Int64
			for range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := a.dial(p.addr)
					if err != nil {
						return
					}
					_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
					n, _ := io.WriteString(c, pad.String())
					sent.Add(int64(n))
				}()
			}
			wg.Wait()
			return fmt.Sprintf("%d MiB of headers sent", sent.Load()>>20)
		}, true},
		{"every bound at once: 128 tunnels with traffic, 128 downloads not read", []string{"-resolve", "agent.example=AGENT"}, func(t *testing.T, p *proxyProc, a *agent) string {
			o, r := tunnels(a, p.addr, "agent.example:443", 128)
			pool := x509.NewCertPool()
			pem, err := os.ReadFile(p.caFile)
			if err != nil || !pool.AppendCertsFromPEM(pem) {
				t.Fatalf("the proxy's CA: %v", err)
			}
			var wg sync.WaitGroup
			var started atomic.Int64
			for range 128 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := a.dial(p.addr)
					if err != nil {
						return
					}
					_ = c.SetDeadline(time.Now().Add(20 * time.Second))
					fmt.Fprintf(c, "CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\n\r\n")
					br := bufio.NewReader(c)
					if resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect}); err != nil || resp.StatusCode != 200 {
						return
					}
					tc := tls.Client(&readerConn{Conn: c, r: br}, &tls.Config{ServerName: "github.com", RootCAs: pool})
					if tc.Handshake() != nil {
						return
					}
					_ = c.SetDeadline(time.Time{})
					a.mu.Lock()
					a.conns = append(a.conns, tc)
					a.mu.Unlock()
					// Ask for the download and read nothing of it.
					fmt.Fprintf(tc, "GET /octo/big HTTP/1.1\r\nHost: github.com\r\n\r\n")
					started.Add(1)
				}()
			}
			wg.Wait()
			return fmt.Sprintf("%d tunnels opened, %d refused; %d downloads asked for", o, r, started.Load())
		}, false},
		{"250 POSTs of 64 KiB that GitHub is slow to answer", nil, func(t *testing.T, p *proxyProc, a *agent) string {
			pool := x509.NewCertPool()
			pem, err := os.ReadFile(p.caFile)
			if err != nil || !pool.AppendCertsFromPEM(pem) {
				t.Fatalf("the proxy's CA: %v", err)
			}
			body := strings.Repeat("b", 64<<10)
			var wg sync.WaitGroup
			var sent atomic.Int64
			for range 250 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := a.dial(p.addr)
					if err != nil {
						return
					}
					_ = c.SetDeadline(time.Now().Add(20 * time.Second))
					fmt.Fprintf(c, "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n\r\n")
					br := bufio.NewReader(c)
					if resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect}); err != nil || resp.StatusCode != 200 {
						return
					}
					tc := tls.Client(&readerConn{Conn: c, r: br}, &tls.Config{ServerName: "api.github.com", RootCAs: pool})
					if tc.Handshake() != nil {
						return
					}
					a.mu.Lock()
					a.conns = append(a.conns, tc)
					a.mu.Unlock()
					if _, err := fmt.Fprintf(tc, "POST /octo/slow HTTP/1.1\r\nHost: api.github.com\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err == nil {
						sent.Add(1)
					}
				}()
			}
			wg.Wait()
			return fmt.Sprintf("%d POSTs sent", sent.Load())
		}, true},
		{"2000 idle connections", nil, func(t *testing.T, p *proxyProc, a *agent) string {
			var held int
			for range 2000 {
				if _, err := a.dial(p.addr); err == nil {
					held++
				}
			}
			return fmt.Sprintf("%d connections dialled", held)
		}, false},
	}
	for _, at := range attacks {
		t.Run(at.name, func(t *testing.T) {
			a := &agent{}
			defer a.close()
			flags := at.flags
			if len(flags) == 2 && strings.HasSuffix(flags[1], "=AGENT") {
				flags = []string{flags[0], strings.TrimSuffix(flags[1], "AGENT") + agentListener(t, a)}
			}
			p := startManifestProxy(t, bin, g, env, flags...)
			if err := gitThrough(t, p); err != nil {
				t.Fatalf("git before the attack: %v", err)
			}
			serving, sup := p.servingPID(), p.cmd.Process.Pid
			// Sample the serving process's RSS while the attack runs.
			stop := make(chan struct{})
			var peak atomic.Int64
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					peak.Store(max(peak.Load(), procStatus(serving, "VmRSS")))
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			said := at.run(t, p, a)
			time.Sleep(2 * time.Second) // held, while the sampler reads
			var during error
			if at.gitDuring {
				during = gitThrough(t, p)
			}
			close(stop)
			<-sampled
			hwm := procStatus(serving, "VmHWM")
			supAnon := int64(0)
			if sup != serving {
				supAnon = procStatus(sup, "RssAnon")
			}
			a.close()
			alive := procStatus(serving, "VmHWM") != 0
			select {
			case <-p.exited:
				alive = false
			default:
			}
			after := gitThrough(t, p)
			t.Logf("%s: serving process VmHWM %.1f MiB (sampled VmRSS peak %.1f MiB), supervisor RssAnon %.1f MiB; limit %d MiB; alive %v; git during: %v; git after: %v",
				said, float64(hwm)/(1<<20), float64(peak.Load())/(1<<20), float64(supAnon)/(1<<20), limit>>20, alive, during, after)
			if !alive {
				t.Errorf("the serving process %d died", serving)
			}
			if hwm+supAnon >= limit {
				t.Errorf("peak %.1f MiB, over the manifest's %d MiB: the container would be OOM-killed", float64(hwm+supAnon)/(1<<20), limit>>20)
			}
			if during != nil {
				t.Errorf("git during the attack: %v", during)
			}
			if after != nil {
				t.Errorf("git after the attack: %v", after)
			}
			if s := p.servingPID(); s != serving {
				t.Errorf("the serving process changed from %d to %d: it was restarted", serving, s)
			}
		})
	}
}
