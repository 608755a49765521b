package github

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds for "promptly": generous (ten times or more what the code needs),
// they only tell a return that waited out a backoff from one that did not.
const prompt = 2500 * time.Millisecond

func apiStatus(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

func TestRetry5xxThenSuccess(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			s := newDouble(t)
			c := newClient(t, s)
			s.FailNext(2, status)
			if _, err := c.App(t.Context()); err != nil {
				t.Fatalf("App after two %ds: %v", status, err)
			}
			if n := s.CallCount(http.MethodGet, "/app"); n != 3 {
				t.Fatalf("%d calls, want 3", n)
			}
		})
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	for _, attempts := range []int{1, 2, 4} {
		t.Run(strconv.Itoa(attempts), func(t *testing.T) {
			s := newDouble(t)
			c := newClient(t, s, func(cfg *Config) { cfg.Retry.MaxAttempts = attempts })
			s.FailNext(10, http.StatusBadGateway)
			_, err := c.App(t.Context())
			if apiStatus(err) != http.StatusBadGateway {
				t.Fatalf("App = %v, want the 502", err)
			}
			if n := s.CallCount(http.MethodGet, "/app"); n != attempts {
				t.Fatalf("%d calls, want MaxAttempts = %d", n, attempts)
			}
		})
	}
	// The default policy makes four attempts.
	s := newDouble(t)
	c := newClient(t, s, func(cfg *Config) { cfg.Retry = RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond} })
	s.FailNext(10, http.StatusServiceUnavailable)
	if _, err := c.App(t.Context()); err == nil {
		t.Fatal("App succeeded")
	}
	if n := s.CallCount(http.MethodGet, "/app"); n != DefaultRetryPolicy.MaxAttempts {
		t.Fatalf("%d calls, want %d", n, DefaultRetryPolicy.MaxAttempts)
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 410, 422} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			s := newDouble(t)
			in := s.AddInstallation("acme", "Organization", "widgets")
			c := newClient(t, s)
			s.FailNext(1, status)
			_, err := c.App(t.Context())
			if apiStatus(err) != status {
				t.Fatalf("App = %v, want %d", err, status)
			}
			if _, limited := IsRateLimited(err); limited {
				t.Errorf("%d without rate-limit headers taken as a rate limit", status)
			}
			s.FailNext(1, status)
			if _, err := c.CreateToken(t.Context(), in.ID, TokenRequest{}); apiStatus(err) != status {
				t.Fatalf("CreateToken = %v, want %d", err, status)
			}
			if n := len(s.Calls()); n != 2 {
				t.Fatalf("%d calls for two %ds, want 2 (no retry)", n, status)
			}
		})
	}
}

func TestRateLimitWaitedOut(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusForbidden} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			s := newDouble(t)
			c := newClient(t, s)
			s.RateLimitNext(1, status, time.Second)
			start := time.Now()
			if _, err := c.App(t.Context()); err != nil {
				t.Fatalf("App after a 1s rate limit: %v", err)
			}
			if n := s.CallCount(http.MethodGet, "/app"); n != 2 {
				t.Fatalf("%d calls, want 2", n)
			}
			// It waited as asked (a lower bound, not a speed check).
			if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
				t.Fatalf("retried after %v; Retry-After was 1s", elapsed)
			}
		})
	}
}

