package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestAddressClasses: the policy's decision on each kind of address.
func TestAddressClasses(t *testing.T) {
	p := &Proxy{cfg: Config{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}},
		listeners: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8118"), netip.MustParseAddrPort("[::]:9118")}}
	for _, tc := range []struct {
		addr     string
		operator bool
		want     addrClass
	}{
		{"127.0.0.1:443", false, addrLoopback},
		{"127.9.9.9:443", false, addrLoopback},
		{"[::1]:443", false, addrLoopback},
		{"[::ffff:127.0.0.1]:443", false, addrLoopback},
		{"[64:ff9b::7f00:1]:443", false, addrLoopback}, // NAT64 of 127.0.0.1
		{"0.0.0.0:443", false, addrUnspecified},
		{"0.1.2.3:443", false, addrUnspecified},
		{"[::]:443", false, addrUnspecified},
		{"169.254.169.254:80", false, addrLinkLocal},
		{"[fe80::1]:443", false, addrLinkLocal},
		{"[ff02::1]:443", false, addrLinkLocal},
		{"224.0.0.1:443", false, addrLinkLocal}, // 224.0.0.0/24 is link-local multicast
		{"233.252.0.1:443", false, addrMulticast},
		{"[ff05::1]:443", false, addrMulticast},
		{"255.255.255.255:443", false, addrMulticast},
		{"10.1.2.3:443", false, addrPrivate},
		{"172.16.0.1:443", false, addrPrivate},
		{"192.168.1.1:443", false, addrPrivate},
		{"100.64.0.1:443", false, addrPrivate},
		{"[fd00::1]:443", false, addrPrivate},
		{"10.20.1.1:443", false, addrAllowedPrivate},
		{"[::ffff:10.20.1.1]:443", false, addrAllowedPrivate},
		{"[64:ff9b::a14:101]:443", false, addrAllowedPrivate},
		{"140.82.112.3:443", false, addrPublic},
		{"[2606:50c0:8000::153]:443", false, addrPublic},
		{"127.0.0.1:9", true, addrOperator},
		{"10.1.2.3:443", true, addrOperator},
		{"127.0.0.1:8118", true, addrSelf},
		{"127.0.0.1:8118", false, addrSelf},
		{"127.0.0.1:9118", false, addrSelf}, // a listener on [::] listens everywhere
		{"[::1]:9118", true, addrSelf},
	} {
		ap := netip.MustParseAddrPort(tc.addr)
		if got := p.classify(ap.Addr(), ap.Port(), tc.operator); got != tc.want {
			t.Errorf("%s (operator %v): %s, want %s", tc.addr, tc.operator, got, tc.want)
		}
	}
	// The pod's own addresses, whatever -allow-private says.
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		ip, _ := netip.AddrFromSlice(n.IP)
		ip = ip.Unmap()
		if !ok || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		p.cfg.AllowPrivate = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		if got := p.classify(ip, 443, false); got != addrPod {
			t.Errorf("the pod's %s: %s, want %s", ip, got, addrPod)
		}
	}
}

func TestParseAllowPrivate(t *testing.T) {
	for in, want := range map[string]string{
		"10.20.0.0/16,fd00::/8":      "[10.20.0.0/16 fd00::/8]",
		"10.0.0.0/8, 100.64.0.0/10":  "[10.0.0.0/8 100.64.0.0/10]",
		"172.16.5.1/16":              "[172.16.0.0/16]",
		"0.0.0.0/0":                  "[0.0.0.0/0]",
		"8.8.8.0/24":                 "-allow-private 8.8.8.0/24: no private range in it",
		"127.0.0.0/8":                "-allow-private 127.0.0.0/8: no private range in it",
		"169.254.0.0/16":             "-allow-private 169.254.0.0/16: no private range in it",
		"10.0.0.0":                   `-allow-private "10.0.0.0": want CIDR prefixes`,
		"10.0.0.0/8,,192.168.0.0/16": `-allow-private "": want CIDR prefixes`,
	} {
		p, err := ParseAllowPrivate(in)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			s := []string{}
			for _, x := range p {
				s = append(s, x.String())
			}
			got = "[" + strings.Join(s, " ") + "]"
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("ParseAllowPrivate(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestNoTunnelBackInside: whatever the mode, the proxy does not open a
// tunnel or forward plain HTTP into the pod (loopback, by address or by
// name, its own listener, unspecified), to link-local addresses (the
// cloud's metadata service) or to private ranges -allow-private does not
// name. Each refusal is a 403 that says why, and nothing reaches the
// listener standing in for what else runs in the pod. A host -resolve
// sends to loopback is reached (the operator's choice; TestAddressClasses
// has -resolve to the proxy's own listener refused).
func TestNoTunnelBackInside(t *testing.T) {
	inside, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	var reached atomic.Int32
	go func() {
		for {
			c, err := inside.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	port := strconv.Itoa(inside.Addr().(*net.TCPAddr).Port)
	e := newEnv(t, nil, func(c *Config) {
		c.Resolve["inside.example"] = inside.Addr().String()
	})
	for target, want := range map[string]string{
		"127.0.0.1:" + port:          "github-token-proxy: refused: 127.0.0.1 is a loopback address; the proxy does not connect back into the pod",
		"[::1]:" + port:              "::1 is a loopback address",
		"localhost:" + port:          "localhost resolves to",
		e.addr:                       "is the proxy's own listener",
		"0.0.0.0:" + port:            "0.0.0.0 is an unspecified address",
		"169.254.169.254:80":         "169.254.169.254 is a link-local address",
		"10.0.0.1:443":               "github-token-proxy: refused: 10.0.0.1 is a private address; -allow-private names the private ranges the proxy may reach",
		"[::ffff:127.0.0.1]:" + port: "::ffff:127.0.0.1 is a loopback address",
	} {
		_, _, status := rawConnect(t, e.addr, target)
		if !strings.HasPrefix(status, "403 Forbidden (") || !strings.Contains(status, want) {
			t.Errorf("CONNECT %s: %q, want 403 with %q", target, status, want)
		}
	}
	c := e.client()
	for _, u := range []string{"http://127.0.0.1:" + port + "/", "http://localhost:" + port + "/metrics", "http://169.254.169.254/latest/meta-data/"} {
		status, body := e.do(c, "GET", u, nil)
		if status != http.StatusForbidden || !strings.Contains(body, "github-token-proxy: refused: ") {
			t.Errorf("GET %s: %d %q", u, status, body)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d connections reached the pod's listener", n)
	}
	if got := e.p.metrics.refusedCount(reasonAddress); got != 11 {
		t.Errorf("refused{internal_address} = %d, want 11", got)
	}
	// The operator's -resolve is kept.
	conn, _, status := rawConnect(t, e.addr, "inside.example:443")
	if !strings.HasPrefix(status, "200") {
		t.Errorf("CONNECT inside.example (-resolve): %q", status)
	}
	conn.Close()
}
