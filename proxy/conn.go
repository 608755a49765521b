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
//
// Setting a deadline costs (a runtime timer is moved each time), so a
// Read or Write sets one only when the one in place is due within half
// the idle time, or is later than the user's: on a stream, about once
// per idle/2 rather than once per call. The deadline in place may come
// early (bytes moved since it was set); the timeout that fires then is
// retried while the connection is active, so a connection still fails
// exactly idle after its last byte, either way.
type idleConn struct {
	net.Conn
	idle time.Duration
	last atomic.Int64 // unix nanoseconds of the last byte either way

	mu       sync.Mutex
	rd, wd   time.Time // deadlines set by the user
	rSet     time.Time // the read deadline in place on Conn
	wSet     time.Time // the write deadline in place on Conn
	rArmedOn bool      // rSet is valid
	wArmedOn bool      // wSet is valid
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

// deadline is the earlier of the last byte + idle and the user's
// deadline.
func (c *idleConn) deadline(user time.Time) time.Time {
	d := time.Unix(0, c.last.Load()).Add(c.idle)
	if !user.IsZero() && user.Before(d) {
		return user
	}
	return d
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// arm sets the deadline on Conn (through set) when the one in place is
// missing, due within idle/2, or later than the user's; the caller holds
// c.mu.
func (c *idleConn) arm(set func(time.Time) error, cur *time.Time, armed *bool, user time.Time) {
	if *armed {
		userFirst := !user.IsZero() && user.Before(*cur)
		if !userFirst && (cur.Equal(user) || time.Until(*cur) > c.idle/2) {
			return
		}
	}
	d := c.deadline(user)
	_ = set(d)
	*cur, *armed = d, true
}

func (c *idleConn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		c.arm(c.Conn.SetReadDeadline, &c.rSet, &c.rArmedOn, c.rd)
		c.mu.Unlock()
		n, err := c.Conn.Read(b)
		if n > 0 {
			c.touch()
		}
		if n == 0 && isTimeout(err) && c.active() && !c.userExpired(true) {
			c.forget(true) // the other direction is busy: set it again
			continue
		}
		return n, err
	}
}

func (c *idleConn) Write(b []byte) (int, error) {
	total := 0
	for {
		c.mu.Lock()
		c.arm(c.Conn.SetWriteDeadline, &c.wSet, &c.wArmedOn, c.wd)
		c.mu.Unlock()
		n, err := c.Conn.Write(b[total:])
		total += n
		if n > 0 {
			c.touch()
		}
		if err != nil && isTimeout(err) && c.active() && !c.userExpired(false) {
			c.forget(false)
			continue
		}
		return total, err
	}
}

// forget marks a direction's deadline in place as passed, so that the
// next call sets a new one.
func (c *idleConn) forget(read bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if read {
		c.rArmedOn = false
	} else {
		c.wArmedOn = false
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
	c.rSet, c.rArmedOn = c.deadline(t), true
	return c.Conn.SetReadDeadline(c.rSet)
}

func (c *idleConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wd = t
	c.wSet, c.wArmedOn = c.deadline(t), true
	return c.Conn.SetWriteDeadline(c.wSet)
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