func TestRateLimitBeyondCapNotWaited(t *testing.T) {
	s := newDouble(t)
	c := newClient(t, s) // MaxRateLimitWait 2s
	s.RateLimitNext(1, http.StatusTooManyRequests, 30*time.Second)
	start := time.Now()
	_, err := c.App(t.Context())
	wait, limited := IsRateLimited(err)
	if !limited {
		t.Fatalf("App = %v, want a rate limit", err)
	}
	if wait != 30*time.Second {
		t.Errorf("RetryAfter %v, want 30s", wait)
	}
	if n := s.CallCount(http.MethodGet, "/app"); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
	if elapsed := time.Since(start); elapsed > prompt {
		t.Errorf("took %v to give up", elapsed)
	}
	if got, want := err.Error(), "GET /app: GitHub answered 429: API rate limit exceeded for app ID 1001. (rate limited; retry after 30s)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// GitHub's primary rate limit: 403 with X-RateLimit-Remaining: 0 and a
// reset time, no Retry-After.
func TestRateLimit403Exhausted(t *testing.T) {
	s := newDouble(t)
	c := newClient(t, s)
	s.RateLimitNext(1, http.StatusForbidden, 0) // reset about a minute ahead
	_, err := c.App(t.Context())
	wait, limited := IsRateLimited(err)
	if !limited {
		t.Fatalf("App = %v, want a rate limit", err)
	}
	if wait < 50*time.Second || wait > 70*time.Second {
		t.Errorf("RetryAfter %v, want the time until X-RateLimit-Reset (~61s)", wait)
	}
	if n := s.CallCount(http.MethodGet, "/app"); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestRateLimitHeadersFromAServer(t *testing.T) {
	tests := map[string]struct {
		status  int
		header  map[string]string
		body    string
		limited bool
		minWait time.Duration
		maxWait time.Duration
		retried bool // with MaxRateLimitWait 2s
	}{
		"403 exhausted, reset in a second": {
			status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "{now+1}"},
			limited: true, minWait: time.Second, maxWait: 2 * time.Second, retried: true,
		},
		"403 exhausted, reset passed": {
			status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "{now-100}"},
			limited: true, minWait: time.Second, maxWait: time.Second, retried: true,
		},
		"403 exhausted, no reset": {
			status: 403, header: map[string]string{"X-RateLimit-Remaining": "0"},
			limited: true, minWait: time.Minute, maxWait: time.Minute,
		},
		"403 Retry-After": {
			status: 403, header: map[string]string{"Retry-After": "1"},
			limited: true, minWait: time.Second, maxWait: time.Second, retried: true,
		},
		"429 Retry-After 0": {
			status: 429, header: map[string]string{"Retry-After": "0"},
			limited: true, minWait: 0, maxWait: 0, retried: true,
		},
		"429 Retry-After HTTP date": {
			status: 429, header: map[string]string{"Retry-After": "{date+30}"},
			limited: true, minWait: 28 * time.Second, maxWait: 31 * time.Second,
		},
		"403 secondary rate limit message": {
			status: 403, body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`,
			limited: true, minWait: time.Minute, maxWait: time.Minute,
		},
		"429 bare": {
			status: 429, limited: true, minWait: time.Minute, maxWait: time.Minute,
		},
		"403 plain": {
			status: 403, header: map[string]string{"X-RateLimit-Remaining": "4999"}, body: `{"message":"Resource not accessible by integration"}`,
		},
		"403 unparsable Retry-After": {
			status: 403, header: map[string]string{"Retry-After": "soon"},
		},
		"404 with exhausted budget": {
			status: 404, header: map[string]string{"X-RateLimit-Remaining": "0", "Retry-After": "1"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The server answers tc to the first request after each reset of
			// hits, and 200 after.
			var hits atomic.Int64
			api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) > 1 {
					fmt.Fprint(w, `{"id":1001}`)
					return
				}
				now := time.Now()
				for k, v := range tc.header {
					switch v {
					case "{now+1}":
						v = strconv.FormatInt(now.Add(time.Second).Unix()+1, 10)
					case "{now-100}":
						v = strconv.FormatInt(now.Unix()-100, 10)
					case "{date+30}":
						v = now.Add(30 * time.Second).UTC().Format(http.TimeFormat)
					}
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})

			once := newClientAt(t, api.URL, func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })
			_, err := once.App(t.Context())
			if apiStatus(err) != tc.status {
				t.Fatalf("App = %v, want %d", err, tc.status)
			}
			wait, limited := IsRateLimited(err)
			if limited != tc.limited {
				t.Fatalf("IsRateLimited = %v, want %v (%v)", limited, tc.limited, err)
			}
			if limited && (wait < tc.minWait || wait > tc.maxWait) {
				t.Errorf("RetryAfter %v, want %v..%v", wait, tc.minWait, tc.maxWait)
			}

			hits.Store(0)
			c := newClientAt(t, api.URL)
			_, err = c.App(t.Context())
			if n := hits.Load(); tc.retried && (err != nil || n != 2) {
				t.Errorf("%d attempts, err %v; want a retry that succeeds", n, err)
			} else if !tc.retried && (err == nil || n != 1) {
				t.Errorf("%d attempts, err %v; want no retry", n, err)
			}
		})
	}
}

// A Retry-After too large for a time.Duration is still "too long to wait",
// not a wrapped-around short or negative wait.
func TestRateLimitHugeRetryAfter(t *testing.T) {
	for _, v := range []string{"9300000000", "18446744074", "99999999999999999"} {
		t.Run(v, func(t *testing.T) {
			var hits atomic.Int64
			api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Retry-After", v)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			c := newClientAt(t, api.URL)
			_, err := c.App(t.Context())
			wait, limited := IsRateLimited(err)
			if !limited {
				t.Fatalf("App = %v, want a rate limit", err)
			}
			if wait < time.Hour {
				t.Errorf("Retry-After %s read as %v", v, wait)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d attempts, want 1 (the wait is beyond MaxRateLimitWait)", n)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Minting is never sent twice when GitHub may have minted already.

func TestMintRetriedOn503MintsOnce(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	c := newClient(t, s)
	s.FailNext(1, http.StatusServiceUnavailable)
	tok, err := c.CreateToken(t.Context(), in.ID, TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CallCount(http.MethodPost, fmt.Sprintf("/app/installations/%d/access_tokens", in.ID)); n != 2 {
		t.Errorf("%d POSTs, want 2", n)
	}
	tokens := s.Tokens()
	if len(tokens) != 1 || tokens[0].Value != tok.Token {
		t.Fatalf("double minted %d tokens, want exactly the one returned", len(tokens))
	}

	s.RateLimitNext(1, http.StatusTooManyRequests, time.Second)
	if _, err := c.CreateToken(t.Context(), in.ID, TokenRequest{}); err != nil {
		t.Fatalf("mint after a 1s rate limit: %v", err)
	}
	if n := len(s.Tokens()); n != 2 {
		t.Fatalf("%d tokens after two mints, want 2", n)
	}
}

// A mint answered 500, 502 or 504 may have been created at GitHub (its edge
// can fail after the token was made): it is not sent again, the error says
// the outcome is unknown, and the token GitHub made is an orphan that
// expires by itself.
func TestMintNotResentAfterAmbiguous5xx(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			s := newDouble(t)
			in := s.AddInstallation("acme", "Organization", "widgets")
			c := newClient(t, s)
			s.FailNextAfterEffect(1, status)
			tok, err := c.CreateToken(t.Context(), in.ID, TokenRequest{Repositories: []string{"widgets"}})
			if tok != nil || err == nil {
				t.Fatalf("CreateToken = %v, %v; want an error", tok, err)
			}
			if !IsAmbiguousMint(err) {
				t.Errorf("IsAmbiguousMint(%v) = false", err)
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status || !apiErr.MintOutcomeUnknown || !apiErr.AppAuth {
				t.Errorf("error %#v", apiErr)
			}
			if !strings.Contains(err.Error(), "outcome is unknown") {
				t.Errorf("message %q does not say the outcome is unknown", err)
			}
			if n := s.CallCount(http.MethodPost, fmt.Sprintf("/app/installations/%d/access_tokens", in.ID)); n != 1 {
				t.Errorf("%d POSTs, want exactly 1", n)
			}
			live := s.LiveTokens()
			if len(live) != 1 || live[0].InstallationID != in.ID {
				t.Fatalf("double holds %d live tokens, want the 1 orphan it minted", len(live))
			}
			if strings.Contains(err.Error(), live[0].Value) || strings.Contains(err.Error(), "ghs_") {
				t.Error("the error carries a token")
			}
			if IsAppRefused(err) {
				t.Error("a 5xx is reported as GitHub refusing the App")
			}
		})
	}

	// A GET answered the same way is retried: it created nothing.
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	c := newClient(t, s)
	s.FailNextAfterEffect(1, http.StatusBadGateway)
	if _, err := c.Installation(t.Context(), in.ID); err != nil {
		t.Fatalf("lookup after one 502: %v", err)
	}
	if n := s.CallCount(http.MethodGet, fmt.Sprintf("/app/installations/%d", in.ID)); n != 2 {
		t.Errorf("%d GETs, want 2", n)
	}
}

func TestMintTimeoutNotResent(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	c := newClient(t, s, func(cfg *Config) { cfg.HTTPClient = hc })
	if _, err := c.App(t.Context()); err != nil { // sign the JWT outside the timed part
		t.Fatal(err)
	}
	s.SetLatency(3 * time.Second)

	start := time.Now()
	_, err := c.CreateToken(t.Context(), in.ID, TokenRequest{})
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("CreateToken = %v, want a TransportError", err)
	}
	if !IsTimeout(err) {
		t.Errorf("IsTimeout = false for %v", te)
	}
	if !te.Sent {
		t.Errorf("Sent = false for a request that reached the server")
	}
	if !te.MintOutcomeUnknown || !IsAmbiguousMint(err) {
		t.Errorf("a timed-out mint is not reported as ambiguous: %v", err)
	}
	if te.Endpoint != "POST /app/installations/{id}/access_tokens" {
		t.Errorf("Endpoint %q", te.Endpoint)
	}
	if n := s.CallCount(http.MethodPost, fmt.Sprintf("/app/installations/%d/access_tokens", in.ID)); n != 1 {
		t.Fatalf("timed-out mint sent %d times, want 1", n)
	}
	if elapsed := time.Since(start); elapsed > prompt {
		t.Errorf("gave up after %v", elapsed)
	}

	// A read times out the same way but may be sent again.
	s.ResetCalls()
	_, err = c.App(t.Context())
	if !errors.As(err, &te) || !IsTimeout(err) {
		t.Fatalf("App = %v, want a timeout", err)
	}
	if n := s.CallCount(http.MethodGet, "/app"); n != fastRetry.MaxAttempts {
		t.Fatalf("timed-out GET sent %d times, want %d", n, fastRetry.MaxAttempts)
	}
}

// A mint answered 201 with a body that cannot be read may have minted a
// token: it is not sent again.
func TestMintUndecodableAnswerNotResent(t *testing.T) {
	var hits atomic.Int64
	api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"token":"ghs_abcdefghij`)
	})
	c := newClientAt(t, api.URL)
	_, err := c.CreateToken(t.Context(), 1, TokenRequest{})
	if err == nil {
		t.Fatal("truncated answer accepted")
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("mint sent %d times, want 1", n)
	}
	if !IsAmbiguousMint(err) {
		t.Errorf("an unreadable 201 is not reported as ambiguous: %v", err)
	}
}

