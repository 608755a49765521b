// Package proxy is github-token-proxy: an HTTPS proxy on the pod's
// loopback that injects the GitHub installation token Vault Agent renders
// into the agent's requests to the configured GitHub hosts, so the agent
// itself never holds the token. It imports nothing of Vault or the engine.
//
// One file per concern: proxy.go (the listener, CONNECT and tunnels),
// terminate.go (TLS termination and the reverse proxy), ca.go (the
// certificate authority), cabundle.go (the CA bundle), inject.go (the
// injection rule), token.go (the token file), methods.go (requests never
// sent with the token), addrpolicy.go (where tunnels may go), limits.go
// (what a client can make the proxy hold), memlimit.go (the soft memory
// limit), supervise.go (the process that holds the port), audit.go (log
// lines and metrics), conn.go (connection plumbing and timeouts),
// config.go (settings).
package proxy

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Every timeout, in one place.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	readHeaderTimeout     = 30 * time.Second
	keepAliveIdleTimeout  = 90 * time.Second // an HTTP connection between requests
	streamIdleTimeout     = 5 * time.Minute  // a connection moving no byte either way
	responseHeaderTimeout = 5 * time.Minute  // GitHub computing a pack or running hooks
)

// copyBuffers lends the reverse proxy 32 KiB buffers for streaming bodies
// (its default size, pooled). The response's batchWriter (terminate.go)
// gathers what is read into fuller writes, so a larger copy buffer would
// only hold more memory per stream.
var copyBuffers = &bufferPool{sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bufferPool struct{ sync.Pool }

func (p *bufferPool) Get() []byte  { return *(p.Pool.Get().(*[]byte)) }
func (p *bufferPool) Put(b []byte) { p.Pool.Put(&b) }

// Proxy is one running github-token-proxy.
type Proxy struct {
	cfg     Config
	hosts   map[string]bool
	log     *slog.Logger
	ca      *authority
	tokens  *tokenSource
	metrics *metrics
	scope   scopeState // write-scope enforcement (scope.go)

	upstream *http.Transport // TLS to configured hosts
	plain    *http.Transport // plain HTTP to other hosts, no token
	inject   *httputil.ReverseProxy
	forward  *httputil.ReverseProxy

	outer, inner *http.Server
	innerL       *chanListener

	connGate, tunnelGate, metricsGate *gate
	replay                            *gate // bytes of request bodies kept for a replay
	connLog, tunnelLog, metricsLog    *limitLog

	mu        sync.Mutex
	closed    bool
	conns     map[net.Conn]struct{} // hijacked client connections
	servers   []*http.Server        // metrics servers
	listeners []netip.AddrPort      // where Serve and ServeMetrics listen
	wg        sync.WaitGroup
}

// New checks cfg, makes the certificate authority and writes its
// certificate to cfg.CACertOut. Errors name the flag at fault.
func New(cfg Config) (*Proxy, error) {
	roots, err := cfg.check()
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cfg: cfg, hosts: map[string]bool{}, log: log, metrics: newMetrics(), conns: map[net.Conn]struct{}{},
		connGate:    &gate{max: int64(cmp.Or(cfg.MaxConns, DefaultMaxConns))},
		tunnelGate:  &gate{max: int64(cmp.Or(cfg.MaxTunnels, DefaultMaxTunnels))},
		metricsGate: &gate{max: metricsMaxConns},
		replay:      &gate{max: replayBudget},
		connLog:     &limitLog{log: log, what: "-max-conns"},
		tunnelLog:   &limitLog{log: log, what: "-max-tunnels"},
		metricsLog:  &limitLog{log: log, what: "metrics connections"},
	}
	p.metrics.connsOpen, p.metrics.tunnelsOpen = &p.connGate.open, &p.tunnelGate.open
	for _, h := range cfg.Hosts {
		p.hosts[normalHost(h)] = true
	}
	if cfg.CA != nil {
		p.ca = cfg.CA.a // its files are written by whoever made it
	} else {
		ca, err := NewCA(cfg.Hosts)
		if err != nil {
			return nil, err
		}
		if err := ca.WriteFiles(cfg.CACertOut, cfg.CABundleOut); err != nil {
			return nil, err
		}
		p.ca = ca.a
	}
	p.tokens = &tokenSource{path: cfg.Credentials, margin: cfg.Margin, wait: cfg.Wait, onWait: func() { p.metrics.waits.Add(1) }, log: log}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)

	p.upstream = &http.Transport{
		DialContext:           p.dial,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       keepAliveIdleTimeout,
		MaxIdleConnsPerHost:   8,
		MaxConnsPerHost:       cmp.Or(cfg.MaxUpstreamConns, DefaultMaxUpstreamConns),
		DisableCompression:    true, // pass bodies as GitHub sends them
		// The read buffer stays at its default 4 KiB, smaller than the
		// reverse proxy's copy buffer: a body's reads then go straight
		// from the TLS connection into the copy buffer, with no copy
		// through this one (a larger one held each byte once more).
		WriteBufferSize: 64 << 10,
	}
	p.plain = &http.Transport{
		DialContext:           p.dialOther,
		DisableCompression:    true,
		ResponseHeaderTimeout: responseHeaderTimeout,
		IdleConnTimeout:       keepAliveIdleTimeout,
		MaxIdleConns:          plainMaxIdle,
	}
	p.inject = &httputil.ReverseProxy{
		Rewrite:      p.rewriteTerminated,
		Transport:    &injector{tokens: p.tokens, base: p.upstream, metrics: p.metrics, replay: p.replay},
		ErrorHandler: p.upstreamError,
		ErrorLog:     errLog,
		BufferPool:   copyBuffers,
	}
	p.forward = &httputil.ReverseProxy{
		Rewrite:      func(pr *httputil.ProxyRequest) { pr.Out.Host = "" },
		Transport:    p.plain,
		ErrorHandler: p.upstreamError,
		ErrorLog:     errLog,
	}
	p.outer = &http.Server{
		Handler:           http.HandlerFunc(p.serveProxy),
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       keepAliveIdleTimeout,
		ErrorLog:          errLog,
	}
	p.innerL = newChanListener()
	p.inner = &http.Server{
		Handler:           http.HandlerFunc(p.serveTerminated),
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       keepAliveIdleTimeout,
		ErrorLog:          errLog,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, terminatedKey{}, c)
		},
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.inner.Serve(p.innerL) // returns when Close closes innerL
	}()
	return p, nil
}

