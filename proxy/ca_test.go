package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLeafCertificatesCachedPerHost: a thousand requests across the three
// hosts, from a new client (so new TLS handshakes) every ten requests,
// sign one certificate per host.
func TestLeafCertificatesCachedPerHost(t *testing.T) {
	e := newEnv(t, nil, nil)
	proxyURL, _ := url.Parse("http://" + e.addr)
	pool := e.caPool()
	hosts := []string{"github.com", "api.github.com", "uploads.github.com"}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *http.Client
			for i := w; i < 1000; i += 4 {
				if (i/4)%10 == 0 {
					if c != nil {
						c.CloseIdleConnections()
					}
					c = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
					defer c.CloseIdleConnections()
				}
				resp, err := c.Get("https://" + hosts[i%3] + "/zen")
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(e.github.requests()); n != 1000 {
		t.Errorf("%d requests arrived, want 1000", n)
	}
	if got := e.p.ca.signed.Load(); got != 3 {
		t.Errorf("%d certificates signed for 1000 handshakes to 3 hosts, want 3", got)
	}
}

// TestCACertificateFile: -ca-cert-out holds the CA certificate only,
// 0644; the certificate is a CA limited to the configured hosts, and a
// leaf for any other name does not verify against it.
func TestCACertificateFile(t *testing.T) {
	e := newEnv(t, nil, nil)
	fi, err := os.Stat(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(e.caFile)
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("want exactly one CERTIFICATE block, got %q", data)
	}
	if strings.Contains(string(data), "PRIVATE") {
		t.Error("the key is in -ca-cert-out")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.IsCA || strings.Join(cert.PermittedDNSDomains, ",") != "github.com,api.github.com,uploads.github.com" ||
		strings.Join(cert.ExcludedDNSDomains, ",") != ".api.github.com,.uploads.github.com" {
		t.Errorf("IsCA %v, permitted names %v, excluded %v", cert.IsCA, cert.PermittedDNSDomains, cert.ExcludedDNSDomains)
	}
	for hosts, want := range map[string]string{
		"ghe.example.com":                         ".ghe.example.com",
		"ghe.example.com,uploads.ghe.example.com": ".uploads.ghe.example.com",
		"a.example,b.example":                     ".a.example,.b.example",
	} {
		if got := strings.Join(excludedSubdomains(strings.Split(hosts, ",")), ","); got != want {
			t.Errorf("excludedSubdomains(%s) = %s, want %s", hosts, got, want)
		}
	}
	// The name constraint holds: a certificate the CA signs for another
	// name is refused by a verifier.
	leaf, err := e.p.ca.leaf("evil.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "evil.example", Roots: e.caPool()}); err == nil {
		t.Error("a certificate for evil.example verified against the proxy's CA")
	}
	good, _ := e.p.ca.leaf("api.github.com")
	if _, err := good.Leaf.Verify(x509.VerifyOptions{DNSName: "api.github.com", Roots: e.caPool()}); err != nil {
		t.Errorf("api.github.com: %v", err)
	}
	// Nothing written next to the certificate but the certificate.
	entries, _ := os.ReadDir(strings.TrimSuffix(e.caFile, "/ca.pem"))
	for _, ent := range entries {
		if ent.Name() != "ca.pem" && ent.Name() != "credentials.json" {
			t.Errorf("unexpected file %s beside the certificate", ent.Name())
		}
	}
}

// TestCABundle: -ca-bundle-out holds the system's roots (as Go finds
// them: here SSL_CERT_FILE names the test's stand-in for them) and the
// proxy's CA, so that one file lets a client verify both a configured host
// the proxy terminates and another host it tunnels, which presents its
// own certificate.
func TestCABundle(t *testing.T) {
	upstream := newTestCA(t)
	t.Setenv("SSL_CERT_FILE", upstream.file)
	t.Setenv("SSL_CERT_DIR", t.TempDir())
	bundle := filepath.Join(t.TempDir(), "ca-bundle.pem")
	// A host the proxy tunnels, with a certificate from the stand-in
	// system roots.
	other := newServer(t, upstream, nil, "other.example")
	e := newEnv(t, nil, func(c *Config) {
		c.CABundleOut = bundle
		c.Resolve["other.example"] = other.addr()
	})
	fi, err := os.Stat(bundle)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("-ca-bundle-out: %v %v", fi, err)
	}
	data, _ := os.ReadFile(bundle)
	proxyCA, _ := os.ReadFile(e.caFile)
	if want := string(upstream.pem) + string(proxyCA); string(data) != want {
		t.Errorf("the bundle is not the system roots followed by the CA:\n%s", data)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatal("no certificate in the bundle")
	}
	proxyURL, _ := url.Parse("http://" + e.addr)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	for _, u := range []string{"https://api.github.com/user", "https://other.example/x"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Errorf("%s with the bundle: %v", u, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", u, resp.StatusCode)
		}
	}
}

// TestSystemRootsAsGoFindsThem: the first root file that exists, then
// every file in the directories, each certificate once; none found is an
// error that names where it looked.
func TestSystemRootsAsGoFindsThem(t *testing.T) {
	a, b := newTestCA(t), newTestCA(t)
	dir := t.TempDir()
	for name, content := range map[string][]byte{"a.pem": a.pem, "b.crt": b.pem, "both.pem": append(append([]byte{}, a.pem...), b.pem...), "junk": []byte("not a certificate")} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SSL_CERT_FILE", a.file)
	t.Setenv("SSL_CERT_DIR", dir+":"+filepath.Join(dir, "missing"))
	got, err := systemRoots()
	if err != nil || string(got) != string(a.pem)+string(b.pem) {
		t.Errorf("systemRoots: %v\n%s", err, got)
	}
	t.Setenv("SSL_CERT_FILE", filepath.Join(dir, "missing.pem"))
	t.Setenv("SSL_CERT_DIR", filepath.Join(dir, "missing"))
	if _, err := systemRoots(); err == nil || !strings.Contains(err.Error(), "no system root certificates found (looked where Go does") {
		t.Errorf("no roots: %v", err)
	}
}

// TestCAHandedOn: the CA a supervisor sends is the one the serving
// process signs with, and the certificate file stays the same.
func TestCAHandedOn(t *testing.T) {
	ca, err := NewCA(DefaultHosts)
	if err != nil {
		t.Fatal(err)
	}
	var pipe bytes.Buffer
	if err := ca.Send(&pipe); err != nil {
		t.Fatal(err)
	}
	got, err := ReceiveCA(&pipe)
	if err != nil {
		t.Fatal(err)
	}
	if !got.a.cert.Equal(ca.a.cert) || !got.a.key.Equal(ca.a.key) {
		t.Error("the received CA is not the one sent")
	}
	e := newEnv(t, nil, func(c *Config) { c.CA = got })
	if _, err := os.Stat(e.caFile); err == nil {
		t.Error("the serving process wrote -ca-cert-out; whoever made the CA writes it")
	}
	if err := ca.WriteFiles(e.caFile, ""); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.do(e.client(), "GET", "https://api.github.com/user", nil); status != 200 {
		t.Errorf("through the proxy with the handed-on CA: %d", status)
	}
	if _, err := ReceiveCA(strings.NewReader("-----BEGIN CERTIFICATE-----\n")); err == nil {
		t.Error("a truncated CA was accepted")
	}
}
