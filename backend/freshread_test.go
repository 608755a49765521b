package backend

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// waitFor yields until cond holds, and fails the test if it has not
// within a minute (a hang, not a timing: cond holds at once when it can).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		runtime.Gosched()
	}
}

// nextCallers is how many requests wait for the next read (0: none).
func (f *maxLeaseTTLReads) nextCallers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == nil {
		return 0
	}
	return f.next.callers
}

// runningCallers is how many requests wait for the running read.
func (f *maxLeaseTTLReads) runningCallers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == nil {
		return 0
	}
	return f.running.callers
}

// gatedReads is a read that reports each start on started and, once
// released, returns as many seconds as reads have started.
type gatedReads struct {
	n       atomic.Int64
	started chan int64
	release chan struct{}
}

func newGatedReads() *gatedReads {
	return &gatedReads{started: make(chan int64, 16), release: make(chan struct{})}
}

// next is the number of the next read to start; it fails the test if none
// starts within a minute.
func (g *gatedReads) next(t *testing.T) int64 {
	t.Helper()
	select {
	case n := <-g.started:
		return n
	case <-time.After(time.Minute):
		t.Fatal("waited a minute for a read to start")
		return 0
	}
}

func (g *gatedReads) read() time.Duration {
	n := g.n.Add(1)
	g.started <- n
	<-g.release
	return time.Duration(n) * time.Second
}

// A request never gets a read that started before it arrived; requests
// share a read that started after they arrived, whether it has ended,
// runs, or is the next one.
func TestMaxLeaseTTLReadNeverOlderThanTheRequest(t *testing.T) {
	g := newGatedReads()
	f := newMaxLeaseTTLReads(g.read)
	bg := context.Background()
	early := f.arrive(bg) // arrives before any read
	got := make([]time.Duration, 4)
	var wg sync.WaitGroup
	a := f.arrive(bg)
	wg.Go(func() { got[0] = f.get(a) })
	if n := g.next(t); n != 1 {
		t.Fatalf("read %d started first", n)
	}
	for i := 1; i < 4; i++ {
		arrived := f.arrive(bg) // while read 1 runs
		wg.Go(func() { got[i] = f.get(arrived) })
	}
	waitFor(t, "3 requests to wait for the next read", func() bool { return f.nextCallers() == 3 })
	if n := g.n.Load(); n != 1 {
		t.Fatalf("%d reads started while the first ran, want none", n-1)
	}
	g.release <- struct{}{} // read 1 ends
	if n := g.next(t); n != 2 {
		t.Fatalf("read %d started second", n)
	}
	g.release <- struct{}{} // read 2 ends
	wg.Wait()
	if got[0] != 1*time.Second {
		t.Errorf("the first request got %s, want read 1's value", got[0])
	}
	for i := 1; i < 4; i++ {
		if got[i] != 2*time.Second {
			t.Errorf("request %d, which arrived while read 1 ran, got %s, want read 2's value", i+1, got[i])
		}
	}

	// A request that arrived before read 2 started takes its value, without
	// a read of its own.
	if v := f.get(early); v != 2*time.Second {
		t.Errorf("a request that arrived before read 2 got %s, want read 2's value", v)
	}
	if n := g.n.Load(); n != 2 {
		t.Errorf("%d reads for 5 requests, want 2", n)
	}

	// A request that arrived after the last read started reads anew; one
	// that arrived before that read started waits for it.
	late, later := f.arrive(bg), f.arrive(bg)
	done := make(chan time.Duration, 2)
	go func() { done <- f.get(late) }()
	if n := g.next(t); n != 3 {
		t.Fatalf("read %d started for a request after read 2", n)
	}
	go func() { done <- f.get(later) }()
	waitFor(t, "the second request to wait for read 3", func() bool { return f.runningCallers() == 2 })
	g.release <- struct{}{}
	for range 2 {
		if v := <-done; v != 3*time.Second {
			t.Errorf("a request that arrived before read 3 started got %s, want read 3's value", v)
		}
	}
	if n := g.n.Load(); n != 3 {
		t.Errorf("%d reads, want 3", n)
	}
}

