package githubtest

import (
	"net/http"
	"strings"
	"time"
)

// Outage is a mint-endpoint outage that happened (see ArmMintOutage).
type Outage struct {
	// Start is the arrival of the first mint request after arming; End is
	// Start plus the armed length.
	Start, End time.Time
	// Refused counts the mint requests answered 503 during it.
	Refused int
}

// mintOutage is the state of ArmMintOutage; guarded by Server.mu (it lives
// in faults, so ResetFaults disarms it and forgets past outages).
type mintOutage struct {
	armed  time.Duration // > 0 while armed and not yet started
	active *Outage       // the outage in progress, or the last one
	past   []Outage
}

// ArmMintOutage arms an outage of the mint endpoint
// (POST /app/installations/{id}/access_tokens) lasting d. It starts at the
// first mint request after the call, the worst moment for a client that
// re-reads on a timer, and from then every mint request answers 503 with
// GitHub's error body, without side effects, until d has passed. Other
// endpoints (revocation, installation lookups) keep answering. Arming again
// before the outage starts replaces the armed length; d <= 0 disarms.
func (s *Server) ArmMintOutage(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.mintOutage.armed = max(d, 0)
}

// MintOutages returns the outages that have started, oldest first; the last
// one may still be in progress (End in the future).
func (s *Server) MintOutages() []Outage {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.faults.mintOutage
	out := append([]Outage(nil), o.past...)
	if o.active != nil {
		out = append(out, *o.active)
	}
	return out
}

// mintOutageNow reports whether a request to path (without prefix) is a
// mint that falls in an outage, starting an armed one, and counts it.
func (s *Server) mintOutageNow(method, path string) bool {
	if method != http.MethodPost || !isMintPath(path) {
		return false
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.faults.mintOutage
	if o.armed > 0 {
		if o.active != nil {
			o.past = append(o.past, *o.active)
		}
		o.active = &Outage{Start: now, End: now.Add(o.armed)}
		o.armed = 0
	}
	if o.active == nil || !now.Before(o.active.End) {
		return false
	}
	o.active.Refused++
	s.faults.counts.Injected5xx++
	return true
}

// isMintPath matches /app/installations/{id}/access_tokens.
func isMintPath(path string) bool {
	_, ok := match("/app/installations/{id}/access_tokens", strings.Split(strings.TrimPrefix(path, "/"), "/"))
	return ok
}
