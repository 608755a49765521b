package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// What a client can make the proxy hold, bounded: connections at once
// (each listener), tunnels at once, header bytes per request. The agent
// is the adversary and shares the proxy's memory limit; past a bound it
// gets a refusal that names the flag, never an out-of-memory kill that
// ends the session for everyone.

const (
	// maxHeaderBytes bounds a request's header block (the request line
	// and headers; net/http answers 431 past it). git, gh and curl send
	// well under 2 KiB (TestRealClients measures them); GitHub's own
	// front end refuses request headers past a few tens of KiB.
	maxHeaderBytes = 16 << 10
	// metricsMaxConns bounds connections to the metrics listener, which
	// the agent can reach on the pod's loopback as well as a scraper.
	metricsMaxConns = 8
	// plainMaxIdle bounds the idle connections plain-HTTP forwarding
	// keeps to other hosts: each host name the agent sends is a pool of
	// its own, and they would otherwise add up for the idle timeout.
	plainMaxIdle = 16
	// replayBudget bounds the request bodies kept for a replay after a
	// 401, over all requests at once: 64 of the largest (replayLimit).
	// Past it a body streams and is not sent twice.
	replayBudget = 4 << 20
	// limitLogEvery spaces the log lines a flood of refusals writes.
	limitLogEvery = 10 * time.Second
)

// Defaults of -max-conns and -max-tunnels: a session's git, gh and
// package managers need a few dozen at most; the bounds keep the proxy
// within a container's 64 MiB (a tunnel holds about 80 KiB, a terminated
// connection about 60 KiB; a connection reading headers up to 20 KiB
// more).
const (
	DefaultMaxConns   = 256
	DefaultMaxTunnels = 128
)

// gate counts what is open and refuses past max.
type gate struct {
	max  int64
	open atomic.Int64
}

func (g *gate) acquire() bool { return g.acquireN(1) }

func (g *gate) release() { g.releaseN(1) }

// acquireN takes n at once (bytes, say), or nothing.
func (g *gate) acquireN(n int64) bool {
	if g.open.Add(n) > g.max {
		g.open.Add(-n)
		return false
	}
	return true
}

func (g *gate) releaseN(n int64) { g.open.Add(-n) }

// limitListener hands Accept only connections within its gate; one past
// it is answered 503 with the reason and closed at once.
type limitListener struct {
	net.Listener
	gate     *gate
	refusal  string // the HTTP response a refused connection gets
	onRefuse func()
}

func newLimitListener(l net.Listener, g *gate, flag string, onRefuse func()) *limitListener {
	msg := fmt.Sprintf("github-token-proxy: refused: %d connections are open, the most %s allows; close one and retry", g.max, flag)
	return &limitListener{Listener: l, gate: g, onRefuse: onRefuse, refusal: fmt.Sprintf(
		"HTTP/1.1 503 Service Unavailable (%s)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s\n",
		msg, len(msg)+1, msg)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.gate.acquire() {
			return &gatedConn{Conn: c, gate: l.gate}, nil
		}
		l.onRefuse()
		// The answer fits the socket's buffer: the write does not wait
		// for the client, and the deadline makes sure of it.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, l.refusal)
		c.Close()
	}
}

// gatedConn gives its place in the gate back when closed, once.
type gatedConn struct {
	net.Conn
	gate *gate
	once sync.Once
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.gate.release)
	return err
}

// limitLog writes a warning when a bound refuses, at most once per
// limitLogEvery, with the count since the last line.
type limitLog struct {
	log     *slog.Logger
	what    string
	mu      sync.Mutex
	last    time.Time
	pending int64
}

func (l *limitLog) refused() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending++
	if time.Since(l.last) < limitLogEvery {
		return
	}
	l.log.Warn("a bound refused", "bound", l.what, "refused_since_last_line", l.pending)
	l.last, l.pending = time.Now(), 0
}
