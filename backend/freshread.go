package backend

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// freshRead shares one read of a value that can change at any time (the
// mount's max lease TTL, which `vault secrets tune` changes without
// telling the plugin) among the callers that asked for it before that read
// started, and only them: a caller never gets a value read before it asked.
// So each caller gets what its own read, made at some moment between its
// call and its return, could have returned, and nothing older; concurrent
// callers share one read instead of making one each. For an external
// plugin each read of the system view is a gRPC round trip to Vault.
//
// At most one read runs at a time. A caller that finds none running starts
// one. A caller that finds one running cannot use it (it started before the
// caller asked): it joins the next read, which starts when the running one
// ends, and the first to join it makes it.
type freshRead[T any] struct {
	read func() T

	mu      sync.Mutex
	running *readFlight[T] // the read under way, or nil
	next    *readFlight[T] // the read that starts when running ends, or nil
}

// readFlight is one read and the callers waiting for it.
type readFlight[T any] struct {
	done    chan struct{} // closed when val is set
	val     T
	callers int // how many callers it answers (for the tests)
}

func newFreshRead[T any](read func() T) *freshRead[T] {
	return &freshRead[T]{read: read}
}

// get returns the value from a read that started after get was called.
func (f *freshRead[T]) get() T {
	f.mu.Lock()
	switch {
	case f.running == nil:
		fl := &readFlight[T]{done: make(chan struct{}), callers: 1}
		f.running = fl
		f.mu.Unlock()
		f.run(fl)
		return fl.val
	case f.next == nil:
		// The read under way started before this call: the next read is
		// this caller's to make, once the running one has ended (run
		// makes fl the running read then; no one joins it after that).
		fl := &readFlight[T]{done: make(chan struct{}), callers: 1}
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

// run makes the read of fl, the running read, then lets the next read (if
// any caller joined one) start and answers fl's callers. It answers them
// and hands on even if the read panics.
func (f *freshRead[T]) run(fl *readFlight[T]) {
	defer func() {
		f.mu.Lock()
		f.running, f.next = f.next, nil
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
