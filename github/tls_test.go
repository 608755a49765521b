package github

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

func newTestCA(t *testing.T, name string) *githubtest.TestCA {
	t.Helper()
	ca, err := githubtest.NewTestCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// A client given a CA trusts that CA only: it reaches a server whose
// certificate the CA issued, not one issued by another CA, and the system
// roots play no part. Another client in the same process is unaffected.
func TestCACertificatePerClient(t *testing.T) {
	caA, caB := newTestCA(t, "GHES A"), newTestCA(t, "GHES B")
	certA, err := caA.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	s := newDouble(t, githubtest.WithTLS(certA), githubtest.WithPathPrefix("/api/v3"))
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("double URL %s is not https", s.URL)
	}
	in := s.AddInstallation("acme", "Organization", "widgets")

	trusting := newClient(t, s, func(cfg *Config) { cfg.CACertificatePEM = caA.CertPEM })
	tok, err := trusting.CreateToken(t.Context(), in.ID, TokenRequest{})
	if err != nil {
		t.Fatalf("mint through the trusted CA: %v", err)
	}
	if _, ok := s.LookupToken(tok.Token); !ok {
		t.Fatal("the double did not issue the token returned")
	}

	// Both CAs in one PEM: still fine.
	both := newClient(t, s, func(cfg *Config) { cfg.CACertificatePEM = append(append([]byte{}, caB.CertPEM...), caA.CertPEM...) })
	if _, err := both.App(t.Context()); err != nil {
		t.Fatalf("with both CAs: %v", err)
	}

	for name, mod := range map[string]func(*Config){
		"another CA":   func(cfg *Config) { cfg.CACertificatePEM = caB.CertPEM },
		"system roots": func(*Config) {},
	} {
		t.Run(name, func(t *testing.T) {
			calls := len(s.Calls())
			c := newClient(t, s, mod)
			_, err := c.CreateToken(t.Context(), in.ID, TokenRequest{})
			var te *TransportError
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &te) || !errors.As(err, &unknown) {
				t.Fatalf("mint = %v, want an unknown-authority TLS failure", err)
			}
			if len(s.Calls()) != calls {
				t.Error("a request reached the double through an untrusted TLS connection")
			}
		})
	}

	// The CA did not leak into the process-wide defaults.
	if tr := http.DefaultTransport.(*http.Transport); tr.TLSClientConfig != nil && tr.TLSClientConfig.RootCAs != nil {
		t.Error("http.DefaultTransport got a root pool")
	}
	if _, err := http.Get(s.URL + "/app"); err == nil {
		t.Error("the default client trusts the test CA")
	}
}

func TestCertPoolFromPEM(t *testing.T) {
	ca := newTestCA(t, "ok")
	if _, err := CertPoolFromPEM(ca.CertPEM); err != nil {
		t.Fatalf("valid CA: %v", err)
	}
	if _, err := CertPoolFromPEM([]byte("\n" + string(ca.CertPEM) + "\n\n")); err != nil {
		t.Fatalf("valid CA with blank lines around: %v", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	const marker = "MARKERmarker0123"
	for name, tc := range map[string]struct {
		in   string
		want string
	}{
		"blank":           {"  \n", "no PEM certificate"},
		"text":            {"not a certificate " + marker, "no PEM certificate"},
		"private key":     {keyPEM, `"RSA PRIVATE KEY" block, not a CERTIFICATE`},
		"key after cert":  {string(ca.CertPEM) + keyPEM, `PEM block 2 is a "RSA PRIVATE KEY" block`},
		"broken DER":      {"-----BEGIN CERTIFICATE-----\nTUFSS0VSbWFya2VyMDEyMw==\n-----END CERTIFICATE-----\n", "not a valid X.509 certificate"},
		"odd block type":  {"-----BEGIN " + marker + "-----\nAAAA\n-----END " + marker + "-----\n", `"unknown" block`},
		"text after cert": {string(ca.CertPEM) + marker, "text after its last PEM certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := CertPoolFromPEM([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), "MII") {
				t.Errorf("error %q quotes the input", err)
			}
			if _, err := New(Config{BaseURL: "https://ghe.example.com/api/v3", CACertificatePEM: []byte(tc.in)}); err == nil ||
				!strings.HasPrefix(err.Error(), "ca_certificate ") {
				t.Errorf("New with a bad CA: %v, want a ca_certificate error", err)
			}
		})
	}
	if _, err := New(Config{CACertificatePEM: ca.CertPEM, HTTPClient: &http.Client{}}); err == nil {
		t.Error("New accepted both a CA and an HTTP client")
	}
	if _, err := CertPoolFromPEM(nil); err == nil {
		t.Error("CertPoolFromPEM accepted nothing")
	}
	// An empty CA means none: the default trust.
	if _, err := New(Config{CACertificatePEM: []byte{}}); err != nil {
		t.Errorf("New with an empty CA: %v", err)
	}
}

// CloseIdleConnections closes the client's kept-alive connections.
func TestCloseIdleConnections(t *testing.T) {
	closed := make(chan struct{}, 16)
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"id":1,"slug":"x"}`)) //nolint:errcheck // test server
	}))
	api.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	api.Start()
	t.Cleanup(api.Close)
	c := newClientAt(t, api.URL)
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
		t.Fatal("the connection closed before CloseIdleConnections")
	default:
	}
	c.CloseIdleConnections()
	select {
	case <-closed:
	case <-time.After(30 * time.Second): // a bound for a hung test, not a speed assertion
		t.Fatal("the idle connection was not closed")
	}
}
