package proxy

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestInjectsTokenByEndpoint: through the proxy, each configured host
// receives the token in the form its endpoint takes (git smart HTTP and LFS:
// basic x-access-token; REST, GraphQL, uploads: bearer), never the client's
// own Authorization, and the client gets the server's answer.
func TestInjectsTokenByEndpoint(t *testing.T) {
	e := newEnv(t, nil, nil)
	c := e.client()
	cases := []struct {
		method, url, want string
	}{
		{"GET", "https://api.github.com/repos/octo/hello?per_page=100", "Bearer " + e.token},
		{"POST", "https://api.github.com/graphql", "Bearer " + e.token},
		{"POST", "https://uploads.github.com/repos/octo/hello/releases/1/assets?name=a.tgz", "Bearer " + e.token},
		{"GET", "https://github.com/octo/hello.git/info/refs?service=git-upload-pack", basic(e.token)},
		{"POST", "https://github.com/octo/hello.git/git-upload-pack", basic(e.token)},
		{"POST", "https://github.com/octo/hello.git/git-receive-pack", basic(e.token)},
		{"POST", "https://github.com/octo/hello.git/info/lfs/objects/batch", basic(e.token)},
	}
	for _, tc := range cases {
		var body io.Reader
		if tc.method == "POST" {
			body = strings.NewReader(`{"query":"{ viewer { login } }"}`)
		}
		status, got := e.do(c, tc.method, tc.url, body)
		reqs := e.github.requests()
		last := reqs[len(reqs)-1]
		host := strings.Split(strings.TrimPrefix(tc.url, "https://"), "/")[0]
		if status != 200 || got != "ok "+host+last.Path {
			t.Errorf("%s %s: %d %q", tc.method, tc.url, status, got)
		}
		if last.Authorization != tc.want {
			t.Errorf("%s %s: the server got Authorization %.20q..., want %.20q...", tc.method, tc.url, last.Authorization, tc.want)
		}
		if last.Host != host {
			t.Errorf("%s %s: the server got Host %q", tc.method, tc.url, last.Host)
		}
		if strings.Contains(e.github.everything(), placeholder) {
			t.Errorf("%s %s: the client's own Authorization reached the server", tc.method, tc.url)
		}
	}
	if n := len(e.github.requests()); n != len(cases) {
		t.Errorf("the server got %d requests, want %d", n, len(cases))
	}
}

