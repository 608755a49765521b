package githubtest

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const rateLimitDocs = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"

// FaultCounts counts the answers injected so far.
type FaultCounts struct {
	// Injected5xx counts answers injected by FailNext and SetFailureRate
	// (whatever status they were given).
	Injected5xx int `json:"injected_5xx"`
	// InjectedRateLimits counts answers injected by RateLimitNext and
	// SetRateLimitRate.
	InjectedRateLimits int `json:"injected_rate_limits"`
	// InjectedAfterEffect counts answers injected by FailNextAfterEffect:
	// the request took effect, then failed.
	InjectedAfterEffect int `json:"injected_after_effect"`
	// InjectedRevocations counts tokens revoked by RevokeTokenOnNext.
	InjectedRevocations int `json:"injected_revocations"`
}

// faults is the fault-injection state; guarded by Server.mu.
type faults struct {
	latency time.Duration

	failNext       int
	failNextStatus int
	failRate       float64
	failRateStatus int

	rateLimitNext       int
	rateLimitNextStatus int
	rateLimitNextRetry  time.Duration
	rateLimitRate       float64
	rateLimitRateRetry  time.Duration

	revokeStatus int

	failAfterNext       int // FailNextAfterEffect
	failAfterNextStatus int
	failAfterMatch      func(*http.Request) bool
	mintOutage          mintOutage // ArmMintOutage (outage.go)

	gitChunkDelay time.Duration // SetGitChunkDelay
	revokeNext    int           // RevokeTokenOnNext
	revokeMatch   func(*http.Request) bool
	revokeThen    func(Token)

	counts FaultCounts
}

// fault is one injected answer.
type fault struct {
	status     int
	rateLimit  bool
	retryAfter time.Duration
	// afterEffect: the request is served first (a mint mints, a revoke
	// revokes), its answer dropped, and the fault answered instead.
	afterEffect bool
}

// SetLatency makes every request wait d before it is answered. A request
// whose client gives up while waiting is recorded with status 0.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
}

// FailNext makes the next n requests to any API endpoint answer status with a
// GitHub-style error body, without side effects (no token is minted or
// revoked).
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failNext, s.faults.failNextStatus = n, status
}

// FailNextAfterEffect makes the next n requests to any API endpoint take
// effect and then answer status (e.g. 500, 502 or 504, as GitHub's edge can
// after the request reached GitHub) with a GitHub-style error body. A mint
// issues its token, which stays recorded as issued and live (an orphan the
// client never saw); a revoke revokes. A request that would have been
// refused (bad JWT, unknown installation) has no effect, and answers status
// all the same. FailNext's requests come first.
func (s *Server) FailNextAfterEffect(n int, status int) {
	s.FailNextAfterEffectOn(n, status, nil)
}

// FailNextAfterEffectOn is FailNextAfterEffect for the next n requests that
// match (any if match is nil), e.g. a push's POST git-receive-pack (whose
// refs then move, recorded, while git sees the failure) without its ref
// advertisement. match sees the request before its body is read.
func (s *Server) FailNextAfterEffectOn(n int, status int, match func(*http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failAfterNext, s.faults.failAfterNextStatus, s.faults.failAfterMatch = n, status, match
}

// RequestIs matches requests with method (any if "") whose path ends with
// suffix, for FailNextAfterEffectOn.
func RequestIs(method, suffix string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return (method == "" || r.Method == method) && strings.HasSuffix(r.URL.Path, suffix)
	}
}

// SetFailureRate makes each request fail with status with probability p,
// without side effects. p = 0 disables it.
func (s *Server) SetFailureRate(p float64, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failRate, s.faults.failRateStatus = p, status
}

// RateLimitNext makes the next n requests answer status (403 or 429, as
// GitHub does) as rate limited: X-RateLimit-Remaining 0, X-RateLimit-Reset,
// a Retry-After in whole seconds if retryAfter > 0, and GitHub's "API rate
// limit exceeded" body. They have no side effects.
func (s *Server) RateLimitNext(n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.rateLimitNext, s.faults.rateLimitNextStatus, s.faults.rateLimitNextRetry = n, status, retryAfter
}

// SetRateLimitRate makes each request answer 429 as rate limited (see
// RateLimitNext) with probability p. p = 0 disables it.
func (s *Server) SetRateLimitRate(p float64, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.rateLimitRate, s.faults.rateLimitRateRetry = p, retryAfter
}

// SetRevokeStatus makes DELETE /installation/token answer status without
// revoking anything; 0 restores normal revocation.
func (s *Server) SetRevokeStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.revokeStatus = status
}

// SetGitChunkDelay slows git answers (git.go): each 16 KiB of an answer is
// written after d, so that a clone of a few megabytes lasts as long as a
// test needs. It takes effect at once, also mid-transfer; 0 restores full
// speed.
func (s *Server) SetGitChunkDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.gitChunkDelay = d
}

func (s *Server) gitChunkDelay() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.gitChunkDelay
}