// Serve answers proxy requests on l, which must be on loopback, until
// Close.
func (p *Proxy) Serve(l net.Listener) error {
	if err := CheckLoopback("-listen", l.Addr().String()); err != nil {
		return err
	}
	p.listening(l)
	l = newLimitListener(l, p.connGate, "-max-conns", func() { p.metrics.refuse(reasonLimit); p.connLog.refused() })
	if err := p.outer.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeMetrics answers GET /metrics on l (loopback only) until Close.
func (p *Proxy) ServeMetrics(l net.Listener) error {
	if err := CheckLoopback("-metrics-listen", l.Addr().String()); err != nil {
		return err
	}
	p.listening(l)
	l = newLimitListener(l, p.metricsGate, "the metrics listener", func() { p.metrics.refuse(reasonLimit); p.metricsLog.refused() })
	s := &http.Server{Handler: p.metrics, MaxHeaderBytes: maxHeaderBytes, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: keepAliveIdleTimeout}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.servers = append(p.servers, s)
	p.mu.Unlock()
	if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the listeners, closes every connection and waits for their
// goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	servers := p.servers
	p.mu.Unlock()
	err := p.outer.Close()
	for _, s := range servers {
		s.Close()
	}
	p.innerL.Close()
	p.inner.Close()
	p.wg.Wait()
	p.upstream.CloseIdleConnections()
	p.plain.CloseIdleConnections()
	return err
}

func (p *Proxy) configured(host string) bool { return p.hosts[host] }

// listening records l's address as one of the proxy's own, which no
// tunnel may reach.
func (p *Proxy) listening(l net.Listener) {
	if a, err := netip.ParseAddrPort(l.Addr().String()); err == nil {
		p.mu.Lock()
		p.listeners = append(p.listeners, netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
		p.mu.Unlock()
	}
}

// dial connects to a configured host's addr, or to where -resolve sends
// it, with the dial timeout and the idle timeout on the connection. Other
// hosts go through dialOther and its address policy.
func (p *Proxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if to, ok := p.cfg.Resolve[normalHost(host)]; ok {
			addr = to
		}
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return newIdleConn(c, streamIdleTimeout), nil
}

// serveProxy is the handler of the listening port: CONNECT, or plain
// HTTP in absolute form; nothing else.
func (p *Proxy) serveProxy(w http.ResponseWriter, r *http.Request) {
	switch {
	case !loopbackRemote(r.RemoteAddr):
		p.refuse(w, r, http.StatusForbidden, reasonNotLoopback,
			"github-token-proxy: refused: requests must come from loopback (the proxy serves its own pod only)")
	case r.Method == http.MethodConnect:
		p.connect(w, r)
	case r.URL.IsAbs():
		p.plainHTTP(w, r)
	default:
		p.refuse(w, r, http.StatusBadRequest, reasonNotConnect,
			"github-token-proxy: refused: this is an HTTPS proxy; send requests through it (HTTPS_PROXY=http://"+r.Host+"), not to it")
	}
}

// refuse answers a request the proxy will not serve, with the reason in
// the body, and logs it.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	p.metrics.refuse(reason)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if r.URL.IsAbs() {
		host = r.URL.Hostname()
	}
	p.audit(auditLine{method: r.Method, host: normalHost(host), path: r.URL.Path, status: status, out: int64(len(msg) + 1), start: time.Now(), rec: &record{refused: reason}})
}

