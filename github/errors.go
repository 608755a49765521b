package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// APIError is an answer from GitHub outside 2xx. Message is GitHub's own
// message, scrubbed of anything that looks like a credential.
type APIError struct {
	Endpoint         string
	StatusCode       int
	Message          string
	DocumentationURL string
	// RateLimited is set for 403/429 answers that carry Retry-After or
	// X-RateLimit-Remaining: 0, or that name a secondary rate limit.
	RateLimited bool
	// RetryAfter is how long GitHub asks to wait (rate limits only).
	RetryAfter time.Duration
	// AppAuth is set when the request was authenticated with the App's JWT
	// (not an installation token). A 401 or 403 that is not a rate limit is
	// then GitHub refusing the App itself: see IsAppRefused.
	AppAuth bool
	// Suspended is set when GitHub refused because the installation is
	// suspended (403 "This installation has been suspended").
	Suspended bool
	// MintOutcomeUnknown is set on a token mint answered with a server
	// error other than 503 (500, 502, 504...): GitHub's edge can answer so
	// after the token was created, so the mint was not sent again. See
	// IsAmbiguousMint.
	MintOutcomeUnknown bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: GitHub answered %d", e.Endpoint, e.StatusCode)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RateLimited {
		fmt.Fprintf(&b, " (rate limited; retry after %s)", e.RetryAfter.Round(time.Second))
	}
	if e.MintOutcomeUnknown {
		b.WriteString(ambiguousMintNote)
	}
	return b.String()
}

// ambiguousMintNote ends the message of a mint whose outcome is unknown.
const ambiguousMintNote = " (the outcome is unknown: GitHub may have created a token, which expires by itself within the hour; the mint was not sent again so as not to create another)"

// secondaryRateLimitWait is GitHub's advice when a secondary rate limit
// answer names no time: wait at least a minute.
const secondaryRateLimitWait = time.Minute

func newAPIError(endpoint string, status int, h http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{Endpoint: endpoint, StatusCode: status}
	e.Message, e.DocumentationURL = decodeError(body)
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if status == http.StatusForbidden || status == http.StatusTooManyRequests {
		retryAfter, hasRetryAfter := parseRetryAfter(h.Get("Retry-After"), now)
		exhausted := h.Get("X-RateLimit-Remaining") == "0"
		secondary := strings.Contains(strings.ToLower(e.Message), "secondary rate limit")
		switch {
		case hasRetryAfter:
			e.RateLimited, e.RetryAfter = true, retryAfter
		case exhausted:
			e.RateLimited, e.RetryAfter = true, untilReset(h.Get("X-RateLimit-Reset"), now)
		case secondary || status == http.StatusTooManyRequests:
			e.RateLimited, e.RetryAfter = true, secondaryRateLimitWait
		}
	}
	if status == http.StatusForbidden && !e.RateLimited && strings.Contains(strings.ToLower(e.Message), "suspended") {
		e.Suspended = true
	}
	return e
}

// errorJSON is GitHub's error body.
type errorJSON struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
}

// decodeError extracts GitHub's message from an error body. A body that is
// not GitHub's JSON yields a short, scrubbed excerpt of its text.
func decodeError(body []byte) (message, docURL string) {
	var e errorJSON
	if err := json.Unmarshal(body, &e); err == nil && e.Message != "" {
		return clip(Scrub(e.Message)), clip(Scrub(e.DocumentationURL))
	}
	text := strings.TrimSpace(string(body))
	if text == "" || strings.HasPrefix(text, "<") || strings.HasPrefix(text, "{") {
		return "", ""
	}
	return clip(Scrub(text)), ""
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	limit := 300
	if len(s) > limit {
		for !utf8.RuneStart(s[limit]) { // cut on a character boundary
			limit--
		}
		s = s[:limit] + "…"
	}
	return s
}

