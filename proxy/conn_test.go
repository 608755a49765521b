package proxy

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settleGoroutines waits (bounded) for the goroutine count to drop to at
// most want and returns the last count.
func settleGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > want; i++ {
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestGoroutinesEndWithConnections: every goroutine the proxy starts for a
// connection (terminated, tunnelled, plain) ends when the connection does,
// and Close ends the rest.
func TestGoroutinesEndWithConnections(t *testing.T) {
	{
		e := newEnv(t, nil, nil)
		servers := settleGoroutines(0) // upstreams and the proxy, idle
		for range 3 {
			c := e.client()
			e.do(c, "GET", "https://api.github.com/user", nil)
			e.do(c, "POST", "https://github.com/o/r.git/git-upload-pack", strings.NewReader("0000"))
			e.do(c, "GET", "http://plain.example/", nil)
			spoof(t, e, "evil.example:443", "evil.example", "evil.example", true)
			spoof(t, e, "api.github.com:443", "api.github.com", "evil.example", false)
			c.CloseIdleConnections()
		}
		// The client closed every connection: what is left are the
		// servers and the proxy's idle upstream connections.
		e.p.upstream.CloseIdleConnections()
		e.p.plain.CloseIdleConnections()
		if n := settleGoroutines(servers); n > servers {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines after the connections closed, %d before them:\n%s", n, servers, buf[:runtime.Stack(buf, true)])
		}
		// Connections left open (a keep-alive one, a tunnel) are ended by
		// Close, with every goroutine of the proxy.
		c := e.client()
		e.do(c, "GET", "https://api.github.com/user", nil)
		conn, _, _ := rawConnect(t, e.addr, "evil.example:443")
		e.p.Close()
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Error("a tunnel outlived Close")
		}
		c.CloseIdleConnections()
		if n := settleGoroutines(servers - 2); n > servers-2 {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines after Close, want at most %d (the servers alone):\n%s", n, servers-2, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestStreams: bodies stream both ways: the server reads the first part
// of an upload while the client still holds the rest back, and the client
// reads the first part of a download while the server holds the rest
// back. Buffering a body whole would deadlock here (bounded by the
// client's timeout). The bytes arrive intact.
func TestStreams(t *testing.T) {
	firstUp := make(chan struct{})
	releaseDown := make(chan struct{})
	const size = 8 << 20
	var upSum [32]byte
	e := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			h := sha256.New()
			buf := make([]byte, 1<<10)
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				t.Errorf("reading the first KiB: %v", err)
				return
			}
			close(firstUp)
			h.Write(buf)
			io.Copy(h, r.Body)
			copy(upSum[:], h.Sum(nil))
			return
		}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
		w.Write(bytes.Repeat([]byte("a"), 1<<10))
		http.NewResponseController(w).Flush()
		<-releaseDown
		w.Write(bytes.Repeat([]byte("b"), size))
	}, nil)
	c := e.client()

	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Repeat([]byte("u"), 1<<10))
		select {
		case <-firstUp:
		case <-time.After(20 * time.Second):
			pw.CloseWithError(fmt.Errorf("the server did not see the first KiB while the rest was held back"))
			return
		}
		pw.Write(bytes.Repeat([]byte("v"), size))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "https://github.com/o/r.git/git-receive-pack", pr)
	req.Header.Set("X-Stream", "1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := sha256.Sum256(append(bytes.Repeat([]byte("u"), 1<<10), bytes.Repeat([]byte("v"), size)...))
	if upSum != want {
		t.Error("the upload arrived changed")
	}

	req, _ = http.NewRequest("GET", "https://github.com/o/r.git/info/refs", nil)
	req.Header.Set("X-Stream", "1")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1<<10)
	if _, err := io.ReadFull(resp.Body, first); err != nil || first[0] != 'a' {
		t.Fatalf("reading the first KiB while the server holds the rest: %v", err)
	}
	close(releaseDown)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Errorf("download: %d bytes, %v", n, err)
	}
}

// TestIdleConnKeepsBusyConnections: a connection that moves bytes in one
// direction is not idle in the other.
func TestIdleConn(t *testing.T) {
	a, b := tcpPair(t)
	ia := newIdleConn(a, 200*time.Millisecond)
	done := make(chan error, 1)
	go func() {
		// Reads nothing for 600 ms while writes flow.
		_, err := ia.Read(make([]byte, 1))
		done <- err
	}()
	go io.Copy(io.Discard, b)
	for range 12 {
		if _, err := ia.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Write([]byte("y"))
	if err := <-done; err != nil {
		t.Errorf("a read on a busy connection failed: %v", err)
	}
	// Idle both ways: the read fails.
	go func() {
		_, err := ia.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		if !isTimeout(err) {
			t.Errorf("an idle read ended with %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("an idle read did not time out")
	}
}