// refuseConnect refuses a CONNECT with the reason in the status line too:
// clients print a failed CONNECT's reason phrase (Go, so gh) or show it
// with -v (curl, GIT_CURL_VERBOSE), not its body.
func (p *Proxy) refuseConnect(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.refuse(w, r, status, reason, msg)
		return
	}
	defer conn.Close()
	p.metrics.refuse(reason)
	phrase := strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
	fmt.Fprintf(brw, "HTTP/1.1 %d %s (%s)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n",
		status, http.StatusText(status), phrase, len(msg)+1, msg)
	_ = brw.Flush()
	host, _, _ := net.SplitHostPort(r.Host)
	p.audit(auditLine{method: r.Method, host: normalHost(host), status: status, out: int64(len(msg) + 1), start: time.Now(), rec: &record{refused: reason}})
}

// connect serves a CONNECT: TLS terminated with the token for a
// configured host on port 443, a raw tunnel or a refusal for any other.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		p.refuseConnect(w, r, http.StatusBadRequest, reasonNotConnect, "github-token-proxy: refused: CONNECT needs HOST:PORT")
		return
	}
	host = normalHost(host)
	if p.hosts[host] {
		if port != "443" {
			p.refuseConnect(w, r, http.StatusForbidden, reasonPort,
				fmt.Sprintf("github-token-proxy: refused: CONNECT to %s on port %s; it is served on port 443 only", host, port))
			return
		}
		p.terminate(w, host, start)
		return
	}
	if p.cfg.OtherHosts == OtherHostsRefuse {
		p.refuseConnect(w, r, http.StatusForbidden, reasonOtherHost,
			fmt.Sprintf("github-token-proxy: refused: %s is not a configured host (-hosts) and -other-hosts is refuse", host))
		return
	}
	p.tunnel(w, r, host, start)
}

// hijack takes the client connection over after a 200 to CONNECT, with
// the server's deadlines cleared and the idle timeout set, and tracks it
// until release.
func (p *Proxy) hijack(w http.ResponseWriter) (net.Conn, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	var c net.Conn = conn
	if brw.Reader.Buffered() > 0 {
		c = &bufferedConn{Conn: conn, r: brw.Reader}
	}
	c = newIdleConn(c, streamIdleTimeout)
	if !p.track(c) {
		c.Close()
		return nil, net.ErrClosed
	}
	return c, nil
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	return true
}

// begin counts a handler in, so that Close waits for it; false after
// Close.
func (p *Proxy) begin() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

func (p *Proxy) release(c net.Conn) {
	p.mu.Lock()
	_, ok := p.conns[c]
	delete(p.conns, c)
	p.mu.Unlock()
	if ok {
		p.wg.Done()
	}
}

// tunnel connects the client to an unconfigured host byte for byte: no
// TLS termination, no token.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, host string, start time.Time) {
	if !p.tunnelGate.acquire() {
		p.tunnelLog.refused()
		p.refuseConnect(w, r, http.StatusServiceUnavailable, reasonLimit,
			fmt.Sprintf("github-token-proxy: refused: %d tunnels are open, the most -max-tunnels allows; close one and retry", p.tunnelGate.max))
		return
	}
	defer p.tunnelGate.release()
	up, err := p.dialOther(r.Context(), "tcp", r.Host)
	if msg, ok := isRefused(err); ok {
		p.refuseConnect(w, r, http.StatusForbidden, reasonAddress, msg)
		return
	}
	if err != nil {
		p.refuseConnect(w, r, http.StatusBadGateway, reasonUpstream,
			fmt.Sprintf("github-token-proxy: cannot reach %s: %v", r.Host, err))
		return
	}
	client, err := p.hijack(w)
	if err != nil {
		up.Close()
		return
	}
	in, out := pipe(client, up)
	p.audit(auditLine{method: http.MethodConnect, host: host, status: http.StatusOK, in: in, out: out, start: start, tunnel: true})
	p.release(client)
}

// pipe copies both ways until either direction ends, then closes both
// (HTTPS does not rely on half-closed connections). It returns the bytes a
// sent to b and b sent to a.
func pipe(a, b net.Conn) (ab, ba int64) {
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(b, a)
		a.Close()
		b.Close()
		done <- n
	}()
	ba, _ = io.Copy(a, b)
	a.Close()
	b.Close()
	return <-done, ba
}

// loopbackRemote reports whether a request's RemoteAddr is loopback.
func loopbackRemote(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bufferedConn reads first what the HTTP server had already buffered
// (a client may send its TLS hello right behind CONNECT).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(b)
	}
	return c.Conn.Read(b)
}
