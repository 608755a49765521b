package backend

import (
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

// nextCallers is how many callers wait for the next read (0: none).
func (f *freshRead[T]) nextCallers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == nil {
		return 0
	}
	return f.next.callers
}

// gatedReads is a read that reports each start on started and returns the
// number of reads so far once released.
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

func (g *gatedReads) read() int64 {
	n := g.n.Add(1)
	g.started <- n
	<-g.release
	return n
}

// A caller that asks while a read is under way never gets that read's
// value; the callers that asked meanwhile share one read.
func TestFreshReadNeverOlderThanTheAsking(t *testing.T) {
	g := newGatedReads()
	f := newFreshRead(g.read)
	got := make([]int64, 4)
	var wg sync.WaitGroup
	wg.Go(func() { got[0] = f.get() })
	if n := g.next(t); n != 1 {
		t.Fatalf("read %d started first", n)
	}
	for i := 1; i < 4; i++ {
		wg.Go(func() { got[i] = f.get() })
	}
	waitFor(t, "3 callers to wait for the next read", func() bool { return f.nextCallers() == 3 })
	if n := g.n.Load(); n != 1 {
		t.Fatalf("%d reads started while the first ran, want none", n-1)
	}
	g.release <- struct{}{} // read 1 returns
	if n := g.next(t); n != 2 {
		t.Fatalf("read %d started second", n)
	}
	g.release <- struct{}{} // read 2 returns
	wg.Wait()
	if got[0] != 1 {
		t.Errorf("the first caller got read %d, want 1", got[0])
	}
	for i := 1; i < 4; i++ {
		if got[i] != 2 {
			t.Errorf("caller %d, who asked while read 1 ran, got read %d, want 2", i+1, got[i])
		}
	}
	if n := g.n.Load(); n != 2 {
		t.Errorf("%d reads for 4 callers, want 2", n)
	}
	// Idle again: the next caller reads anew.
	done := make(chan int64)
	go func() { done <- f.get() }()
	g.next(t)
	g.release <- struct{}{}
	if v := <-done; v != 3 {
		t.Errorf("a caller after the others got read %d, want 3", v)
	}
}

// A read that panics still answers its callers and lets the next read run.
func TestFreshReadPanicHandsOn(t *testing.T) {
	calls := 0
	var f *freshRead[int]
	f = newFreshRead(func() int {
		calls++
		if calls == 1 {
			panic("read failed")
		}
		return calls
	})
	func() {
		defer func() { _ = recover() }()
		f.get()
	}()
	if v := f.get(); v != 2 {
		t.Fatalf("after a panic: got %d, want a new read (2)", v)
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

// A mint that asks while the mount's max lease TTL is being read, after a
// tune lowered it, gets a lease_expires_at capped by the tuned max, never
// the read that started before it asked; the mint that started the read
// gets that read's value.
func TestMintUsesMaxLeaseTTLReadAfterItAsked(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	e.ok(logical.ReadOperation, "token/r", nil) // warm the client and JWT
	sys := &blockingMaxTTL{SystemView: e.sys, started: make(chan struct{}), release: make(chan struct{})}
	sys.max.Store(int64(48 * time.Hour))
	e.b.maxLeaseTTL = newFreshRead(sys.MaxLeaseTTL)

	leaseEnd := func(resp *logical.Response) time.Duration {
		t.Helper()
		raw, _ := resp.Data["lease_expires_at"].(string)
		end, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			t.Fatalf("lease_expires_at %q: %v", raw, err)
		}
		return time.Until(end)
	}
	var first, second *logical.Response
	var wg sync.WaitGroup
	wg.Go(func() { first = e.ok(logical.ReadOperation, "token/r", nil) })
	<-sys.started                          // the first mint's read is under way, with 48h
	sys.max.Store(int64(10 * time.Minute)) // vault secrets tune -max-lease-ttl=10m
	wg.Go(func() { second = e.ok(logical.ReadOperation, "token/r", nil) })
	waitFor(t, "the second mint to ask", func() bool { return e.b.maxLeaseTTL.nextCallers() == 1 })
	close(sys.release)
	wg.Wait()

	if d := leaseEnd(first); d <= 10*time.Minute {
		t.Errorf("the first mint's lease ends in %s: want its read's max (48h), not the tuned 10m", d)
	}
	if d := leaseEnd(second); d > 10*time.Minute {
		t.Errorf("the second mint asked after the tune, but its lease_expires_at is %s away, past the tuned max of 10m", d)
	}
	if n := sys.calls.Load(); n != 2 {
		t.Errorf("%d reads of the max lease TTL for 2 mints that overlapped, want 2", n)
	}
}
