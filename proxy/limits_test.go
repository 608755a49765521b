package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitOpen waits (bounded) until the gate has at most want open.
func waitOpen(t *testing.T, g *gate, want int64) {
	t.Helper()
	for i := 0; g.open.Load() > want; i++ {
		if i == 200 {
			t.Fatalf("%d open, want at most %d", g.open.Load(), want)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// readRefusal reads what the proxy answers a connection it will not
// serve.
func readRefusal(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.Status + "\n" + string(body)
}

// TestConnectionLimit: past -max-conns, a connection is answered 503
// with the reason and closed; once one closes, the next is served.
func TestConnectionLimit(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.MaxConns = 4 })
	var held []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitOpen(t, e.p.connGate, 4)
	for e.p.connGate.open.Load() < 4 {
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := "503 Service Unavailable (github-token-proxy: refused: 4 connections are open, the most -max-conns allows; close one and retry)\n" +
		"github-token-proxy: refused: 4 connections are open, the most -max-conns allows; close one and retry\n"
	if got := readRefusal(t, c); got != want {
		t.Errorf("the fifth connection got %q, want %q", got, want)
	}
	// A Go client (gh) prints the status line's reason.
	if _, err := e.client().Get("https://api.github.com/user"); err == nil || !strings.Contains(err.Error(), "the most -max-conns allows") {
		t.Errorf("a Go client's error: %v", err)
	}
	held[0].Close()
	waitOpen(t, e.p.connGate, 3)
	if status, _ := e.do(e.client(), "GET", "https://api.github.com/user", nil); status != 200 {
		t.Errorf("after one closed: %d", status)
	}
	if got := e.p.metrics.refusedCount(reasonLimit); got != 2 {
		t.Errorf("refused{limit} = %d, want 2", got)
	}
	if !strings.Contains(e.logs.String(), `"msg":"a bound refused","bound":"-max-conns"`) {
		t.Errorf("no log line for the refusals:\n%s", e.logs.String())
	}
}

// TestTunnelLimit: past -max-tunnels a CONNECT to another host is
// answered 503 with the reason; the configured hosts are still served,
// and once a tunnel closes the next one opens.
func TestTunnelLimit(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.MaxTunnels = 2 })
	var held []net.Conn
	for range 2 {
		c, _, status := rawConnect(t, e.addr, "evil.example:443")
		if !strings.HasPrefix(status, "200") {
			t.Fatalf("tunnel: %q", status)
		}
		held = append(held, c)
	}
	_, _, status := rawConnect(t, e.addr, "evil.example:443")
	want := "503 Service Unavailable (github-token-proxy: refused: 2 tunnels are open, the most -max-tunnels allows; close one and retry)"
	if !strings.HasPrefix(status, want) {
		t.Errorf("the third tunnel: %q, want %q", status, want)
	}
	if status, _ := e.do(e.client(), "GET", "https://api.github.com/user", nil); status != 200 {
		t.Errorf("GitHub while the tunnels are full: %d", status)
	}
	held[0].Close()
	waitOpen(t, e.p.tunnelGate, 1)
	if _, _, status := rawConnect(t, e.addr, "evil.example:443"); !strings.HasPrefix(status, "200") {
		t.Errorf("after one closed: %q", status)
	}
}

// TestHeaderLimit: a header block past 16 KiB is answered 431 and the
// connection closed, on the proxy's port and inside a terminated
// connection; 12 KiB passes.
func TestHeaderLimit(t *testing.T) {
	e := newEnv(t, nil, nil)
	pad := func(n int) string {
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, "X-Pad-%d: %s\r\n", i, strings.Repeat("a", 100))
		}
		return b.String()
	}
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go io.WriteString(c, "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n"+pad(64<<10)+"\r\n")
	if got := readRefusal(t, c); !strings.HasPrefix(got, "431 Request Header Fields Too Large") {
		t.Errorf("CONNECT with 64 KiB of headers: %q", got)
	}

	conn, br, status := rawConnect(t, e.addr, "api.github.com:443")
	if !strings.HasPrefix(status, "200") {
		t.Fatal(status)
	}
	tc := tls.Client(&bufferedConn{Conn: conn, r: br}, &tls.Config{ServerName: "api.github.com", RootCAs: e.caPool()})
	defer tc.Close()
	go io.WriteString(tc, "GET /user HTTP/1.1\r\nHost: api.github.com\r\n"+pad(64<<10)+"\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET with 64 KiB of headers inside: %v %v", resp, err)
	}

	status2, _ := rawRequest(t, e, "api.github.com", "GET /user HTTP/1.1\r\nHost: api.github.com\r\n"+pad(12<<10)+"Connection: close\r\n\r\n")
	if status2 != 200 {
		t.Errorf("GET with 12 KiB of headers: %d", status2)
	}
	if n := len(e.github.requests()); n != 1 {
		t.Errorf("GitHub got %d requests, want the one within the bound", n)
	}
}

// TestMetricsConnectionLimit: the metrics listener, which the agent can
// reach on loopback too, serves a few connections at once and refuses the
// rest.
func TestMetricsConnectionLimit(t *testing.T) {
	e := newEnv(t, nil, nil)
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.p.ServeMetrics(ml)
	for range metricsMaxConns {
		c, err := net.Dial("tcp", ml.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitOpen(t, e.p.metricsGate, metricsMaxConns)
	for e.p.metricsGate.open.Load() < metricsMaxConns {
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("tcp", ml.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := readRefusal(t, c); !strings.Contains(got, "the most the metrics listener allows") {
		t.Errorf("a ninth metrics connection: %q", got)
	}
}

// TestPlainIdleConnectionsBounded: plain-HTTP forwarding keeps a few idle
// connections to other hosts, however many hosts the agent names (each
// name its own pool): the proxy holds at most plainMaxIdle.
func TestPlainIdleConnectionsBounded(t *testing.T) {
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
	srv.Start()
	defer srv.Close()
	const hosts = 40
	e := newEnv(t, nil, func(c *Config) {
		for i := range hosts {
			c.Resolve[fmt.Sprintf("h%d.example", i)] = srv.Listener.Addr().String()
		}
	})
	c := e.client()
	for i := range hosts {
		if status, body := e.do(c, "GET", fmt.Sprintf("http://h%d.example/", i), nil); status != 200 || body != "ok" {
			t.Fatalf("GET h%d.example: %d %q", i, status, body)
		}
	}
	c.CloseIdleConnections()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(open)
	}
	for i := 0; count() > plainMaxIdle && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(); n > plainMaxIdle {
		t.Errorf("the proxy holds %d connections to other hosts after %d plain-HTTP requests, want at most %d", n, hosts, plainMaxIdle)
	}
}
