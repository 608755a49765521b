package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawConnect opens a CONNECT tunnel to target by hand and returns the
// connection and the proxy's status line.
func rawConnect(t *testing.T, proxyAddr, target string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		return conn, br, resp.Status + "\n" + string(body)
	}
	return conn, br, resp.Status
}

// spoof sends one request with the given SNI and Host through a CONNECT
// to target and returns the response's status and body.
func spoof(t *testing.T, e *env, target, sni, host string, insecure bool) (int, string) {
	t.Helper()
	conn, br, status := rawConnect(t, e.addr, target)
	if !strings.HasPrefix(status, "200") {
		t.Fatalf("CONNECT %s: %s", target, status)
	}
	tc := tls.Client(&bufferedConn{Conn: conn, r: br}, &tls.Config{ServerName: sni, RootCAs: e.caPool(), InsecureSkipVerify: insecure})
	defer tc.Close()
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS to %s with SNI %s: %v", target, sni, err)
	}
	fmt.Fprintf(tc, "GET /user HTTP/1.1\r\nHost: %s\r\nAuthorization: token %s\r\nConnection: close\r\n\r\n", host, placeholder)
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestDecidesByConnectTarget: the token goes only where the connection
// goes. A Host or SNI that disagrees with the CONNECT target is refused
// with 421 and a reason; a CONNECT to a host not configured is tunnelled
// untouched (no termination, no token) or refused; neither the configured
// servers nor the recording server ever see the token from these.
func TestDecidesByConnectTarget(t *testing.T) {
	e := newEnv(t, nil, nil)

	status, body := spoof(t, e, "api.github.com:443", "api.github.com", "evil.example", false)
	if status != http.StatusMisdirectedRequest || !strings.Contains(body, `Host "evil.example" is not the CONNECT target api.github.com`) {
		t.Errorf("Host spoof: %d %q", status, body)
	}
	status, body = spoof(t, e, "api.github.com:443", "github.com", "github.com", false)
	if status != http.StatusMisdirectedRequest || !strings.Contains(body, `TLS server name "github.com" is not the CONNECT target api.github.com`) {
		t.Errorf("SNI spoof: %d %q", status, body)
	}
	status, body = spoof(t, e, "api.github.com:443", "api.github.com", "api.github.com:8443", false)
	if status != http.StatusMisdirectedRequest {
		t.Errorf("Host with another port: %d %q", status, body)
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("refused requests reached the server: %d", n)
	}

	// A CONNECT to a host that is not configured is a raw tunnel: the
	// recording server answers with its own certificate (which the client
	// accepts here only to see what it receives) and gets no token,
	// whatever SNI and Host the client claims.
	status, body = spoof(t, e, "evil.example:443", "api.github.com", "api.github.com", true)
	if status != 200 || body != "ok api.github.com/user" {
		t.Errorf("tunnel to evil.example: %d %q", status, body)
	}
	reqs := e.evil.requests()
	if len(reqs) != 1 || reqs[0].Authorization != "token "+placeholder {
		t.Errorf("the tunnel changed the request: %+v", reqs)
	}
	noTokenIn(t, "evil.example", e.evil.everything(), e.token)

	// Through a client that trusts only the proxy's CA, a tunnel to the
	// recorder fails TLS verification: nothing was terminated.
	if _, err := e.client().Get("https://evil.example/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a tunnelled host was not the real server: %v", err)
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("the configured server saw %d requests", n)
	}
	if got := e.p.metrics.refusedCount(reasonMisdirected); got != 3 {
		t.Errorf("refused{host_mismatch} = %d, want 3", got)
	}
}

// TestOtherHostsRefuse: with -other-hosts refuse, a CONNECT to any other
// host is refused with a 403 whose status line and body say why (Go
// clients, so gh, print the status line's reason).
func TestOtherHostsRefuse(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.OtherHosts = OtherHostsRefuse })
	_, _, status := rawConnect(t, e.addr, "evil.example:443")
	want := "github-token-proxy: refused: evil.example is not a configured host (-hosts) and -other-hosts is refuse"
	if !strings.HasPrefix(status, "403 Forbidden (") || strings.Count(status, want) != 2 {
		t.Errorf("CONNECT evil.example: %q", status)
	}
	_, err := e.client().Get("https://evil.example/")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a Go client's error does not carry the reason: %v", err)
	}
	_, _, status = rawConnect(t, e.addr, "github.com:22")
	if !strings.Contains(status, "403") || !strings.Contains(status, "port 443 only") {
		t.Errorf("CONNECT github.com:22: %q", status)
	}
	if n := len(e.evil.requests()); n != 0 {
		t.Errorf("evil.example got %d requests", n)
	}
}

