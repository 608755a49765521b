package proxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test harness: upstream servers standing in for GitHub (TLS with a
// test CA, reached through -resolve), a recording server standing in for
// any other host, a credentials file as Vault Agent renders it, the proxy
// on 127.0.0.1, and Go clients that trust only the proxy's CA.

// testToken is a token of the double's shape: "ghs_" and 516 alphanumerics.
func testToken(t testing.TB) string {
	t.Helper()
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 516)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return "ghs_" + string(b)
}

// writeCredentials renders the file as Agent does: a new file renamed
// over the old one.
func writeCredentials(t testing.TB, path, token string, validUntil time.Time) {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"token":      token,
		"expiresAt":  validUntil.Add(5 * time.Minute).UTC().Format(time.RFC3339),
		"validUntil": validUntil.Unix(),
		"provider":   "github",
		"userName":   "Example User",
		"email":      "user@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o440); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testCA signs the upstream servers' certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	file string
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "upstream test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.file = filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(ca.file, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}

func (ca *testCA) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// seen is what a server received: each request's method, host, path and
// Authorization, and (recorders) each request dumped whole.
type seen struct {
	Method, Host, Path, Authorization string
	Body                              []byte
}

type server struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []seen
	dumps bytes.Buffer
}

func (s *server) record(r *http.Request, body []byte) {
	dump, _ := httputil.DumpRequest(r, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, seen{r.Method, r.Host, r.URL.Path, r.Header.Get("Authorization"), body})
	s.dumps.Write(dump)
	s.dumps.Write(body)
}

func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// everything is all a server received, headers and bodies.
func (s *server) everything() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dumps.String()
}

func (s *server) addr() string { return s.Listener.Addr().String() }

// newServer starts a TLS server with a certificate for names from ca (or a
// plain HTTP server when ca is nil); handler may be nil (200 "ok"). It
// records every request, reading small bodies whole.
func newServer(t testing.TB, ca *testCA, handler http.HandlerFunc, names ...string) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if handler != nil && r.Header.Get("X-Stream") != "" {
			s.record(r, nil)
			handler(w, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.record(r, body)
		if handler != nil {
			handler(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok "+r.Host+r.URL.Path)
	}))
	s.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	if ca == nil {
		s.Start()
	} else {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, names...)}}
		s.StartTLS()
	}
	t.Cleanup(s.Close)
	return s
}

// env is one proxy under test with its upstreams.
type env struct {
	t           testing.TB
	p           *Proxy
	addr        string // the proxy's 127.0.0.1:port
	cfg         Config
	token       string
	credentials string
	caFile      string
	github      *server // github.com, api.github.com and uploads.github.com
	evil        *server // evil.example: TLS, not configured
	evilPlain   *server // plain.example: plain HTTP, not configured
	logs        *syncBuffer

	mu  sync.Mutex
	tok string // what handlers compare with: the token GitHub accepts
}

// live is the token GitHub accepts now (handlers read it).
func (e *env) live() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tok
}

// setLive makes tok the token GitHub accepts, and e.token.
func (e *env) setLive(tok string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tok, e.token = tok, tok
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newEnv starts upstreams and a proxy; edit adjusts the configuration
// (nil: defaults with -wait 1s) and githubHandler answers for GitHub
// (nil: 200 "ok <host><path>"). A handler that needs the env (its live
// token) gets it from newEnvWith.
func newEnv(t testing.TB, githubHandler http.HandlerFunc, edit func(*Config)) *env {
	t.Helper()
	return newEnvWith(t, func(*env) http.HandlerFunc { return githubHandler }, edit)
}

func newEnvWith(t testing.TB, handlerFor func(e *env) http.HandlerFunc, edit func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t)
	e := &env{t: t, token: testToken(t), credentials: filepath.Join(dir, "credentials.json"), caFile: filepath.Join(dir, "ca.pem"), logs: &syncBuffer{}}
	githubHandler := handlerFor(e)
	e.tok = e.token
	writeCredentials(t, e.credentials, e.token, time.Now().Add(time.Hour))
	e.github = newServer(t, ca, githubHandler, "github.com", "api.github.com", "uploads.github.com")
	e.evil = newServer(t, ca, nil, "evil.example")
	e.evilPlain = newServer(t, nil, nil)
	e.cfg = Config{
		Credentials: e.credentials,
		CACertOut:   e.caFile,
		Hosts:       DefaultHosts,
		UpstreamCA:  ca.file,
		Resolve: map[string]string{
			"github.com":         e.github.addr(),
			"api.github.com":     e.github.addr(),
			"uploads.github.com": e.github.addr(),
			"evil.example":       e.evil.addr(),
			"plain.example":      e.evilPlain.addr(),
		},
		OtherHosts: OtherHostsTunnel,
		Margin:     DefaultMargin,
		Wait:       time.Second,
		Log:        slog.New(slog.NewJSONHandler(e.logs, nil)),
	}
	if edit != nil {
		edit(&e.cfg)
	}
	p, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Serve(l); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		p.Close()
		<-done
	})
	return e
}

// caPool is a pool holding only the proxy's CA, read from -ca-cert-out.
func (e *env) caPool() *x509.CertPool {
	e.t.Helper()
	data, err := os.ReadFile(e.caFile)
	if err != nil {
		e.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		e.t.Fatal("no certificate in -ca-cert-out")
	}
	return pool
}

// client is an HTTP client that goes through the proxy and trusts only
// its CA, sends "Authorization: token placeholder" as gh would with
// GH_TOKEN=placeholder, and does not follow redirects.
func (e *env) client() *http.Client {
	proxyURL, _ := url.Parse("http://" + e.addr)
	tr := &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: e.caPool()},
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     &placeholderAuth{tr},
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

const placeholder = "placeholder-not-a-token"

type placeholderAuth struct{ *http.Transport }

func (p *placeholderAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Header.Get("Authorization") == "" {
		r.Header.Set("Authorization", "token "+placeholder)
	}
	return p.Transport.RoundTrip(r)
}

// do sends a request through the proxy and returns status and body.
func (e *env) do(c *http.Client, method, u string, body io.Reader) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// basic is the Authorization git's smart HTTP gets.
func basic(token string) string {
	return authorization("/o/r.git/info/refs", token)
}

// noTokenIn fails if s holds the token in any form the proxy sends it.
func noTokenIn(t testing.TB, where, s, token string) {
	t.Helper()
	for _, form := range []string{token, strings.TrimPrefix(basic(token), "Basic ")} {
		if strings.Contains(s, form) {
			t.Errorf("the token reached %s", where)
		}
	}
}

// tcpPair is two ends of a TCP connection on loopback.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
