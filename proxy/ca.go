package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The certificate authority the proxy terminates TLS with. It is made at
// start and lives in memory only: its key is never written, logged or
// returned; its certificate (public) is what the agent's clients trust.
// Name constraints limit it to the configured hosts; their subdomains are
// excluded too, except under a host another configured host lies under (a
// DNS name constraint admits every name under it, and an exclusion cannot
// make exceptions: with api.github.com configured, evil.github.com stays
// admitted). The proxy itself signs only the configured hosts, one
// certificate each; proxy/ca_clients_test.go shows what git, curl,
// Python, Node and Go accept.

const (
	caLifetime   = 365 * 24 * time.Hour
	leafLifetime = 7 * 24 * time.Hour
	// A cached leaf is minted again this long before it expires.
	leafRenewBefore = 24 * time.Hour
)

type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	now     func() time.Time

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
	// signed counts leaf certificates signed since start.
	signed atomic.Int64
}

func newAuthority(hosts []string, now func() time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	start := now()
	tmpl := &x509.Certificate{
		SerialNumber:                serial,
		Subject:                     pkix.Name{CommonName: "github-token-proxy CA " + serial.Text(16)[:12]},
		NotBefore:                   start.Add(-time.Hour),
		NotAfter:                    start.Add(caLifetime),
		IsCA:                        true,
		BasicConstraintsValid:       true,
		MaxPathLenZero:              true,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         hosts,
		ExcludedDNSDomains:          excludedSubdomains(hosts),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("signing the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:     key,
		now:     now,
		leaves:  map[string]*tls.Certificate{},
	}, nil
}

// excludedSubdomains are the name constraints that take a configured
// host's subdomains out of what the CA may vouch for: ".h" (subdomains
// only, as Go, OpenSSL and GnuTLS read a leading dot) for each host h no
// other configured host lies under. github.com keeps its subdomains when
// api.github.com is configured: an exclusion overrides every permission
// and cannot make exceptions.
func excludedSubdomains(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		under := false
		for _, o := range hosts {
			under = under || strings.HasSuffix(o, "."+h)
		}
		if !under {
			out = append(out, "."+h)
		}
	}
	return out
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

// leaf returns the certificate for host, minting it on first use and again
// shortly before it expires. Callers pass only configured hosts.
func (a *authority) leaf(host string) (*tls.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.leaves[host]; c != nil && a.now().Add(leafRenewBefore).Before(c.Leaf.NotAfter) {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a key for %s: %w", host, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	start := a.now()
	end := start.Add(leafLifetime)
	if end.After(a.cert.NotAfter) {
		end = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    start.Add(-time.Hour),
		NotAfter:     end,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("signing a certificate for %s: %w", host, err)
	}
	a.signed.Add(1)
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der, a.cert.Raw}, PrivateKey: key, Leaf: parsed}
	a.leaves[host] = c
	return c, nil
}

// writeCert writes the CA certificate (never the key) to path, 0644,
// atomically.
func (a *authority) writeCert(path string) error { return writeFileAtomic(path, a.certPEM) }

// CA is the proxy's certificate authority as the supervising process
// holds it: made once, handed to every serving process it starts (over a
// pipe, never a file), so that a restart keeps the certificate the
// agent's clients already trust.
type CA struct{ a *authority }

// NewCA makes a CA name-constrained to hosts.
func NewCA(hosts []string) (*CA, error) {
	a, err := newAuthority(hosts, time.Now)
	if err != nil {
		return nil, err
	}
	return &CA{a}, nil
}

// WriteFiles writes the CA certificate to certOut and, unless bundleOut
// is empty, the system roots and the certificate to bundleOut. Errors name
// the flag.
func (c *CA) WriteFiles(certOut, bundleOut string) error {
	if err := c.a.writeCert(certOut); err != nil {
		return fmt.Errorf("-ca-cert-out: writing the CA certificate: %w", err)
	}
	if bundleOut == "" {
		return nil
	}
	roots, err := systemRoots()
	if err == nil {
		err = writeBundle(bundleOut, roots, c.a.certPEM)
	}
	if err != nil {
		return fmt.Errorf("-ca-bundle-out: %w", err)
	}
	return nil
}

// Send writes the CA's certificate and key, PEM, to w (a pipe to the
// serving process).
func (c *CA) Send(w io.Writer) error {
	der, err := x509.MarshalECPrivateKey(c.a.key)
	if err != nil {
		return err
	}
	if _, err := w.Write(c.a.certPEM); err != nil {
		return err
	}
	return pem.Encode(w, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// ReceiveCA reads what Send wrote.
func ReceiveCA(r io.Reader) (*CA, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("reading the CA from the supervising process: %w", err)
	}
	certBlock, rest := pem.Decode(data)
	keyBlock, _ := pem.Decode(rest)
	if certBlock == nil || certBlock.Type != "CERTIFICATE" || keyBlock == nil || keyBlock.Type != "EC PRIVATE KEY" {
		return nil, errors.New("the supervising process sent no CA")
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, err
	}
	return &CA{&authority{
		cert:    cert,
		certPEM: pem.EncodeToMemory(certBlock),
		key:     key,
		now:     time.Now,
		leaves:  map[string]*tls.Certificate{},
	}}, nil
}
