package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The write-scope tests' GitHub: answers the proxy's lookups (the
// default branch, pull requests, tags, releases, node ids) from fixed
// data under the root and under /api/v3 (GHES), and "ok" to anything
// else; newServer records every request, so a test can tell what reached
// upstream.

// writeScoped renders credentials.json with "branches".
func writeScoped(t testing.TB, path, token string, scope []string) {
	t.Helper()
	m := map[string]any{"token": token, "validUntil": time.Now().Add(time.Hour).Unix(), "expiresAt": time.Now().Add(65 * time.Minute).UTC().Format(time.RFC3339)}
	if scope != nil {
		m["branches"] = scope
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".tmp", data, 0o440); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// fakeGitHub's data.
var (
	fakeDefaults = map[string]string{"o/r": "main", "o/agent-default": "agent/base"}
	fakePulls    = map[string][2]string{"7": {"main", "other"}, "8": {"agent/x", "agent/y"}} // base, head
	fakeTags     = map[string]bool{"v1": true}
	fakeReleases = map[string]string{"5": "v9", "6": "v1"}
	fakeNodes    = map[string]map[string]any{
		"REF_main":    {"__typename": "Ref", "name": "main", "prefix": "refs/heads/"},
		"REF_agent":   {"__typename": "Ref", "name": "agent/x", "prefix": "refs/heads/"},
		"REF_tag":     {"__typename": "Ref", "name": "v1", "prefix": "refs/tags/"},
		"PR_main":     {"__typename": "PullRequest", "baseRefName": "main", "headRefName": "agent/x"},
		"PR_agent":    {"__typename": "PullRequest", "baseRefName": "agent/x", "headRefName": "agent/y"},
		"PR_headmain": {"__typename": "PullRequest", "baseRefName": "agent/x", "headRefName": "main"},
		"ISSUE_1":     {"__typename": "Issue"},
	}
)

func fakeGitHub(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	body, _ := io.ReadAll(r.Body)
	answer := func(v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(v)
	}
	notFound := func() { http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound) }
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case r.Method == "GET" && len(segs) == 3 && segs[0] == "repos":
		if b, ok := fakeDefaults[segs[1]+"/"+segs[2]]; ok {
			answer(map[string]any{"full_name": segs[1] + "/" + segs[2], "default_branch": b})
			return
		}
		notFound()
	case r.Method == "GET" && len(segs) == 5 && segs[3] == "pulls":
		if pr, ok := fakePulls[segs[4]]; ok {
			answer(map[string]any{"number": 1, "base": map[string]any{"ref": pr[0]}, "head": map[string]any{"ref": pr[1]}})
			return
		}
		notFound()
	case r.Method == "GET" && len(segs) >= 7 && segs[3] == "git" && segs[4] == "ref" && segs[5] == "tags":
		tag := strings.Join(segs[6:], "/")
		if fakeTags[tag] {
			answer(map[string]any{"ref": "refs/tags/" + tag})
			return
		}
		notFound()
	case r.Method == "GET" && len(segs) == 5 && segs[3] == "releases":
		if tag, ok := fakeReleases[segs[4]]; ok {
			answer(map[string]any{"tag_name": tag})
			return
		}
		notFound()
	case r.Method == "POST" && (r.URL.Path == "/graphql" || r.URL.Path == "/api/graphql") && bytes.Contains(body, []byte(nodeQuery)):
		var q struct {
			Variables struct {
				ID string `json:"id"`
			} `json:"variables"`
		}
		_ = json.Unmarshal(body, &q)
		answer(map[string]any{"data": map[string]any{"node": fakeNodes[q.Variables.ID]}})
	default:
		_, _ = io.WriteString(w, "ok "+r.Host+r.URL.Path)
	}
}

// scopedEnv is a proxy whose credential carries scope (nil: unscoped).
func scopedEnv(t *testing.T, scope []string) *env {
	t.Helper()
	e := newEnv(t, fakeGitHub, nil)
	writeScoped(t, e.credentials, e.token, scope)
	return e
}

// sendWrite sends a request through the proxy and returns status and
// body.
func (e *env) send(method, url string, body []byte, hdr map[string]string) (int, string, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// reached reports whether upstream got a request with method, path and
// exactly body.
func (e *env) reached(method, path string, body []byte) bool {
	for _, r := range e.github.requests() {
		if r.Method == method && r.Path == path && bytes.Equal(r.Body, body) {
			return true
		}
	}
	return false
}

// lineFor waits (bounded) for the audit line of the latest request
// with method and path and returns it decoded: the line is written once
// the handler returns, which can be after the client read the answer.
func (e *env) lineFor(method, path string) map[string]any {
	e.t.Helper()
	for range 100 {
		lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			var m map[string]any
			if json.Unmarshal([]byte(lines[i]), &m) == nil && m["method"] == method && m["path"] == path {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no audit line for %s %s", method, path)
	return nil
}
