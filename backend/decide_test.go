package backend

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// barrier is a transport between the backend and the double: once armed,
// it runs then right after GitHub answered the next request that match
// accepts, before the backend sees the answer.
type barrier struct {
	base http.RoundTripper

	mu    sync.Mutex
	match func(*http.Request) bool
	then  func()
}

func (b *barrier) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(r)
	b.mu.Lock()
	var then func()
	if b.match != nil && b.match(r) {
		then, b.match, b.then = b.then, nil, nil
	}
	b.mu.Unlock()
	if then != nil {
		then()
	}
	return resp, err
}

func (b *barrier) arm(match func(*http.Request) bool, then func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.match, b.then = match, then
}

// withBarrier puts a barrier in front of the backend's shared transport.
func (e *testEnv) withBarrier() *barrier {
	b := &barrier{base: e.b.httpClient.Transport}
	e.b.httpClient.Transport = b
	return b
}

// Issue 22, item 1: scope resolves an installation and decides; the mint and
// the check act on that decision and never resolve the installation again.
// Between the decision and the mint, the account is reinstalled (a new
// installation id) and the cached lookup ends (a clock past its TTL; any
// write of a role with the same owner drops it as well). A bound pinned by
// installation_id excludes the new installation: no token is minted for it,
// and the check neither reads nor probes it.
func TestDecideOnce(t *testing.T) {
	e := newTestBackend(t)
	gate := e.withBarrier()
	e.configure(nil)
	e.ok(logical.CreateOperation, "bounds/team", map[string]any{"installation_id": float64(e.acme.ID), "repositories": "*", "max_permissions": "contents=read"})
	e.writeRole("r", map[string]any{"bound": "team", "owner": "acme"})

	// The backend's clock (the installation cache's; the client keeps its
	// own for the App JWT) runs ahead by skew.
	var skew atomic.Int64
	e.b.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	pastTTL := func() { skew.Add(int64(installationCacheTTL + time.Minute)) }

	lookup := func(r *http.Request) bool {
		return r.Method == http.MethodGet && r.URL.Path == "/users/acme/installation"
	}
	var reinstalled *githubtest.Installation
	reinstall := func() {
		e.gh.RemoveInstallation(e.acme.ID)
		reinstalled = e.gh.AddInstallation("acme", "Organization", "widgets", "gadgets", "tools")
		pastTTL()
	}
	touched := func(id int64) []string {
		var out []string
		for _, c := range e.gh.Calls() {
			if c.Path == "/app/installations/"+strconv.FormatInt(id, 10) || c.Path == "/app/installations/"+strconv.FormatInt(id, 10)+"/access_tokens" {
				out = append(out, c.Method+" "+c.Path)
			}
		}
		return out
	}

	t.Run("mint", func(t *testing.T) {
		pastTTL() // the role write's lookup has ended: the mint's decision looks up
		gate.arm(lookup, reinstall)
		resp, err := e.req(logical.ReadOperation, "token/r", nil)
		if reinstalled == nil {
			t.Fatal("the mint made no installation lookup")
		}
		if err == nil && !resp.IsError() {
			t.Fatalf("minted for installation %v after the decision was taken for %d", resp.Data["installation_id"], e.acme.ID)
		}
		for _, tok := range e.gh.Tokens() {
			if tok.InstallationID == reinstalled.ID {
				t.Fatalf("a token was minted for installation %d, outside the bound", reinstalled.ID)
			}
		}
		if calls := touched(reinstalled.ID); len(calls) > 0 {
			t.Fatalf("the mint reached installation %d, which it never decided for: %v", reinstalled.ID, calls)
		}
		t.Logf("mint: %d %s", status(resp, err), errText(resp, err))
	})

	t.Run("check", func(t *testing.T) {
		// The account is installed again under yet another id; the check
		// decides on the installation it looked up, then that one goes.
		e.acme = reinstalled
		e.ok(logical.CreateOperation, "bounds/team", map[string]any{"installation_id": float64(reinstalled.ID)})
		reinstalled = nil
		e.gh.ResetCalls()
		pastTTL() // as for the mint: the decision's lookup is the first
		gate.arm(lookup, reinstall)
		resp, err := e.req(logical.ReadOperation, "roles/r/check", nil)
		if reinstalled == nil {
			t.Fatal("the check made no installation lookup")
		}
		if err == nil && !resp.IsError() {
			t.Fatalf("the check reported installation %v, not the one it decided for", resp.Data["installation_id"])
		}
		if calls := touched(reinstalled.ID); len(calls) > 0 {
			t.Fatalf("the check read or probed installation %d, outside the bound: %v", reinstalled.ID, calls)
		}
		for _, tok := range e.gh.Tokens() {
			if tok.InstallationID == reinstalled.ID {
				t.Fatalf("the check minted a token for installation %d", reinstalled.ID)
			}
		}
		t.Logf("check: %d %s", status(resp, err), errText(resp, err))
	})
}