func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestMintDialFailureRetried(t *testing.T) {
	var attempts atomic.Int64
	c := newClientAt(t, closedPortURL(t), func(cfg *Config) {
		cfg.Observe = func(ci CallInfo) {
			attempts.Add(1)
			if ci.Status != 0 {
				t.Errorf("status %d from a closed port", ci.Status)
			}
		}
	})
	_, err := c.CreateToken(t.Context(), 1, TokenRequest{})
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("CreateToken = %v, want a TransportError", err)
	}
	if te.Sent {
		t.Error("Sent = true for a failed dial")
	}
	if IsTimeout(err) {
		t.Error("IsTimeout = true for a refused connection")
	}
	if IsAmbiguousMint(err) {
		t.Error("a mint that never left is reported as ambiguous")
	}
	if n := attempts.Load(); n != int64(fastRetry.MaxAttempts) {
		t.Fatalf("%d attempts, want %d (a dial failure is safe to retry)", n, fastRetry.MaxAttempts)
	}
}

// ---------------------------------------------------------------------------
// Cancellation and deadlines

func TestCancelDuringBackoffStopsPromptly(t *testing.T) {
	s := newDouble(t)
	c := newClient(t, s, func(cfg *Config) { cfg.Retry.MaxRateLimitWait = time.Minute })
	s.RateLimitNext(1, http.StatusTooManyRequests, 20*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)

	start := time.Now()
	_, err := c.App(ctx)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("App = %v, want context.Canceled", err)
	}
	if elapsed > prompt {
		t.Fatalf("returned %v after the start, long after the cancel", elapsed)
	}
	if n := s.CallCount(http.MethodGet, "/app"); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

