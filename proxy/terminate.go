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

	batch *recordBatch // under the TLS
}

// Write sends b; when b takes more than one TLS record, the records go to
// the socket in one write.
func (c *terminatedConn) Write(b []byte) (int, error) {
	if len(b) <= maxRecordPayload {
		return c.Conn.Write(b)
	}
	c.batch.begin()
	n, err := c.Conn.Write(b)
	if ferr := c.batch.end(); err == nil {
		err = ferr
	}
	return n, err
}

// maxRecordPayload is the most plaintext one TLS record carries.
const maxRecordPayload = 16 << 10

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
		// Full records from the first byte: the client is on loopback,
		// where small first records save no round trip and cost a
		// record each.
		DynamicRecordSizingDisabled: true,
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
	batch := &recordBatch{Conn: raw}
	tc := tls.Server(batch, conf)
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
	c := &terminatedConn{Conn: tc, target: target, sni: normalHost(tc.ConnectionState().ServerName), done: func() { p.release(raw) }, batch: batch}
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
	bw := &batchWriter{ResponseWriter: w, batch: c.batch, delay: batchDelay}
	sw := &statusWriter{ResponseWriter: bw}
	defer func() {
		p.audit(auditLine{method: r.Method, host: c.target, path: r.URL.Path, status: sw.status, in: body.n.Load(), out: sw.n, start: start, rec: rec})
	}()
	defer bw.finish()
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

// batchSize is the most of a response body batchWriter gathers before
// it writes.
const batchSize = 64 << 10

// batchDelay is the longest a byte of a response waits in a batchWriter
// for more to come.
const batchDelay = 5 * time.Millisecond

var batchBuffers = &bufferPool{sync.Pool{New: func() any { b := make([]byte, batchSize); return &b }}}

// batchWriter gathers a streamed response body's writes up to batchSize
// before they reach the client's connection. The reverse proxy writes
// each read from GitHub on its own and, when the body has no length (as
// git's have not), flushes after each: every read became a chunk of its
// own, and every flush up to three TLS records (the chunk's start, its
// rest, its end) with a system call each. Here a flush only makes sure
// that what is gathered goes out within the delay; a full batch goes at
// once, in one write to the socket, and finish sends the rest when the
// handler is done.
//
// Until the first flush, writes pass straight through: a response with
// a length, or one the proxy writes itself (a refusal), holds no buffer.
// Streamed responses hold one each, and each holds a connection to
// GitHub, which -max-upstream-conns bounds.
type batchWriter struct {
	http.ResponseWriter
	batch     *recordBatch  // the connection's, under its TLS
	delay     time.Duration // batchDelay
	mu        sync.Mutex
	streaming bool   // flushed at least once: writes are gathered
	buf       []byte // from batchBuffers once a write is gathered
	timer     *time.Timer
	pending   bool // a flush is owed
	done      bool
}

func (w *batchWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.streaming || w.done {
		return w.ResponseWriter.Write(b)
	}
	if len(w.buf) == 0 && len(b) >= batchSize {
		w.batch.begin()
		n, err := w.ResponseWriter.Write(b)
		if berr := w.batch.end(); err == nil {
			err = berr
		}
		return n, err
	}
	if w.buf == nil {
		w.buf = batchBuffers.Get()[:0]
	}
	n := 0
	for len(b) > 0 {
		k := copy(w.buf[len(w.buf):cap(w.buf)], b)
		w.buf, b, n = w.buf[:len(w.buf)+k], b[k:], n+k
		if len(w.buf) == cap(w.buf) {
			if err := w.writeLocked(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// writeLocked writes what is gathered: with the HTTP server's chunk
// framing and its own buffer's flush, in one write to the socket.
func (w *batchWriter) writeLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.batch.begin()
	_, err := w.ResponseWriter.Write(w.buf)
	if berr := w.batch.end(); err == nil {
		err = berr
	}
	w.buf = w.buf[:0]
	return err
}

// WriteHeader holds the lock a delayed flush takes.
func (w *batchWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

// Flush sends what is gathered within the delay.
func (w *batchWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.streaming = true
	if w.done || w.pending {
		return
	}
	w.pending = true
	if w.timer == nil {
		w.timer = time.AfterFunc(w.delay, w.flushNow)
	} else {
		w.timer.Reset(w.delay)
	}
}

func (w *batchWriter) flushNow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || !w.pending {
		return
	}
	w.pending = false
	w.batch.begin()
	defer w.batch.end()
	if w.writeLocked() == nil {
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// finish writes what is gathered and gives the buffer back; the server
// sends it with the end of the response.
func (w *batchWriter) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.buf != nil {
		_ = w.writeLocked()
		batchBuffers.Put(w.buf[:cap(w.buf)])
		w.buf = nil
	}
	w.done = true
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *batchWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