// TestRetriesOnceAfter401: a 401 from GitHub on a request the proxy can
// replay (no body, or a small body of known length) is sent once more with
// another token: at once when the file already holds one, and after
// waiting for Agent's render when one is due (the refused token has less
// than the margin and the wait left). A body it cannot replay (unsized, or
// over the limit) is never sent twice, and the client gets GitHub's 401.
func TestRetriesOnceAfter401(t *testing.T) {
	var rotated atomic.Int32
	var renderFirst atomic.Bool // render the next token before answering 401
	handler := func(e *env) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			live := e.live()
			if r.Header.Get("Authorization") == "Bearer "+live || r.Header.Get("Authorization") == basic(live) {
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, "fresh")
				return
			}
			// The token under the proxy's feet is revoked; Agent renders
			// the next one a moment later (or has just rendered it).
			if rotated.Add(1) == 1 {
				if renderFirst.Load() {
					writeCredentials(t, e.credentials, live, time.Now().Add(time.Hour))
				} else {
					go func() {
						time.Sleep(50 * time.Millisecond)
						writeCredentials(t, e.credentials, live, time.Now().Add(time.Hour))
					}()
				}
			}
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"Bad credentials"}`)
		}
	}
	const wait = 2 * time.Second
	e := newEnvWith(t, handler, func(c *Config) { c.Wait = wait })
	c := e.client()
	old := e.token

	// rotate makes GitHub refuse the file's token from now on, which has
	// left: a render is due when left < margin + wait.
	rotate := func(left time.Duration) {
		rotated.Store(0)
		old = e.token
		writeCredentials(t, e.credentials, old, time.Now().Add(left))
		e.setLive(testToken(t))
	}
	due := DefaultMargin + wait/2 + time.Second

	t.Run("GET, render due", func(t *testing.T) {
		rotate(due)
		before, waits := len(e.github.requests()), e.p.metrics.waits.Load()
		status, body := e.do(c, "GET", "https://api.github.com/user/repos", nil)
		reqs := e.github.requests()[before:]
		if status != 200 || body != "fresh" || len(reqs) != 2 {
			t.Fatalf("got %d %q after %d requests, want 200 fresh after 2", status, body, len(reqs))
		}
		if reqs[0].Authorization != "Bearer "+old || reqs[1].Authorization != "Bearer "+e.token {
			t.Errorf("want the old token, then the fresh one")
		}
		if got := e.p.metrics.waits.Load() - waits; got != 1 {
			t.Errorf("waits = %d, want 1", got)
		}
	})
	t.Run("GET, fresh token already in the file", func(t *testing.T) {
		renderFirst.Store(true)
		defer renderFirst.Store(false)
		rotate(time.Hour)
		before, waits := len(e.github.requests()), e.p.metrics.waits.Load()
		status, body := e.do(c, "GET", "https://api.github.com/user/repos", nil)
		reqs := e.github.requests()[before:]
		if status != 200 || body != "fresh" || len(reqs) != 2 || reqs[1].Authorization != "Bearer "+e.token {
			t.Fatalf("got %d %q after %d requests, want 200 fresh after 2", status, body, len(reqs))
		}
		if got := e.p.metrics.waits.Load() - waits; got != 0 {
			t.Errorf("waits = %d, want 0: the fresh token was there", got)
		}
	})
	t.Run("small POST, render due", func(t *testing.T) {
		rotate(due)
		before := len(e.github.requests())
		payload := bytes.Repeat([]byte("p"), 1000)
		status, _ := e.do(c, "POST", "https://github.com/o/r.git/git-upload-pack", bytes.NewReader(payload))
		reqs := e.github.requests()[before:]
		if status != 200 || len(reqs) != 2 {
			t.Fatalf("got %d after %d requests, want 200 after 2", status, len(reqs))
		}
		if !bytes.Equal(reqs[0].Body, payload) || !bytes.Equal(reqs[1].Body, payload) {
			t.Errorf("the body was not sent whole both times (%d, %d bytes)", len(reqs[0].Body), len(reqs[1].Body))
		}
		if reqs[1].Authorization != basic(e.token) {
			t.Errorf("the retry did not carry the fresh token as basic auth")
		}
	})
	for name, body := range map[string]func() io.Reader{
		"unsized POST": func() io.Reader { return io.MultiReader(strings.NewReader("chunked")) },
		"large POST":   func() io.Reader { return bytes.NewReader(make([]byte, replayLimit+1)) },
	} {
		t.Run(name, func(t *testing.T) {
			rotate(due)
			before := len(e.github.requests())
			status, got := e.do(c, "POST", "https://api.github.com/graphql", body())
			reqs := e.github.requests()[before:]
			if status != http.StatusUnauthorized || !strings.Contains(got, "Bad credentials") || len(reqs) != 1 {
				t.Errorf("got %d %q after %d requests, want GitHub's 401 after 1", status, got, len(reqs))
			}
			// Let the fresh file land before the next case.
			time.Sleep(100 * time.Millisecond)
		})
	}
	t.Run("render due, none comes", func(t *testing.T) {
		rotate(due)
		rotated.Store(1) // nobody renders a new file
		before, waits := len(e.github.requests()), e.p.metrics.waits.Load()
		status, got := e.do(c, "GET", "https://api.github.com/user", nil)
		if n := len(e.github.requests()[before:]); status != http.StatusUnauthorized || got != `{"message":"Bad credentials"}` || n != 1 {
			t.Errorf("got %d %q after %d requests, want GitHub's 401 after 1", status, got, n)
		}
		if got := e.p.metrics.waits.Load() - waits; got != 1 {
			t.Errorf("waits = %d, want 1", got)
		}
	})
	if got := e.p.metrics.retries401.Load(); got != 3 {
		t.Errorf("retries_on_401 = %d, want 3", got)
	}
	if _, err := os.Stat(e.credentials); err != nil {
		t.Fatal(err)
	}
}

// TestUnauthorizedPassesAtOnce: a 401 to a request sent with a token that
// has time left, while the file holds no other, is GitHub's answer about
// the request (an endpoint that takes only an App JWT answers an
// installation token so): it goes back to the client as GitHub sent it,
// once, without waiting for a token, however many arrive at once.
func TestUnauthorizedPassesAtOnce(t *testing.T) {
	e := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message":"A JSON web token could not be decoded"}`)
	}, func(c *Config) { c.Wait = 3 * time.Second })
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := e.do(e.client(), "GET", "https://api.github.com/app", nil)
			if status != http.StatusUnauthorized || body != `{"message":"A JSON web token could not be decoded"}` {
				t.Errorf("GET /app: %d %q", status, body)
			}
		}()
	}
	wg.Wait()
	if got := e.p.metrics.waits.Load(); got != 0 {
		t.Errorf("waits_for_fresh_token = %d, want 0", got)
	}
	if got := e.p.metrics.retries401.Load(); got != 0 {
		t.Errorf("retries_on_401 = %d, want 0", got)
	}
	if n := len(e.github.requests()); n != 20 {
		t.Errorf("GitHub got %d requests, want 20 (one each)", n)
	}
}