// A failed read (MaxLeaseTTL answers 0 when its gRPC call fails) is not
// shared: the request that saw it reads again on its own, and a request
// that arrived before it never gets it.
func TestMaxLeaseTTLFailedReadNotShared(t *testing.T) {
	var calls atomic.Int64
	f := newMaxLeaseTTLReads(func() time.Duration {
		if calls.Add(1) == 1 {
			return 0
		}
		return time.Hour
	})
	bg := context.Background()
	before := f.arrive(bg)
	if v := f.get(f.arrive(bg)); v != time.Hour {
		t.Fatalf("after a failed read: %s, want the request's own read (1h)", v)
	}
	if v := f.get(before); v != time.Hour {
		t.Fatalf("a request that arrived before the failed read got %s", v)
	}
}

// A read that panics still answers the requests waiting for it and lets
// the next read run.
func TestMaxLeaseTTLReadPanicHandsOn(t *testing.T) {
	var calls atomic.Int64
	f := newMaxLeaseTTLReads(func() time.Duration {
		if calls.Add(1) == 1 {
			panic("read failed")
		}
		return time.Duration(calls.Load()) * time.Second
	})
	func() {
		defer func() { _ = recover() }()
		f.get(context.Background())
	}()
	if v := f.get(context.Background()); v != 2*time.Second {
		t.Fatalf("after a panic: got %s, want a new read (2s)", v)
	}
}

// blockingMaxTTL is a system view whose MaxLeaseTTL reads the current max
// when it starts and, for the first call, returns it only once released:
// a read under way while the mount is tuned.
type blockingMaxTTL struct {
	logical.SystemView
	max     atomic.Int64
	calls   atomic.Int64
	started chan struct{}
	release chan struct{}
}

func (s *blockingMaxTTL) MaxLeaseTTL() time.Duration {
	v := time.Duration(s.max.Load())
	if s.calls.Add(1) == 1 {
		close(s.started)
		<-s.release
	}
	return v
}

// A mint whose request arrives while the mount's max lease TTL is being
// read, after a tune lowered it, gets a lease_expires_at capped by the
// tuned max, never the read that started before it arrived; the mint that
// started the read gets that read's value.
func TestMintUsesMaxLeaseTTLReadAfterItArrived(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	e.ok(logical.ReadOperation, "token/r", nil) // warm the client and JWT
	sys := &blockingMaxTTL{SystemView: e.sys, started: make(chan struct{}), release: make(chan struct{})}
	sys.max.Store(int64(48 * time.Hour))
	e.b.maxLeaseTTL = newMaxLeaseTTLReads(sys.MaxLeaseTTL)

	type answer struct {
		resp *logical.Response
		err  error
	}
	mint := func() <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			resp, err := e.req(logical.ReadOperation, "token/r", nil)
			ch <- answer{resp, err}
		}()
		return ch
	}
	leaseEnd := func(ch <-chan answer) time.Duration {
		t.Helper()
		a := <-ch
		if a.err != nil || a.resp.IsError() {
			t.Fatalf("mint: %v %v", a.err, errData(a.resp))
		}
		raw, _ := a.resp.Data["lease_expires_at"].(string)
		end, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			t.Fatalf("lease_expires_at %q: %v", raw, err)
		}
		return time.Until(end)
	}
	first := mint()
	select { // the first mint's read is under way, with 48h
	case <-sys.started:
	case <-time.After(time.Minute):
		t.Fatal("waited a minute for the first mint to read the max lease TTL")
	}
	sys.max.Store(int64(10 * time.Minute)) // vault secrets tune -max-lease-ttl=10m
	second := mint()
	waitFor(t, "the second mint to wait for a read", func() bool { return e.b.maxLeaseTTL.nextCallers() == 1 })
	close(sys.release)

	if d := leaseEnd(first); d <= 10*time.Minute {
		t.Errorf("the first mint's lease ends in %s: want its read's max (48h), not the tuned 10m", d)
	}
	if d := leaseEnd(second); d > 10*time.Minute {
		t.Errorf("the second mint arrived after the tune, but its lease_expires_at is %s away, past the tuned max of 10m", d)
	}
	if n := sys.calls.Load(); n != 2 {
		t.Errorf("%d reads of the max lease TTL for 2 mints that overlapped, want 2", n)
	}
}
