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

// recordBatch sits under the client's TLS: between begin and end, the
// records TLS writes gather in a buffer and go to the socket in one
// write. crypto/tls writes each record (16 KiB at most) with a system
// call of its own, and on loopback each of those is also a wake-up of
// the client. begin and end nest (a batchWriter's write holds a batch
// across the HTTP server's chunk framing and the TLS writes it makes);
// the last end sends. A write that fails leaves the stream with records
// TLS counts as sent, so every later Write fails the same.
type recordBatch struct {
	net.Conn
	mu    sync.Mutex
	depth int
	buf   *[]byte // from recordBuffers while depth > 0
	err   error
}

// recordBuffers hold the records of one batch: a batchWriter's write
// (batchSize) with the chunk framing around it, in full records with
// their headers and tags.
var recordBuffers = sync.Pool{New: func() any { b := make([]byte, 0, batchSize+8<<10); return &b }}

func (c *recordBatch) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.buf == nil {
		n, err := c.Conn.Write(b)
		c.err = err
		return n, err
	}
	if len(*c.buf)+len(b) > cap(*c.buf) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(b) > cap(*c.buf) {
			n, err := c.Conn.Write(b)
			c.err = err
			return n, err
		}
	}
	*c.buf = append(*c.buf, b...)
	return len(b), nil
}

func (c *recordBatch) flushLocked() error {
	if len(*c.buf) > 0 && c.err == nil {
		_, c.err = c.Conn.Write(*c.buf)
	}
	*c.buf = (*c.buf)[:0]
	return c.err
}

// begin gathers what TLS writes from now on; the matching end sends it
// unless a batch around it is still open. Both do nothing on nil.
func (c *recordBatch) begin() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.depth == 0 {
		c.buf = recordBuffers.Get().(*[]byte)
		*c.buf = (*c.buf)[:0]
	}
	c.depth++
}

func (c *recordBatch) end() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.depth--; c.depth > 0 {
		return c.err
	}
	err := c.flushLocked()
	recordBuffers.Put(c.buf)
	c.buf = nil
	return err
}
