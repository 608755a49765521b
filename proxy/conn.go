package proxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Connection plumbing: the idle timeout, and the listener that hands
// terminated TLS connections to the inner HTTP server.

// idleConn fails a Read or Write only when the connection has moved no
// byte either way for idle: a long download whose client sends nothing
// is not idle. Deadlines its user sets (the HTTP server's) still apply.
type idleConn struct {
	net.Conn
	idle time.Duration
	last atomic.Int64 // unix nanoseconds of the last byte either way

	mu     sync.Mutex
	rd, wd time.Time // deadlines set by the user
}

func newIdleConn(c net.Conn, idle time.Duration) *idleConn {
	ic := &idleConn{Conn: c, idle: idle}
	ic.touch()
	return ic
}

func (c *idleConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *idleConn) active() bool {
	return time.Since(time.Unix(0, c.last.Load())) < c.idle
}

// deadline is the earlier of now+idle and the user's deadline.
func (c *idleConn) deadline(user time.Time) time.Time {
	d := time.Now().Add(c.idle)
	if !user.IsZero() && user.Before(d) {
		return user
	}
	return d
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

func (c *idleConn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		user := c.rd
		_ = c.Conn.SetReadDeadline(c.deadline(user))
		c.mu.Unlock()
		n, err := c.Conn.Read(b)
		if n > 0 {
			c.touch()
		}
		if n == 0 && isTimeout(err) && c.active() && !c.userExpired(true) {
			continue // the other direction is busy
		}
		return n, err
	}
}

func (c *idleConn) Write(b []byte) (int, error) {
	total := 0
	for {
		c.mu.Lock()
		_ = c.Conn.SetWriteDeadline(c.deadline(c.wd))
		c.mu.Unlock()
		n, err := c.Conn.Write(b[total:])
		total += n
		if n > 0 {
			c.touch()
		}
		if err != nil && isTimeout(err) && c.active() && !c.userExpired(false) {
			continue
		}
		return total, err
	}
}

func (c *idleConn) userExpired(read bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.wd
	if read {
		d = c.rd
	}
	return !d.IsZero() && !time.Now().Before(d)
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	return c.Conn.SetReadDeadline(c.deadline(t))
}

func (c *idleConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wd = t
	return c.Conn.SetWriteDeadline(c.deadline(t))
}

func (c *idleConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// chanListener is a net.Listener fed by push.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// push hands c to Accept; false once the listener is closed.
func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
