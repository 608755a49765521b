package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
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
	if !cert.IsCA || strings.Join(cert.PermittedDNSDomains, ",") != "github.com,api.github.com,uploads.github.com" {
		t.Errorf("IsCA %v, permitted names %v", cert.IsCA, cert.PermittedDNSDomains)
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
