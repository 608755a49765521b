package proxy

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// The per-byte work of the copy paths.

// countingConn counts the deadlines set on it and the writes made to it,
// and fails writes while failing is set.
type countingConn struct {
	net.Conn
	readDeadlines, writeDeadlines, writes atomic.Int64
	failing                               atomic.Bool
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.readDeadlines.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadlines.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

func (c *countingConn) Write(b []byte) (int, error) {
	if c.failing.Load() {
		return 0, errors.New("test: the write fails")
	}
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// TestIdleConnSetsDeadlinesRarely: a stream of reads and writes sets the
// idle deadline on the socket once, not once per call (each set moves a
// runtime timer).
func TestIdleConnSetsDeadlinesRarely(t *testing.T) {
	a, b := tcpPair(t)
	cc := &countingConn{Conn: a}
	ic := newIdleConn(cc, time.Hour)
	go func() {
		for range 1000 {
			if _, err := b.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	got := 0
	buf := make([]byte, 1)
	for got < 1000 {
		n, err := ic.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	go io.Copy(io.Discard, b) //nolint:errcheck // ends with the pair
	for range 1000 {
		if _, err := ic.Write([]byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	if r, w := cc.readDeadlines.Load(), cc.writeDeadlines.Load(); r > 2 || w > 2 {
		t.Errorf("1000 reads and 1000 writes set %d read and %d write deadlines, want at most 2 each", r, w)
	}
}

// TestIdleConnUserDeadline: a deadline the connection's user sets (the
// HTTP server's) applies at once, even when an idle deadline far ahead
// is in place; clearing it leaves the idle timeout.
func TestIdleConnUserDeadline(t *testing.T) {
	a, b := tcpPair(t)
	ic := newIdleConn(a, time.Hour)
	b.Write([]byte("1"))
	if _, err := ic.Read(make([]byte, 1)); err != nil { // sets the idle deadline, an hour ahead
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ic.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // the read is under way with the hour's deadline
	ic.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	select {
	case err := <-done:
		if !isTimeout(err) {
			t.Errorf("a read past the user's deadline ended with %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read past the user's deadline did not end")
	}
	ic.SetReadDeadline(time.Time{})
	b.Write([]byte("2"))
	if _, err := ic.Read(make([]byte, 1)); err != nil {
		t.Errorf("a read after the user's deadline was cleared: %v", err)
	}
	// A write deadline in the past fails the next write at once.
	ic.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := ic.Write([]byte("z")); !isTimeout(err) {
		t.Errorf("a write past the user's deadline: %v, want a timeout", err)
	}
}
