package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The address policy: where a tunnel or a plain-HTTP request to a host
// that is not configured may go. The proxy runs as its own user on the
// pod's loopback; a tunnel it opens is its connection, not the agent's.
// So it never opens one back into the pod (loopback, the pod's own
// addresses, its own listeners: the agent read the proxy's metrics that
// way, and traffic relayed under the proxy's user escapes per-user egress
// rules), nor to link-local (the cloud's metadata service), unspecified,
// multicast or broadcast addresses, and reaches private ranges only where
// -allow-private names them. It decides on the address the name resolved
// to and dials that same address: no second resolution for a DNS answer
// to change. Hosts the operator maps with -resolve go where they are
// mapped (but never to the proxy's own listeners).

// addrClass is what an address is to the policy.
type addrClass int

const (
	addrPublic addrClass = iota
	addrAllowedPrivate
	addrOperator // -resolve: where the operator sent the host
	addrSelf     // one of the proxy's own listeners
	addrLoopback
	addrPod // an address of one of the pod's interfaces
	addrUnspecified
	addrLinkLocal
	addrMulticast
	addrPrivate
)

func (c addrClass) allowed() bool { return c <= addrOperator }

func (c addrClass) String() string {
	return [...]string{
		addrPublic:         "a public address",
		addrAllowedPrivate: "a private address -allow-private names",
		addrOperator:       "the address -resolve names",
		addrSelf:           "the proxy's own listener",
		addrLoopback:       "a loopback address",
		addrPod:            "an address of this pod",
		addrUnspecified:    "an unspecified address",
		addrLinkLocal:      "a link-local address",
		addrMulticast:      "a multicast or broadcast address",
		addrPrivate:        "a private address",
	}[c]
}

// privateRanges are the ranges -allow-private may open: RFC 1918, IPv6
// unique local addresses, and RFC 6598's shared address space (carrier
// NAT, which clusters and VPNs also use inside).
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
	// NAT64 prefixes (RFC 6052, RFC 8215): the IPv4 address in the last
	// 32 bits is where the gateway sends it.
	nat64 = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}
)

// ParseAllowPrivate parses -allow-private: comma-separated CIDR
// prefixes, each inside (or around) a private range.
func ParseAllowPrivate(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("-allow-private %q: want CIDR prefixes separated by commas, e.g. 10.20.0.0/16", f)
		}
		p = p.Masked()
		overlaps := false
		for _, r := range privateRanges {
			overlaps = overlaps || r.Overlaps(p)
		}
		if !overlaps {
			return nil, fmt.Errorf("-allow-private %s: no private range in it (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7); public addresses need no flag, and loopback, link-local and the pod's own addresses are never reached", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// classify is what ip (port) is to the policy; operator marks an address
// -resolve named.
func (p *Proxy) classify(ip netip.Addr, port uint16, operator bool) addrClass {
	ip = ip.Unmap().WithZone("")
	for _, pre := range nat64 {
		if pre.Contains(ip) {
			b := ip.As16()
			ip = netip.AddrFrom4([4]byte(b[12:]))
		}
	}
	if p.isListener(ip, port) {
		return addrSelf
	}
	if operator {
		return addrOperator
	}
	switch {
	case ip.IsLoopback():
		return addrLoopback
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return addrUnspecified
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return addrLinkLocal
	case ip.IsMulticast() || ip == broadcast:
		return addrMulticast
	case p.isPodAddr(ip):
		return addrPod
	}
	for _, r := range privateRanges {
		if !r.Contains(ip) {
			continue
		}
		for _, a := range p.cfg.AllowPrivate {
			if a.Contains(ip) {
				return addrAllowedPrivate
			}
		}
		return addrPrivate
	}
	return addrPublic
}

// isListener reports whether ip:port is one of the proxy's listeners (a
// listener on an unspecified address listens on every address).
func (p *Proxy) isListener(ip netip.Addr, port uint16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		if l.Port() == port && (l.Addr() == ip || l.Addr().IsUnspecified()) {
			return true
		}
	}
	return false
}

// isPodAddr reports whether ip is an address of one of the pod's
// (network namespace's) interfaces, read afresh each time.
func (p *Proxy) isPodAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // unknown: refuse rather than guess
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// addrRefused is the policy's refusal of a host.
type addrRefused struct {
	host string
	ip   netip.Addr
	why  addrClass
}

func (e *addrRefused) Error() string {
	what := fmt.Sprintf("%s resolves to %s, %s", e.host, e.ip, e.why)
	if _, err := netip.ParseAddr(e.host); err == nil {
		what = fmt.Sprintf("%s is %s", e.host, e.why)
	}
	hint := "the proxy does not connect back into the pod"
	if e.why == addrPrivate {
		hint = "-allow-private names the private ranges the proxy may reach"
	}
	return fmt.Sprintf("github-token-proxy: refused: %s; %s", what, hint)
}

// dialOther connects to addr (host:port) for a tunnel or a plain-HTTP
// request: to where -resolve sends host, else to the first address host
// resolves to that the policy allows and that answers. It returns an
// *addrRefused when the policy allows none.
func (p *Proxy) dialOther(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	host = normalHost(host)
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	target, operator := host, false
	if to, ok := p.cfg.Resolve[host]; ok {
		if target, port, err = net.SplitHostPort(to); err != nil {
			return nil, err
		}
		operator = true
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: not a number from 0 to 65535", port)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(target); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", target); err != nil {
		return nil, err
	}
	var refused *addrRefused
	var dialErr error
	for _, ip := range ips {
		if c := p.classify(ip, uint16(n), operator); !c.allowed() {
			if refused == nil {
				refused = &addrRefused{host: host, ip: ip.Unmap().WithZone(""), why: c}
			}
			continue
		}
		d := net.Dialer{KeepAlive: 30 * time.Second}
		c, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(n)).String())
		if err == nil {
			return newIdleConn(c, streamIdleTimeout), nil
		}
		dialErr = err
	}
	if dialErr != nil {
		return nil, dialErr
	}
	if refused != nil {
		return nil, refused
	}
	return nil, &net.DNSError{Err: "no addresses", Name: target, IsNotFound: true}
}

// isRefused reports whether err is the policy's refusal, and its message.
func isRefused(err error) (string, bool) {
	var r *addrRefused
	if errors.As(err, &r) {
		return r.Error(), true
	}
	return "", false
}
