package proxy

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
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
// the token Agent renders next; a body it cannot replay (unsized, or over
// the limit) is never sent twice, and the client gets GitHub's 401.
func TestRetriesOnceAfter401(t *testing.T) {
	var rotated atomic.Int32
	handler := func(e *env) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			live := e.live()
			if r.Header.Get("Authorization") == "Bearer "+live || r.Header.Get("Authorization") == basic(live) {
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, "fresh")
				return
			}
			// The token under the proxy's feet is revoked; Agent renders
			// the next one a moment later.
			if rotated.Add(1) == 1 {
				go func() {
					time.Sleep(50 * time.Millisecond)
					writeCredentials(t, e.credentials, live, time.Now().Add(time.Hour))
				}()
			}
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"Bad credentials"}`)
		}
	}
	e := newEnvWith(t, handler, func(c *Config) { c.Wait = 2 * time.Second })
	c := e.client()
	old := e.token

	rotate := func() {
		rotated.Store(0)
		old = e.token
		e.setLive(testToken(t))
	}

	t.Run("GET", func(t *testing.T) {
		rotate()
		before := len(e.github.requests())
		status, body := e.do(c, "GET", "https://api.github.com/user/repos", nil)
		reqs := e.github.requests()[before:]
		if status != 200 || body != "fresh" || len(reqs) != 2 {
			t.Fatalf("got %d %q after %d requests, want 200 fresh after 2", status, body, len(reqs))
		}
		if reqs[0].Authorization != "Bearer "+old || reqs[1].Authorization != "Bearer "+e.token {
			t.Errorf("want the old token, then the fresh one")
		}
	})
	t.Run("small POST", func(t *testing.T) {
		rotate()
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
			rotate()
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
	t.Run("no fresh token", func(t *testing.T) {
		rotated.Store(1) // nobody renders a new file
		old = e.token
		e.setLive(testToken(t))
		before := len(e.github.requests())
		status, got := e.do(c, "GET", "https://api.github.com/user", nil)
		if n := len(e.github.requests()[before:]); status != http.StatusUnauthorized || !strings.Contains(got, "Bad credentials") || n != 1 {
			t.Errorf("got %d %q after %d requests, want GitHub's 401 after 1", status, got, n)
		}
	})
	if got := e.p.metrics.retries401.Load(); got != 2 {
		t.Errorf("retries_on_401 = %d, want 2", got)
	}
	if _, err := os.Stat(e.credentials); err != nil {
		t.Fatal(err)
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