func TestCancelDuringRequestStopsRetries(t *testing.T) {
	s := newDouble(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	c := newClient(t, s)
	if _, err := c.App(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.ResetCalls()
	s.SetLatency(20 * time.Second)
	for name, call := range map[string]func(context.Context) error{
		"GET":  func(ctx context.Context) error { _, err := c.App(ctx); return err },
		"mint": func(ctx context.Context) error { _, err := c.CreateToken(ctx, in.ID, TokenRequest{}); return err },
	} {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := call(ctx)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s = %v, want context.Canceled", name, err)
		}
		if elapsed := time.Since(start); elapsed > prompt {
			t.Errorf("%s returned after %v", name, elapsed)
		}
	}
	if n := len(s.Calls()); n != 2 {
		t.Fatalf("%d calls, want 2 (one each, not retried)", n)
	}
}

func TestCanceledContextSendsNothing(t *testing.T) {
	s := newDouble(t)
	c := newClient(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.App(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("App = %v, want context.Canceled", err)
	}
	if n := len(s.Calls()); n != 0 {
		t.Fatalf("%d calls with a canceled context", n)
	}
}

func TestDeadlineShorterThanWaitStopsRetrying(t *testing.T) {
	t.Run("rate limit", func(t *testing.T) {
		s := newDouble(t)
		c := newClient(t, s, func(cfg *Config) { cfg.Retry.MaxRateLimitWait = time.Minute })
		s.RateLimitNext(1, http.StatusTooManyRequests, 8*time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.App(ctx)
		if _, limited := IsRateLimited(err); !limited || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("App = %v, want the rate limit, returned at once", err)
		}
		if elapsed := time.Since(start); elapsed > prompt {
			t.Fatalf("waited %v for a retry that could not fit before the deadline", elapsed)
		}
		if n := s.CallCount(http.MethodGet, "/app"); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
	})
	t.Run("5xx", func(t *testing.T) {
		s := newDouble(t)
		c := newClient(t, s)
		if _, err := c.App(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.ResetCalls()
		s.FailNext(3, http.StatusServiceUnavailable)
		// Less time left than one attempt needs (250ms): no retry.
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		if _, err := c.App(ctx); apiStatus(err) != http.StatusServiceUnavailable {
			t.Fatalf("App = %v, want the 503", err)
		}
		if n := s.CallCount(http.MethodGet, "/app"); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
	})
}

func TestFitsDeadline(t *testing.T) {
	if !fitsDeadline(context.Background(), time.Hour) {
		t.Error("no deadline: a wait must fit")
	}
	tests := []struct {
		left, wait time.Duration
		fits       bool
	}{
		{10 * time.Second, time.Second, true},
		{10 * time.Second, 0, true},
		{100 * time.Millisecond, 0, false}, // less than one attempt's budget
		{2 * time.Second, 5 * time.Second, false},
		{time.Second, 800 * time.Millisecond, false},
		{-time.Second, 0, false},
	}
	for _, tc := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), tc.left)
		if got := fitsDeadline(ctx, tc.wait); got != tc.fits {
			t.Errorf("fitsDeadline(%v left, wait %v) = %v, want %v", tc.left, tc.wait, got, tc.fits)
		}
		cancel()
	}
}