var secretLike = regexp.MustCompile(`(?:gh[pousr]_|github_pat_)[A-Za-z0-9_.-]{10,}|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// Scrub replaces anything that looks like a GitHub token, a JWT or a PEM
// block with "[redacted]".
func Scrub(s string) string {
	// PEM blocks first: a token-like run glued to "-----BEGIN" would
	// otherwise swallow the BEGIN line and leave the key's body.
	s = pemLike.ReplaceAllString(s, "[redacted]")
	return secretLike.ReplaceAllString(s, "[redacted]")
}

var pemLike = regexp.MustCompile(`-----BEGIN[^-]*-----[\s\S]*?(?:-----END[^-]*-----|$)`)

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		// Capped so that a huge value cannot wrap around to a short wait.
		return time.Duration(min(secs, int64(math.MaxInt64/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func untilReset(v string, now time.Time) time.Duration {
	secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return secondaryRateLimitWait
	}
	return max(time.Unix(secs, 0).Sub(now), time.Second)
}

// TransportError is a failure to get an answer from GitHub at all.
type TransportError struct {
	Endpoint string
	Err      error
	// Sent is false when the request certainly never left (a failed dial),
	// so even a mint may be sent again.
	Sent bool
	// MintOutcomeUnknown is set on a token mint that may have reached
	// GitHub (Sent) but got no answer: GitHub may have created the token.
	// The mint is not sent again. See IsAmbiguousMint.
	MintOutcomeUnknown bool
}

func (e *TransportError) Error() string {
	msg := fmt.Sprintf("%s: no answer from GitHub: %v", e.Endpoint, e.Err)
	if e.MintOutcomeUnknown {
		msg += ambiguousMintNote
	}
	return msg
}

func (e *TransportError) Unwrap() error { return e.Err }

// IsTimeout tells whether err is GitHub not answering in time: the
// client's own timeout, or the caller's deadline.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// notSent tells whether err happened before the request could reach the
// server: a failed dial or name lookup.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// IsNotFound tells whether err is GitHub's 404.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// ambiguousMintError is a mint GitHub answered 2xx with an answer that
// holds no usable token.
type ambiguousMintError struct{ err error }

func (e *ambiguousMintError) Error() string { return e.err.Error() + ambiguousMintNote }
func (e *ambiguousMintError) Unwrap() error { return e.err }

// unusableTokenError is a mint GitHub answered 2xx with a token that
// cannot be used: no expires_at (a lease could not follow it), or an
// answer that did not decode. The token exists at GitHub.
type unusableTokenError struct {
	err   error
	token string
}

func (e *unusableTokenError) Error() string {
	return strings.TrimSuffix(e.err.Error(), ambiguousMintNote) + " (it carried a token, which must be revoked)"
}
func (e *unusableTokenError) Unwrap() error { return e.err }

// UnusableToken returns the token a mint answer carried that the client
// could not use (see CreateToken), for the caller to revoke; "" if err is
// not such an answer. The error's text never holds the token.
func UnusableToken(err error) string {
	var e *unusableTokenError
	if errors.As(err, &e) {
		return e.token
	}
	return ""
}

// IsAmbiguousMint tells whether err is a token mint whose outcome is
// unknown: GitHub answered 500, 502, 504 (or another server error but 503),
// gave no answer after the request may have reached it, or answered 2xx
// with no readable token. GitHub may have
// created a token nobody holds; it expires by itself (within the hour). The
// client does not send such a mint again, so one call never creates two
// tokens.
func IsAmbiguousMint(err error) bool {
	if UnusableToken(err) != "" {
		return false // the token is known: its outcome is not in doubt
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.MintOutcomeUnknown
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.MintOutcomeUnknown
	}
	var am *ambiguousMintError
	return errors.As(err, &am)
}

// IsAppRefused tells whether err is GitHub refusing the App itself: a 401
// or 403, not a rate limit, on a call authenticated with the App's JWT. The
// App's key may have been deleted or replaced at GitHub, the clock may be
// skewed (the JWT's iat/exp), or the installation may be suspended (see
// IsSuspended). It is an operator's matter, not the caller's.
func IsAppRefused(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.AppAuth && !e.RateLimited &&
		(e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// IsSuspended tells whether err is GitHub refusing because the installation
// is suspended.
func IsSuspended(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Suspended
}

// IsRateLimited tells whether err is a rate-limit answer, and how long
// GitHub asked to wait.
func IsRateLimited(err error) (time.Duration, bool) {
	var e *APIError
	if errors.As(err, &e) && e.RateLimited {
		return e.RetryAfter, true
	}
	return 0, false
}
