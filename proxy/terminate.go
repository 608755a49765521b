package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// TLS termination for a CONNECT to a configured host, and the reverse
// proxy that sends the client's requests on with the token. The token goes
// only where the connection goes: the CONNECT target, when the client's
// TLS server name and every request's Host agree with it.

// terminatedKey carries the *terminatedConn in a request's context.
type terminatedKey struct{}

// terminatedConn is a client connection whose TLS the proxy terminated.
type terminatedConn struct {
	net.Conn
	target string // the CONNECT target: a configured host, port 443
	sni    string // the server name the client asked for
	once   sync.Once
	done   func()
}

func (c *terminatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.done)
	return err
}

// terminate answers a CONNECT to target with 200, runs the TLS handshake
// with a certificate for target from the proxy's CA, and hands the
// connection to the inner HTTP server.
func (p *Proxy) terminate(w http.ResponseWriter, target string, start time.Time) {
	raw, err := p.hijack(w)
	if err != nil {
		return
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			// A configured name gets its own certificate, so that a
			// mismatch can be refused over HTTP with a reason; any other
			// name gets the target's, which the client will not accept.
			if name := normalHost(hello.ServerName); p.hosts[name] {
				return p.ca.leaf(name)
			}
			return p.ca.leaf(target)
		},
	}
	tc := tls.Server(raw, conf)
	ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
	err = tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		raw.Close()
		p.release(raw)
		p.log.Warn("tls handshake with the client failed", "host", target, "error", err.Error())
		p.audit(auditLine{method: http.MethodConnect, host: target, status: 0, start: start})
		return
	}
	c := &terminatedConn{Conn: tc, target: target, sni: normalHost(tc.ConnectionState().ServerName), done: func() { p.release(raw) }}
	if !p.innerL.push(c) {
		c.Close()
	}
}

// serveTerminated serves one request on a terminated connection.
func (p *Proxy) serveTerminated(w http.ResponseWriter, r *http.Request) {
	if !p.begin() {
		return
	}
	defer p.wg.Done()
	start := time.Now()
	c, _ := r.Context().Value(terminatedKey{}).(*terminatedConn)
	rec := &record{}
	body := &countingReader{ReadCloser: r.Body}
	r.Body = body
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		p.audit(auditLine{method: r.Method, host: c.target, path: r.URL.Path, status: sw.status, in: body.n.Load(), out: sw.n, start: start, rec: rec})
	}()
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "443"
	}
	if f := checkRequest(r); f != nil {
		p.refuseRequest(sw, r, rec, f) // methods.go
		return
	}
	switch {
	case c.sni != c.target:
		p.deny(sw, rec, http.StatusMisdirectedRequest, reasonMisdirected,
			fmt.Sprintf("github-token-proxy: refused: the TLS server name %q is not the CONNECT target %s; the token goes only where the connection goes", c.sni, c.target))
	case normalHost(host) != c.target || port != "443":
		p.deny(sw, rec, http.StatusMisdirectedRequest, reasonMisdirected,
			fmt.Sprintf("github-token-proxy: refused: the request's Host %q is not the CONNECT target %s; the token goes only where the connection goes", r.Host, c.target))
	default:
		p.serveGitHub(sw, r, c.target, rec) // scope.go
	}
}

// deny answers with a refusal whose body says why, and closes the
// connection: a client does not keep a connection that only gets
// refusals, nor send more on one the proxy found misdirected.
func (p *Proxy) deny(w http.ResponseWriter, rec *record, status int, reason, msg string) {
	p.metrics.refuse(reason)
	rec.refused = reason
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// rewriteTerminated sends the request to the CONNECT target, whatever
// the client wrote, without the client's Authorization (the transport,
// an injector, sets the token's).
func (p *Proxy) rewriteTerminated(pr *httputil.ProxyRequest) {
	c, _ := pr.In.Context().Value(terminatedKey{}).(*terminatedConn)
	pr.Out.URL.Scheme = "https"
	pr.Out.URL.Host = c.target
	pr.Out.URL.User = nil
	pr.Out.Host = ""
	pr.Out.Header.Del("Authorization")
}

// upstreamError answers when the request could not be sent on: 503 when
// no usable token arrived in time, 502 when the server did not answer.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	rec := recordOf(r.Context())
	var te *tokenError
	if errors.As(err, &te) {
		p.deny(w, rec, http.StatusServiceUnavailable, reasonTokenUnavailable, te.msg)
		return
	}
	if msg, ok := isRefused(err); ok {
		p.deny(w, rec, http.StatusForbidden, reasonAddress, msg)
		return
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL and its query
	}
	host := r.URL.Host
	if c, ok := r.Context().Value(terminatedKey{}).(*terminatedConn); ok {
		host = c.target
	}
	p.deny(w, rec, http.StatusBadGateway, reasonUpstream, fmt.Sprintf("github-token-proxy: %s did not answer: %v", host, err))
}

// plainHTTP serves an absolute-form request (plain-HTTP proxying): never
// with a token, never to a configured host.
func (p *Proxy) plainHTTP(w http.ResponseWriter, r *http.Request) {
	host := normalHost(r.URL.Hostname())
	switch {
	case r.URL.Scheme != "http":
		p.refuse(w, r, http.StatusBadRequest, reasonNotConnect,
			fmt.Sprintf("github-token-proxy: refused: %s:// in an absolute-form request; https goes through CONNECT (HTTPS_PROXY)", r.URL.Scheme))
		return
	case p.hosts[host]:
		p.refuse(w, r, http.StatusForbidden, reasonPlainHTTP,
			fmt.Sprintf("github-token-proxy: refused: plain HTTP to %s; use https:// (the token is sent only over TLS, inside CONNECT)", host))
		return
	case p.cfg.OtherHosts == OtherHostsRefuse:
		p.refuse(w, r, http.StatusForbidden, reasonOtherHost,
			fmt.Sprintf("github-token-proxy: refused: %s is not a configured host (-hosts) and -other-hosts is refuse", host))
		return
	}
	if !p.begin() {
		return
	}
	defer p.wg.Done()
	start := time.Now()
	body := &countingReader{ReadCloser: r.Body}
	r.Body = body
	sw := &statusWriter{ResponseWriter: w}
	rec := &record{}
	p.forward.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))
	p.audit(auditLine{method: r.Method, host: host, path: r.URL.Path, status: sw.status, in: body.n.Load(), out: sw.n, start: start, rec: rec})
}