// ---------------------------------------------------------------------------
// Policy

func TestDecide(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 4, BaseDelay: 10 * time.Millisecond, MaxDelay: 40 * time.Millisecond, MaxRateLimitWait: 2 * time.Second}
	get := request{method: http.MethodGet, endpoint: "GET /app"}
	mint := request{method: http.MethodPost, endpoint: "POST /x", mint: true}
	sent := &TransportError{Endpoint: "x", Err: errors.New("connection reset"), Sent: true}
	unsent := &TransportError{Endpoint: "x", Err: errors.New("connection refused")}
	tests := map[string]struct {
		req      request
		attempt  int
		err      error
		retry    bool
		min, max time.Duration
	}{
		"5xx":                   {get, 1, &APIError{StatusCode: 503}, true, 0, 10 * time.Millisecond},
		"5xx third attempt":     {get, 3, &APIError{StatusCode: 500}, true, 0, 40 * time.Millisecond},
		"5xx last attempt":      {get, 4, &APIError{StatusCode: 503}, false, 0, 0},
		"5xx past last attempt": {get, 9, &APIError{StatusCode: 503}, false, 0, 0},
		"503 on mint":           {mint, 1, &APIError{StatusCode: 503}, true, 0, 10 * time.Millisecond},
		"500 on mint":           {mint, 1, &APIError{StatusCode: 500}, false, 0, 0},
		"502 on mint":           {mint, 1, &APIError{StatusCode: 502}, false, 0, 0},
		"504 on mint":           {mint, 1, &APIError{StatusCode: 504}, false, 0, 0},
		"501 on mint":           {mint, 1, &APIError{StatusCode: 501}, false, 0, 0},
		"429 on mint":           {mint, 1, &APIError{StatusCode: 429, RateLimited: true, RetryAfter: time.Second}, true, time.Second, time.Second + 10*time.Millisecond},
		"502 on GET":            {get, 1, &APIError{StatusCode: 502}, true, 0, 10 * time.Millisecond},
		"404":                   {get, 1, &APIError{StatusCode: 404}, false, 0, 0},
		"422 on mint":           {mint, 1, &APIError{StatusCode: 422}, false, 0, 0},
		"rate limited":          {get, 1, &APIError{StatusCode: 429, RateLimited: true, RetryAfter: time.Second}, true, time.Second, time.Second + 10*time.Millisecond},
		"rate limited, no wait": {get, 1, &APIError{StatusCode: 403, RateLimited: true}, true, 10 * time.Millisecond, 20 * time.Millisecond},
		"rate limited at cap":   {get, 1, &APIError{StatusCode: 429, RateLimited: true, RetryAfter: 2 * time.Second}, true, 2 * time.Second, 2*time.Second + 10*time.Millisecond},
		"rate limited past cap": {get, 1, &APIError{StatusCode: 429, RateLimited: true, RetryAfter: 3 * time.Second}, false, 0, 0},
		"sent, GET":             {get, 1, sent, true, 0, 10 * time.Millisecond},
		"sent, mint":            {mint, 1, sent, false, 0, 0},
		"unsent, mint":          {mint, 2, unsent, true, 0, 20 * time.Millisecond},
		"wrapped transport":     {get, 1, fmt.Errorf("wrapped: %w", sent), true, 0, 10 * time.Millisecond},
		"canceled":              {get, 1, &TransportError{Err: context.Canceled}, false, 0, 0},
		"canceled, unsent mint": {mint, 1, &TransportError{Err: fmt.Errorf("dial: %w", context.Canceled)}, false, 0, 0},
		"decode error":          {get, 1, errors.New("GET /app: decoding GitHub's answer: unexpected EOF"), false, 0, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for range 200 { // the wait is random: sample it
				wait, retry := p.decide(tc.req, tc.attempt, tc.err)
				if retry != tc.retry {
					t.Fatalf("retry = %v, want %v", retry, tc.retry)
				}
				if retry && (wait < tc.min || wait > tc.max) {
					t.Fatalf("wait %v, want %v..%v", wait, tc.min, tc.max)
				}
			}
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	for _, p := range []RetryPolicy{
		DefaultRetryPolicy,
		{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		{BaseDelay: 3 * time.Nanosecond, MaxDelay: time.Hour},
	} {
		var maxSeen time.Duration
		for attempt := 1; attempt <= 100; attempt++ {
			ceiling := p.BaseDelay // doubled per attempt, saturating at MaxDelay
			for i := 1; i < attempt && ceiling < p.MaxDelay; i++ {
				ceiling *= 2
			}
			ceiling = min(ceiling, p.MaxDelay)
			for range 50 {
				d := p.backoff(attempt)
				if d < 0 || d > ceiling {
					t.Fatalf("%+v: backoff(%d) = %v, want 0..%v", p, attempt, d, ceiling)
				}
				maxSeen = max(maxSeen, d)
			}
		}
		if maxSeen < p.MaxDelay/2 {
			t.Errorf("%+v: largest backoff seen %v; full jitter up to %v expected", p, maxSeen, p.MaxDelay)
		}
	}
}

func TestRetryPolicyDefaults(t *testing.T) {
	if got := (RetryPolicy{}).withDefaults(); got != DefaultRetryPolicy {
		t.Errorf("zero policy = %+v, want the default", got)
	}
	got := RetryPolicy{MaxAttempts: 2, MaxRateLimitWait: time.Second}.withDefaults()
	want := RetryPolicy{MaxAttempts: 2, BaseDelay: DefaultRetryPolicy.BaseDelay, MaxDelay: DefaultRetryPolicy.MaxDelay, MaxRateLimitWait: time.Second}
	if got != want {
		t.Errorf("partial policy = %+v, want %+v", got, want)
	}
	if DefaultRetryPolicy.MaxAttempts != 4 || DefaultRetryPolicy.MaxRateLimitWait != 10*time.Second {
		t.Errorf("DefaultRetryPolicy = %+v", DefaultRetryPolicy)
	}
}

// Issue 22, item 6: a mint answered 2xx with a token but no expires_at
// (or an expires_at that does not decode) made a token nobody can lease:
// the error hands it to the caller to revoke (UnusableToken), never in its
// text, and the mint is not sent again.
func TestMintAnswerWithoutExpiryCarriesTheToken(t *testing.T) {
	const token = "ghs_unusable0123456789abcdefghijklmnopq"
	for name, body := range map[string]string{
		"no expires_at":      `{"token":"` + token + `","permissions":{"contents":"read"}}`,
		"expires_at garbage": `{"token":"` + token + `","expires_at":"soon"}`,
	} {
		t.Run(name, func(t *testing.T) {
			var hits atomic.Int64
			api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.WriteHeader(http.StatusCreated)
				fmt.Fprint(w, body)
			})
			c := newClientAt(t, api.URL)
			tok, err := c.CreateToken(t.Context(), 1, TokenRequest{})
			if tok != nil || err == nil {
				t.Fatalf("CreateToken = %v, %v; want an error", tok, err)
			}
			if got := UnusableToken(err); got != token {
				t.Fatalf("UnusableToken = %q, want the answer's token", got)
			}
			if IsAmbiguousMint(err) {
				t.Error("the token is known: the outcome is not ambiguous")
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error's text holds the token: %v", err)
			}
			if n := hits.Load(); n != 1 {
				t.Fatalf("mint sent %d times, want 1", n)
			}
		})
	}
	// Without a token there is nothing to revoke: the outcome stays unknown.
	api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"expires_at":"2030-01-01T00:00:00Z"}`)
	})
	_, err := newClientAt(t, api.URL).CreateToken(t.Context(), 1, TokenRequest{})
	if UnusableToken(err) != "" || !IsAmbiguousMint(err) {
		t.Fatalf("an answer without a token: %v", err)
	}
}