// RevokeTokenOnNext makes the next n requests that match (any request if
// match is nil) and carry a live installation token, on git or the API,
// revoke that token as they arrive, as if its Vault lease ended at that
// moment; the request is then served with the token dead, so it is refused
// with 401. then, if not nil, is called with the revoked token before the
// request is answered. Requests without a live token do not count. match
// sees the request before its body is read (method, path, headers,
// ContentLength: -1 for a chunked body).
func (s *Server) RevokeTokenOnNext(n int, match func(*http.Request) bool, then func(Token)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.revokeNext, s.faults.revokeMatch, s.faults.revokeThen = n, match, then
}

// MethodIs matches requests with method, for RevokeTokenOnNext.
func MethodIs(method string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == method }
}

// RevokeToken revokes a token the double issued, as DELETE
// /installation/token with it would. It reports false if the token is
// unknown or already dead.
func (s *Server) RevokeToken(value string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, found := s.tokenIndex[value]
	if !found || !tok.Live(time.Now()) {
		return false
	}
	tok.RevokedAt = time.Now()
	return true
}

// revokeIfArmed applies RevokeTokenOnNext to r.
func (s *Server) revokeIfArmed(r *http.Request) {
	s.mu.Lock()
	armed, match := s.faults.revokeNext > 0, s.faults.revokeMatch
	s.mu.Unlock()
	if !armed || (match != nil && !match(r)) {
		return
	}
	_, cred := credential(r)
	s.mu.Lock()
	f := &s.faults
	tok, found := s.tokenIndex[cred]
	if f.revokeNext <= 0 || !found || !tok.Live(time.Now()) {
		s.mu.Unlock()
		return
	}
	f.revokeNext--
	f.counts.InjectedRevocations++
	tok.RevokedAt = time.Now()
	then, revoked := f.revokeThen, tok.clone()
	s.mu.Unlock()
	if then != nil {
		then(revoked)
	}
}

// Faults returns the counts of injected answers so far.
func (s *Server) Faults() FaultCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.counts
}

// ResetFaults clears latency, failures, rate limits and the revoke status.
// The counts are kept.
func (s *Server) ResetFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faults{counts: s.faults.counts}
}

func (s *Server) latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.latency
}

func (s *Server) revokeStatus() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.revokeStatus
}

// takeFault decides whether this request gets an injected answer and counts
// it. Scripted faults (FailNext, FailNextAfterEffect, then RateLimitNext)
// come before random ones.
func (s *Server) takeFault(r *http.Request) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	switch {
	case f.failNext > 0:
		f.failNext--
		f.counts.Injected5xx++
		return fault{status: f.failNextStatus}, true
	case f.failAfterNext > 0 && (f.failAfterMatch == nil || f.failAfterMatch(r)):
		f.failAfterNext--
		f.counts.InjectedAfterEffect++
		return fault{status: f.failAfterNextStatus, afterEffect: true}, true
	case f.rateLimitNext > 0:
		f.rateLimitNext--
		f.counts.InjectedRateLimits++
		return fault{status: f.rateLimitNextStatus, rateLimit: true, retryAfter: f.rateLimitNextRetry}, true
	case f.failRate > 0 && rand.Float64() < f.failRate:
		f.counts.Injected5xx++
		return fault{status: f.failRateStatus}, true
	case f.rateLimitRate > 0 && rand.Float64() < f.rateLimitRate:
		f.counts.InjectedRateLimits++
		return fault{status: http.StatusTooManyRequests, rateLimit: true, retryAfter: f.rateLimitRateRetry}, true
	}
	return fault{}, false
}

// writeFault writes an injected answer for a request to path (without
// prefix).
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, path string, f fault) {
	if !f.rateLimit {
		writeError(w, f.status, http.StatusText(f.status), docsRoot)
		return
	}
	h := w.Header()
	wait := time.Minute // until the reset when no Retry-After is given
	if f.retryAfter > 0 {
		wait = f.retryAfter
		h.Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
	}
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Used", strconv.Itoa(rateLimitLimit))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(wait).Unix()+1, 10))
	writeError(w, f.status, s.rateLimitMessage(r, path), rateLimitDocs)
}

// rateLimitMessage words the rate-limit message as GitHub does, naming the
// installation the request is about when there is one.
func (s *Server) rateLimitMessage(r *http.Request, path string) string {
	if id, ok := strings.CutPrefix(path, "/app/installations/"); ok {
		id, _, _ = strings.Cut(id, "/")
		if _, err := strconv.ParseInt(id, 10, 64); err == nil {
			return fmt.Sprintf("API rate limit exceeded for installation ID %s.", id)
		}
	}
	if tok, ok := installationToken(r); ok {
		if t, found := s.LookupToken(tok); found {
			return fmt.Sprintf("API rate limit exceeded for installation ID %d.", t.InstallationID)
		}
	}
	return fmt.Sprintf("API rate limit exceeded for app ID %d.", s.AppID)
}