// TestPlainHTTPNeverCarriesToken: absolute-form plain HTTP to a
// configured host is refused with a reason; to any other host it is
// forwarded without a token (tunnel) or refused (refuse).
func TestPlainHTTPNeverCarriesToken(t *testing.T) {
	for _, mode := range []string{OtherHostsTunnel, OtherHostsRefuse} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, nil, func(c *Config) { c.OtherHosts = mode })
			c := e.client()
			status, body := e.do(c, "GET", "http://api.github.com/user", nil)
			if status != http.StatusForbidden || !strings.Contains(body, "plain HTTP to api.github.com; use https://") {
				t.Errorf("plain HTTP to api.github.com: %d %q", status, body)
			}
			status, body = e.do(c, "GET", "http://plain.example/x?q=1", nil)
			switch mode {
			case OtherHostsTunnel:
				if status != 200 || body != "ok plain.example/x" {
					t.Errorf("plain HTTP to plain.example: %d %q", status, body)
				}
			case OtherHostsRefuse:
				if status != http.StatusForbidden || !strings.Contains(body, "plain.example is not a configured host") {
					t.Errorf("plain HTTP to plain.example: %d %q", status, body)
				}
			}
			if n := len(e.github.requests()); n != 0 {
				t.Errorf("the configured server got %d requests", n)
			}
			noTokenIn(t, "plain.example", e.evilPlain.everything(), e.token)
		})
	}
}

// TestRedirectsPassToClient: a 3xx from GitHub goes back to the client;
// the proxy never follows it, and when the client follows it to a host
// that is not configured, that host gets no token.
func TestRedirectsPassToClient(t *testing.T) {
	e := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://evil.example/codeload/archive.tgz", http.StatusFound)
	}, nil)
	resp, err := e.client().Get("https://api.github.com/repos/o/r/tarball/main")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://evil.example/codeload/archive.tgz" {
		t.Errorf("got %d to %q, want the 302", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(e.evil.requests()); n != 0 {
		t.Errorf("the proxy followed the redirect: evil.example got %d requests", n)
	}
	// A client that follows (and accepts the recorder's certificate).
	proxyURL, _ := url.Parse("http://" + e.addr)
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://api.github.com/repos/o/r/tarball/main")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(e.evil.requests()) != 1 {
		t.Errorf("following: %d, evil.example got %d requests", resp.StatusCode, len(e.evil.requests()))
	}
	noTokenIn(t, "the redirect's target", e.evil.everything(), e.token)
	if n := len(e.github.requests()); n != 2 {
		t.Errorf("GitHub got %d requests, want 2", n)
	}
}

// TestLoopbackOnly: the proxy refuses a request from a non-loopback
// address and anything but CONNECT or absolute form, with reasons, and
// will not serve on a non-loopback listener.
func TestLoopbackOnly(t *testing.T) {
	e := newEnv(t, nil, nil)
	for _, tc := range []struct {
		method, target, remote string
		status                 int
		reason                 string
	}{
		{"CONNECT", "api.github.com:443", "10.1.2.3:40000", 403, "requests must come from loopback"},
		{"GET", "http://plain.example/", "192.168.0.5:40000", 403, "requests must come from loopback"},
		{"CONNECT", "api.github.com:443", "[2001:db8::1]:40000", 403, "requests must come from loopback"},
		{"GET", "/", "127.0.0.1:40000", 400, "this is an HTTPS proxy"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.method == "CONNECT" {
			r.Host, r.URL = tc.target, &url.URL{Host: tc.target}
		}
		r.RemoteAddr = tc.remote
		w := httptest.NewRecorder()
		e.p.serveProxy(w, r)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.reason) {
			t.Errorf("%s %s from %s: %d %q", tc.method, tc.target, tc.remote, w.Code, w.Body.String())
		}
	}
	// Over the wire: a request addressed to the proxy itself.
	resp, err := http.Get("http://" + e.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "HTTPS_PROXY=http://"+e.addr) {
		t.Errorf("GET / on the proxy: %d %q", resp.StatusCode, body)
	}
	if n := len(e.github.requests()) + len(e.evilPlain.requests()); n != 0 {
		t.Errorf("refused requests reached servers: %d", n)
	}

	// A listener on a non-loopback address is refused at Serve.
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := e.p.Serve(l); err == nil || !strings.Contains(err.Error(), "-listen") || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("Serve on 0.0.0.0: %v", err)
	}
}

// TestUpstreamVerified: GitHub's certificate is verified (here against a
// CA that did not sign it): the request fails with a 502 that says why,
// and the token is not sent over the unverified connection.
func TestUpstreamVerified(t *testing.T) {
	other := newTestCA(t)
	e := newEnv(t, nil, func(c *Config) { c.UpstreamCA = other.file })
	status, body := e.do(e.client(), "GET", "https://api.github.com/user", nil)
	if status != http.StatusBadGateway || !strings.Contains(body, "github-token-proxy: api.github.com did not answer: tls: failed to verify certificate") {
		t.Errorf("got %d %q", status, body)
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

// TestTunnelDialFailure: a CONNECT to a host that cannot be reached is a
// 502 whose status line says why.
func TestTunnelDialFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	e := newEnv(t, nil, func(c *Config) { c.Resolve["gone.example"] = closed })
	_, _, status := rawConnect(t, e.addr, "gone.example:443")
	if !strings.HasPrefix(status, "502 Bad Gateway (github-token-proxy: cannot reach gone.example:443: dial tcp "+closed+": connect: connection refused)") {
		t.Errorf("CONNECT gone.example: %q", status)
	}
}
