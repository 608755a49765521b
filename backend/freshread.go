package backend

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// maxLeaseTTLReads reads the mount's max lease TTL, which `vault secrets
// tune` changes at any time without telling the plugin, for the mints, and
// shares each read among the requests that had arrived at the engine
// before the read started, and only them: a request never acts on a value
// read before it arrived. So each request gets what its own read, made at
// some moment between its arrival and its use of the value, could have
// returned, and nothing older (Vault caps the lease with the max it reads
// after the engine answers, as it would after such a read), while
// concurrent requests share reads instead of making one each: for an
// external plugin each read is a gRPC round trip to Vault.
//
// A request takes a ticket when it arrives (arrive): the number of reads
// started so far. A read numbered above the ticket started after the
// request arrived. At most one read runs at a time. A request that needs
// the value uses, in this order: the last read that ended, if it started
// after the request arrived; the running read, if it did; a read it starts
// itself when none runs; or else the next read, which starts when the
// running one ends (the first request to wait for it makes it).
//
// A read that fails (gRPC's MaxLeaseTTL answers 0 then) is never shared
// beyond the requests that waited for it, and each of those reads again on
// its own, as it would have without the sharing.
type maxLeaseTTLReads struct {
	read func() time.Duration

	started atomic.Uint64 // reads started so far: the tickets

	mu      sync.Mutex
	last    *readFlight // the last read that ended with a value, or nil
	running *readFlight // the read under way, or nil
	next    *readFlight // the read that starts when running ends, or nil
}

// readFlight is one read and the requests waiting for it.
type readFlight struct {
	n       uint64        // its number: started when it started
	done    chan struct{} // closed when val is set
	val     time.Duration
	callers int // how many requests wait for it (for the tests)
}

func newMaxLeaseTTLReads(read func() time.Duration) *maxLeaseTTLReads {
	return &maxLeaseTTLReads{read: read}
}

type arrivalKey struct{}

// arrive records in ctx that a request arrived now.
func (f *maxLeaseTTLReads) arrive(ctx context.Context) context.Context {
	return context.WithValue(ctx, arrivalKey{}, f.started.Load())
}

// get returns the mount's max lease TTL from a read that started after the
// request of ctx arrived (or, for a ctx that arrive did not mark, after get
// was called).
func (f *maxLeaseTTLReads) get(ctx context.Context) time.Duration {
	ticket, ok := ctx.Value(arrivalKey{}).(uint64)
	if !ok {
		ticket = f.started.Load()
	}
	if v := f.shared(ticket); v > 0 {
		return v
	}
	return f.read() // the shared read failed: this request's own read
}

func (f *maxLeaseTTLReads) shared(ticket uint64) time.Duration {
	f.mu.Lock()
	switch {
	case f.last != nil && f.last.n > ticket:
		v := f.last.val
		f.mu.Unlock()
		return v
	case f.running != nil && f.running.n > ticket:
		fl := f.running
		fl.callers++
		f.mu.Unlock()
		<-fl.done
		return fl.val
	case f.running == nil:
		fl := &readFlight{n: f.started.Add(1), done: make(chan struct{}), callers: 1}
		f.running = fl
		f.mu.Unlock()
		f.run(fl)
		return fl.val
	case f.next == nil:
		// The read under way started before this request arrived: the
		// next read is this request's to make, once the running one has
		// ended (run numbers it and makes it the running read then; no
		// request joins it as the next read after that).
		fl := &readFlight{done: make(chan struct{}), callers: 1}
		f.next = fl
		prev := f.running
		f.mu.Unlock()
		<-prev.done
		f.run(fl)
		return fl.val
	default:
		fl := f.next
		fl.callers++
		f.mu.Unlock()
		<-fl.done
		return fl.val
	}
}

// run makes the read of fl, the running read; then it keeps the value as
// the last read's if there is one, starts the next read (numbered now) if
// any request waits for one, and answers fl's requests. It does all that
// even if the read panics.
func (f *maxLeaseTTLReads) run(fl *readFlight) {
	defer func() {
		f.mu.Lock()
		if fl.val > 0 {
			f.last = fl
		}
		f.running, f.next = f.next, nil
		if f.running != nil {
			f.running.n = f.started.Add(1)
		}
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.val = f.read()
}

// maxLeaseTTLView is a system view whose MaxLeaseTTL is max, a value read
// from the view it wraps.
type maxLeaseTTLView struct {
	logical.SystemView
	max time.Duration
}

func (v maxLeaseTTLView) MaxLeaseTTL() time.Duration { return v.max }
