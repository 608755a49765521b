package github

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// RetryPolicy bounds the retries of one call. Zero fields take the
// DefaultRetryPolicy values.
type RetryPolicy struct {
	MaxAttempts      int           // attempts in all, including the first
	BaseDelay        time.Duration // first backoff ceiling; doubles per attempt
	MaxDelay         time.Duration // backoff ceiling
	MaxRateLimitWait time.Duration // longest Retry-After waited out
}

// DefaultRetryPolicy: four attempts, full-jitter backoff from 100ms up to
// 2s, and rate limits waited out when GitHub asks for at most 10s.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:      4,
	BaseDelay:        100 * time.Millisecond,
	MaxDelay:         2 * time.Second,
	MaxRateLimitWait: 10 * time.Second,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.BaseDelay > 0 {
		d.BaseDelay = p.BaseDelay
	}
	if p.MaxDelay > 0 {
		d.MaxDelay = p.MaxDelay
	}
	if p.MaxRateLimitWait > 0 {
		d.MaxRateLimitWait = p.MaxRateLimitWait
	}
	return d
}

// decide says whether a failed attempt is retried, and after how long.
// Retried: 5xx answers, rate limits GitHub asks to wait out within the cap,
// and transport failures. A mint is retried only when it certainly created
// nothing: after 503, a rate limit, or a dial that failed; never after
// another 5xx (GitHub's edge may answer 500, 502 or 504 after the token was
// created) or a transport failure once the request may have left.
// Never retried: other 4xx, cancellation, undecodable answers.
func (p RetryPolicy) decide(req request, attempt int, err error) (time.Duration, bool) {
	if attempt >= p.MaxAttempts || errors.Is(err, context.Canceled) {
		return 0, false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.RateLimited:
			if apiErr.RetryAfter > p.MaxRateLimitWait {
				return 0, false
			}
			return max(apiErr.RetryAfter, p.BaseDelay) + p.jitter(p.BaseDelay), true
		case apiErr.StatusCode >= 500:
			if req.mint && mayHaveMinted(apiErr.StatusCode) {
				return 0, false
			}
			return p.backoff(attempt), true
		}
		return 0, false
	}
	var te *TransportError
	if errors.As(err, &te) {
		if req.mint && te.Sent {
			return 0, false
		}
		return p.backoff(attempt), true
	}
	return 0, false
}

// mayHaveMinted tells whether a mint answered status may have created the
// token: any server error but 503, an explicit refusal to serve.
func mayHaveMinted(status int) bool {
	return status >= 500 && status != http.StatusServiceUnavailable
}

// backoff is "full jitter": uniform in [0, min(MaxDelay, BaseDelay*2^(n-1))].
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.BaseDelay << (attempt - 1)
	if ceiling <= 0 || ceiling > p.MaxDelay {
		ceiling = p.MaxDelay
	}
	return p.jitter(ceiling)
}

func (p RetryPolicy) jitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// fitsDeadline tells whether waiting d still leaves time for an attempt
// before ctx's deadline.
func fitsDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return true
	}
	const attemptBudget = 250 * time.Millisecond
	return time.Until(deadline) > d+attemptBudget
}
