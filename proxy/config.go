package proxy

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the proxy's configuration, one field per command-line flag.
// Check validates it; every error names the flag.
type Config struct {
	Credentials string            // -credentials: the file Vault Agent renders
	CACertOut   string            // -ca-cert-out: where the CA certificate goes
	CABundleOut string            // -ca-bundle-out: where the system roots and the CA certificate go (empty: nowhere)
	CA          *CA               // the supervising process's CA (nil: New makes one)
	Hosts       []string          // -hosts: where the token may go
	UpstreamCA  string            // -upstream-ca: PEM file; empty: the system roots
	Resolve     map[string]string // -resolve: host -> addr:port
	OtherHosts  string            // -other-hosts: tunnel or refuse
	Margin      time.Duration     // -margin
	Wait        time.Duration     // -wait

	MaxConns         int            // -max-conns: client connections at once (0: the default)
	MaxTunnels       int            // -max-tunnels: tunnels at once (0: the default)
	MaxUpstreamConns int            // -max-upstream-conns: connections to each configured host (0: the default)
	AllowPrivate     []netip.Prefix // -allow-private: private ranges tunnels and plain HTTP may reach

	Log *slog.Logger // nil: discard
}

// DefaultHosts are github.com's git, API and upload hosts.
var DefaultHosts = []string{"github.com", "api.github.com", "uploads.github.com"}

const (
	OtherHostsTunnel = "tunnel"
	OtherHostsRefuse = "refuse"
)

// ParseHosts parses -hosts: comma-separated host names, no wildcard, no
// port, no empty entry.
func ParseHosts(s string) ([]string, error) {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		h = normalHost(strings.TrimSpace(h))
		switch {
		case h == "":
			return nil, fmt.Errorf("-hosts %q: an empty entry; list host names separated by commas", s)
		case strings.Contains(h, "*"):
			return nil, fmt.Errorf("-hosts: %q is a wildcard; name each host the token may go to", h)
		case !validHostname(h):
			return nil, fmt.Errorf("-hosts: %q is not a host name (no scheme, port or path)", h)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

func validHostname(h string) bool {
	if len(h) > 253 || net.ParseIP(h) != nil {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// normalHost lower-cases a host name and drops a trailing dot.
func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// ParseResolve parses one -resolve value, HOST=ADDR:PORT.
func ParseResolve(s string) (host, addr string, err error) {
	host, addr, ok := strings.Cut(s, "=")
	host = normalHost(host)
	if !ok || !validHostname(host) {
		return "", "", fmt.Errorf("-resolve %q: want HOST=ADDR:PORT, e.g. github.com=127.0.0.1:8443", s)
	}
	a, port, err := net.SplitHostPort(addr)
	if err != nil || a == "" {
		return "", "", fmt.Errorf("-resolve %q: want HOST=ADDR:PORT, e.g. github.com=127.0.0.1:8443", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("-resolve %q: port %q is not a number from 1 to 65535", s, port)
	}
	return host, addr, nil
}

// CheckLoopback fails unless addr (host:port) is a loopback address;
// flag names the setting in the message.
func CheckLoopback(flag, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: want 127.0.0.1:PORT: %v", flag, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s %q: not a loopback address; the proxy serves its own pod only (use 127.0.0.1:PORT)", flag, addr)
	}
	return nil
}

// Check validates c; every error names the flag.
func (c *Config) Check() error {
	_, err := c.check()
	return err
}

// check validates c and returns the pool that verifies upstream servers
// (nil: the system roots).
func (c *Config) check() (*x509.CertPool, error) {
	if c.Credentials == "" {
		return nil, fmt.Errorf("-credentials is required: the credentials.json Vault Agent renders")
	}
	if c.CACertOut == "" {
		return nil, fmt.Errorf("-ca-cert-out is required: where to write the CA certificate the agent's clients trust")
	}
	if len(c.Hosts) == 0 {
		return nil, fmt.Errorf("-hosts is empty: name the hosts the token may go to")
	}
	for _, h := range c.Hosts {
		if _, err := ParseHosts(h); err != nil {
			return nil, err
		}
	}
	for h, a := range c.Resolve {
		if _, _, err := ParseResolve(h + "=" + a); err != nil {
			return nil, err
		}
	}
	switch c.OtherHosts {
	case OtherHostsTunnel, OtherHostsRefuse:
	default:
		return nil, fmt.Errorf("-other-hosts %q: want tunnel or refuse", c.OtherHosts)
	}
	if c.Margin < 0 {
		return nil, fmt.Errorf("-margin %s: must not be negative", c.Margin)
	}
	if c.Wait < 0 {
		return nil, fmt.Errorf("-wait %s: must not be negative", c.Wait)
	}
	for _, a := range c.AllowPrivate {
		if _, err := ParseAllowPrivate(a.String()); err != nil {
			return nil, err
		}
	}
	if c.MaxConns < 0 {
		return nil, fmt.Errorf("-max-conns %d: must not be negative", c.MaxConns)
	}
	if c.MaxTunnels < 0 {
		return nil, fmt.Errorf("-max-tunnels %d: must not be negative", c.MaxTunnels)
	}
	if c.MaxUpstreamConns < 0 {
		return nil, fmt.Errorf("-max-upstream-conns %d: must not be negative", c.MaxUpstreamConns)
	}
	if fi, err := os.Stat(c.CACertOut); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("-ca-cert-out %s is a directory; name the file to write", c.CACertOut)
	}
	if err := checkBundleOut(c.CABundleOut, c.CACertOut); err != nil {
		return nil, err
	}
	if c.UpstreamCA == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.UpstreamCA)
	if err != nil {
		return nil, fmt.Errorf("-upstream-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-upstream-ca %s: no PEM certificate in it", c.UpstreamCA)
	}
	return pool, nil
}

// Defaults of -margin, -wait and -max-upstream-conns. GitHub allows a
// client 100 concurrent requests (secondary rate limit); an agent needs a
// few, and each connection costs the proxy about 170 KiB (64 KiB buffers
// each way, TLS).
const (
	DefaultMargin           = 120 * time.Second
	DefaultWait             = 30 * time.Second
	DefaultMaxUpstreamConns = 16
)