// TestWaitReleasesUpstream: a request waiting for Agent's render after a
// 401 does not hold GitHub's connection: with one upstream connection per
// host allowed, another request is served while the first still waits.
func TestWaitReleasesUpstream(t *testing.T) {
	e := newEnvWith(t, func(e *env) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/refused" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"message":"Bad credentials"}`)
				return
			}
			_, _ = io.WriteString(w, "ok")
		}
	}, func(c *Config) { c.Wait = 5 * time.Second; c.MaxUpstreamConns = 1 })
	// A render is due: the token has less than margin + wait left.
	writeCredentials(t, e.credentials, e.token, time.Now().Add(DefaultMargin+2*time.Second))
	first := make(chan int, 1)
	go func() {
		status, _ := e.do(e.client(), "GET", "https://api.github.com/refused", nil)
		first <- status
	}()
	for i := 0; e.p.metrics.waits.Load() == 0; i++ {
		if i == 200 {
			t.Fatal("the refused request did not start waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, body := e.do(e.client(), "GET", "https://api.github.com/zen", nil)
	if status != 200 || body != "ok" {
		t.Errorf("second request: %d %q", status, body)
	}
	select {
	case <-first:
		t.Fatal("the first request ended before the second was served; want it still waiting")
	default:
	}
	// Agent renders; the waiting request goes out again and gets its 401
	// (the double refuses /refused whatever the token) once more.
	writeCredentials(t, e.credentials, testToken(t), time.Now().Add(time.Hour))
	if got := <-first; got != http.StatusUnauthorized {
		t.Errorf("first request: %d", got)
	}
}

func TestIsGitPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/o/r.git/info/refs":              true,
		"/o/r/info/refs":                  true,
		"/o/r.git/git-upload-pack":        true,
		"/o/r.git/git-receive-pack":       true,
		"/o/r.git/info/lfs/objects/batch": true,
		"/o/r.git/info/lfs":               true,
		"/repos/o/r":                      false,
		"/graphql":                        false,
		"/o/r/blob/main/info/refs.md":     false,
		"/api/v3/repos/o/r/contents/x":    false,
	} {
		if got := isGitPath(path); got != want {
			t.Errorf("isGitPath(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestPassesEncodingThrough: the proxy asks GitHub for no encoding the
// client did not ask for, and passes bodies as they come.
func TestPassesEncodingThrough(t *testing.T) {
	e := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "accept-encoding="+r.Header.Get("Accept-Encoding"))
	}, nil)
	if status, body := spoof(t, e, "api.github.com:443", "api.github.com", "api.github.com", false); status != 200 || body != "accept-encoding=" {
		t.Errorf("a request without Accept-Encoding arrived as %d %q", status, body)
	}
}

// TestReplayBudget: the bodies kept for a replay are bounded over all
// requests at once: with the budget taken, a small POST streams like a
// large one and a 401 to it goes back, never sent twice; with room in
// the budget it is sent again, and its bytes come back to the budget.
func TestReplayBudget(t *testing.T) {
	var refuse atomic.Bool
	e := newEnvWith(t, func(e *env) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if refuse.CompareAndSwap(true, false) {
				// Agent renders a fresh token as GitHub refuses this one.
				writeCredentials(t, e.credentials, testToken(t), time.Now().Add(time.Hour))
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(w, "ok")
		}
	}, nil)
	c := e.client()
	post := func() (int, int) {
		refuse.Store(true)
		before := len(e.github.requests())
		status, _ := e.do(c, "POST", "https://api.github.com/graphql", bytes.NewReader(make([]byte, 1000)))
		return status, len(e.github.requests()) - before
	}
	if !e.p.replay.acquireN(replayBudget) {
		t.Fatal("the budget was in use")
	}
	if status, n := post(); status != http.StatusUnauthorized || n != 1 {
		t.Errorf("with the budget taken: %d after %d requests, want GitHub's 401 after 1", status, n)
	}
	e.p.replay.releaseN(replayBudget)
	if status, n := post(); status != 200 || n != 2 {
		t.Errorf("with room in the budget: %d after %d requests, want 200 after 2", status, n)
	}
	if got := e.p.replay.open.Load(); got != 0 {
		t.Errorf("%d bytes left in the budget after the requests", got)
	}
}
