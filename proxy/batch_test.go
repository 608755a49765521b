package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The per-byte work of the copy paths: deadlines set once in a while, TLS
// records sent together, streamed bodies gathered into full writes.

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

// terminatedPair is a terminatedConn over TLS on a counting socket, and
// the client's end reading all it gets.
func terminatedPair(t *testing.T) (*terminatedConn, *countingConn, *bytes.Buffer, func()) {
	t.Helper()
	ca := newTestCA(t)
	cert := ca.leaf(t, "github.com")
	a, b := tcpPair(t)
	cc := &countingConn{Conn: a}
	batch := &recordBatch{Conn: cc}
	server := tls.Server(batch, &tls.Config{Certificates: []tls.Certificate{cert}, DynamicRecordSizingDisabled: true})
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	client := tls.Client(b, &tls.Config{ServerName: "github.com", RootCAs: pool})
	var got bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(&got, client) //nolint:errcheck // ends when the server closes
	}()
	if err := server.Handshake(); err != nil {
		t.Fatal(err)
	}
	c := &terminatedConn{Conn: server, done: func() {}, batch: batch}
	return c, cc, &got, func() { c.Close(); <-read }
}

// TestRecordBatchOneWrite: a write of several TLS records reaches the
// socket in one write, and the bytes arrive intact.
func TestRecordBatchOneWrite(t *testing.T) {
	c, cc, got, closeAndWait := terminatedPair(t)
	want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
	before := cc.writes.Load()
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	if n := cc.writes.Load() - before; n != 1 {
		t.Errorf("64 KiB (4 TLS records) took %d writes to the socket, want 1", n)
	}
	closeAndWait()
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("the client got %d bytes, not the %d written", got.Len(), len(want))
	}
}

// TestRecordBatchErrorSticks: once a batched write fails, every later
// write fails too: TLS counted the records as sent, so the stream is
// broken.
func TestRecordBatchErrorSticks(t *testing.T) {
	c, cc, _, closeAndWait := terminatedPair(t)
	defer closeAndWait()
	cc.failing.Store(true)
	if _, err := c.Write(make([]byte, 64<<10)); err == nil {
		t.Fatal("a write the socket refused succeeded")
	}
	cc.failing.Store(false)
	for _, n := range []int{10, 64 << 10} {
		if _, err := c.Write(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte write after a failed one succeeded", n)
		}
	}
}

// fakeResponse records what a batchWriter passes on.
type fakeResponse struct {
	mu      sync.Mutex
	header  http.Header
	body    bytes.Buffer
	writes  int
	flushes int
}

func (f *fakeResponse) Header() http.Header { return f.header }
func (f *fakeResponse) WriteHeader(int)     {}
func (f *fakeResponse) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	return f.body.Write(b)
}

func (f *fakeResponse) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
}

func (f *fakeResponse) counts() (writes, flushes int, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes, f.flushes, bytes.Clone(f.body.Bytes())
}

// TestBatchWriterGathers: a streamed body written 1 KiB at a time with a
// flush after each (as the reverse proxy does) reaches the connection in
// full batches, in order, and finish sends the rest.
func TestBatchWriterGathers(t *testing.T) {
	f := &fakeResponse{header: http.Header{}}
	w := &batchWriter{ResponseWriter: f, delay: time.Hour}
	var want bytes.Buffer
	w.Flush() // a body without a length: the proxy flushes from the start
	for i := range 100 {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 1<<10)
		want.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		w.Flush()
	}
	if writes, flushes, _ := f.counts(); writes != 1 || flushes != 0 {
		t.Errorf("100 KiB in 100 flushed writes: %d writes and %d flushes passed on before the end, want 1 (64 KiB) and 0", writes, flushes)
	}
	w.finish()
	writes, _, body := f.counts()
	if writes != 2 || !bytes.Equal(body, want.Bytes()) {
		t.Errorf("after finish: %d writes, body intact %v; want 2 writes and the body", writes, bytes.Equal(body, want.Bytes()))
	}
	if w.buf != nil {
		t.Error("finish kept the batch buffer")
	}
}

// TestBatchWriterFlushesWithinDelay: bytes of a stream that stops for a
// while (git's progress, say) go out after the delay, not at the end.
func TestBatchWriterFlushesWithinDelay(t *testing.T) {
	f := &fakeResponse{header: http.Header{}}
	w := &batchWriter{ResponseWriter: f, delay: time.Millisecond}
	defer w.finish()
	w.Flush()
	w.Write([]byte("progress"))
	w.Flush()
	for i := 0; ; i++ {
		if _, flushes, body := f.counts(); flushes > 0 && string(body) == "progress" {
			break
		}
		if i == 1000 {
			t.Fatal("a write stayed in the batch with the stream stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBatchWriterPassesUnflushed: a response never flushed (one with a
// length, a refusal) passes through as written and holds no buffer.
func TestBatchWriterPassesUnflushed(t *testing.T) {
	f := &fakeResponse{header: http.Header{}}
	w := &batchWriter{ResponseWriter: f, delay: time.Hour}
	for range 3 {
		w.Write([]byte("refused\n"))
	}
	if writes, _, _ := f.counts(); writes != 3 || w.buf != nil {
		t.Errorf("3 writes without a flush: %d passed on, buffer held %v; want 3 and none", writes, w.buf != nil)
	}
	w.finish()
}
