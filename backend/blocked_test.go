package backend

import (
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitBlocked waits until a goroutine is blocked (its state, e.g. "chan
// send" or "sync.RWMutex.RLock") with fn on its stack, and reports true;
// or until done is closed first, and reports false. It reads the runtime's
// goroutine dump, so a test can tell "waits" from "has not got there yet"
// without guessing a duration.
func waitBlocked(t *testing.T, fn, state string, done <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 4<<20)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		default:
		}
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, stack, _ := strings.Cut(g, "\n")
			if strings.Contains(header, "["+state) && strings.Contains(stack, fn) {
				return true
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("after 30s, no goroutine is blocked in %s (%s), and the operation has not ended", fn, state)
	return false
}

// holdGate is a transport between the backend and the double that holds the
// requests hold accepts until they are released (or their context ends),
// counting them.
type holdGate struct {
	base http.RoundTripper
	hold func(*http.Request) bool

	mu       sync.Mutex
	open     chan struct{}
	inFlight int
	most     int
	finished int
}

func newHoldGate(base http.RoundTripper, hold func(*http.Request) bool) *holdGate {
	return &holdGate{base: base, hold: hold, open: make(chan struct{})}
}

func (g *holdGate) RoundTrip(r *http.Request) (*http.Response, error) {
	if !g.hold(r) {
		return g.base.RoundTrip(r)
	}
	g.mu.Lock()
	g.inFlight++
	g.most = max(g.most, g.inFlight)
	open := g.open
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.finished++
		g.mu.Unlock()
	}()
	select {
	case <-open:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return g.base.RoundTrip(r)
}

// release lets the held requests through, and those after them.
func (g *holdGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

// counts are the requests held now, at most at once, and ended.
func (g *holdGate) counts() (inFlight, most, finished int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight, g.most, g.finished
}

// closed reports, on a channel, when f returns.
func closed(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}
