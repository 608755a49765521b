package backend

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// gate is a proxy in front of a double that holds every request whose path
// ends with suffix until release is called: a barrier for a GitHub call in
// flight. arrived is closed when the first such request comes in.
type gate struct {
	URL      string
	arrived  chan struct{}
	released chan struct{}
	once     sync.Once
	closeRel sync.Once
}

func newGate(t *testing.T, target, suffix string) *gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{arrived: make(chan struct{}), released: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, suffix) {
			g.once.Do(func() { close(g.arrived) })
			select {
			case <-g.released:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.release)
	g.URL = srv.URL
	return g
}

func (g *gate) release() { g.closeRel.Do(func() { close(g.released) }) }

// otherHost is a second GitHub (another App, another key) whose
// installation with acme's id belongs to "evilcorp", as Enterprise Server
// ids, small and sequential, collide across hosts; acme is installed there
// too, under another id.
func otherHost(t *testing.T, e *testEnv) (gh2 *githubtest.Server, evilcorp, acme2 *githubtest.Installation) {
	t.Helper()
	gh2 = githubtest.NewT(t, githubtest.WithAppID(e.gh.AppID+40), githubtest.WithSlug("other-app"),
		githubtest.WithFirstIDs(e.acme.ID, githubtest.FirstRepositoryID+900_000))
	evilcorp = gh2.AddInstallation("evilcorp", "Organization", "secrets")
	acme2 = gh2.AddInstallation("acme", "Organization", "widgets")
	if evilcorp.ID != e.acme.ID || acme2.ID == e.acme.ID {
		t.Fatalf("ids: evilcorp %d, acme %d on the other host, acme %d on the first", evilcorp.ID, acme2.ID, e.acme.ID)
	}
	return gh2, evilcorp, acme2
}

func tokenInstallation(t *testing.T, resp *logical.Response, err error) int64 {
	t.Helper()
	if err != nil || resp.IsError() {
		t.Fatalf("mint: err=%v resp=%v", err, errData(resp))
	}
	return resp.Data["installation_id"].(int64)
}

// A config change while an installation lookup is in flight: the lookup
// belongs to the old client. A request that starts after the write looks
// up with the new client on the new host, and the old host's answer is
// never cached for the new one.
func TestLookupInFlightAcrossAppChange(t *testing.T) {
	e := newTestBackend(t)
	g := newGate(t, e.gh.URL, "/users/acme/installation") // the slow first host
	e.configure(map[string]any{"base_url": g.URL})
	gh2, evilcorp, acme2 := otherHost(t, e)

	type result struct {
		resp *logical.Response
		err  error
	}
	first := make(chan result, 1)
	go func() {
		resp, err := e.req(logical.UpdateOperation, "token", map[string]any{"owner": "acme"})
		first <- result{resp, err}
	}()
	<-g.arrived // the first read's lookup is in flight at the old host

	e.configure(map[string]any{"app_id": float64(gh2.AppID), "private_key": string(gh2.KeyPEM()), "base_url": gh2.URL})

	second := make(chan result, 1)
	go func() {
		resp, err := e.req(logical.UpdateOperation, "token", map[string]any{"owner": "acme"})
		second <- result{resp, err}
	}()
	var r2 result
	select {
	case r2 = <-second:
	case <-time.After(20 * time.Second):
		// It waits on the old host's lookup: let that answer, and see
		// what the second read does with it.
		g.release()
		r2 = <-second
	}
	if id := tokenInstallation(t, r2.resp, r2.err); id != acme2.ID {
		t.Fatalf("the read after the App change minted for installation %d, want acme's on the new host (%d); evilcorp's is %d", id, acme2.ID, evilcorp.ID)
	}
	for _, tok := range gh2.Tokens() {
		if tok.InstallationID == evilcorp.ID {
			t.Fatal("a token was minted for evilcorp's installation")
		}
	}

	g.release()
	r1 := <-first
	// The first read keeps to the client it started with: the old host's
	// acme, minted there.
	if id := tokenInstallation(t, r1.resp, r1.err); id != e.acme.ID {
		t.Fatalf("the read before the change minted for installation %d, want %d", id, e.acme.ID)
	}
	if tok, ok := e.gh.LookupToken(r1.resp.Data["token"].(string)); !ok || tok.InstallationID != e.acme.ID {
		t.Fatalf("the first read's token is not the old host's acme token: %+v %v", tok, ok)
	}

	// The old answer was not cached: the next read is a cache hit for the
	// new host's acme, with no new lookup.
	a := e.b.existingApp(defaultApp)
	if res, ok := a.currentLookups().peek("owner:acme", e.b.now()); !ok || res.id != acme2.ID {
		t.Fatalf("cached lookup %+v %v, want acme's id on the new host %d", res, ok, acme2.ID)
	}
	before := gh2.CallCount(http.MethodGet, "/users/acme/installation")
	resp, err := e.req(logical.UpdateOperation, "token", map[string]any{"owner": "acme"})
	if id := tokenInstallation(t, resp, err); id != acme2.ID {
		t.Fatalf("third read minted for %d, want %d", id, acme2.ID)
	}
	if after := gh2.CallCount(http.MethodGet, "/users/acme/installation"); after != before {
		t.Fatalf("third read looked up again (%d lookups, was %d): the new host's answer was not cached", after, before)
	}
}

// A request that took the App's client before a config change finishes its
// lookup with that client, and its answer is not cached for the new one.
func TestLookupWithOldClientNotCached(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	gh2, _, acme2 := otherHost(t, e)
	ctx := context.Background()
	a, old, _, err := e.b.clientFor(ctx, e.storage, defaultApp)
	if err != nil {
		t.Fatal(err)
	}
	e.configure(map[string]any{"app_id": float64(gh2.AppID), "private_key": string(gh2.KeyPEM()), "base_url": gh2.URL})
	if _, _, _, err := e.b.clientFor(ctx, e.storage, defaultApp); err != nil { // the new client
		t.Fatal(err)
	}
	id, hit, err := a.installationID(ctx, old, &role{Owner: "acme"})
	if err != nil || hit || id != e.acme.ID {
		t.Fatalf("lookup with the old client: %d %v %v, want the old host's %d", id, hit, err, e.acme.ID)
	}
	if n := e.cachedLookups(defaultApp); n != 0 {
		t.Fatalf("the old client's answer was cached for the new one (%d entries)", n)
	}
	resp, err := e.req(logical.UpdateOperation, "token", map[string]any{"owner": "acme"})
	if got := tokenInstallation(t, resp, err); got != acme2.ID {
		t.Fatalf("minted for installation %d after the change, want %d", got, acme2.ID)
	}
}

// An App that roles or bounds use cannot be made another App in place
// (another host or app_id): its roles pinned by installation id would mint
// for whatever installation has that id there. Its key can be rotated.
func TestAppIdentityFixedWhileUsed(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	gh2, evilcorp, _ := otherHost(t, e)
	e.ok(logical.CreateOperation, "bounds/team", map[string]any{"installation_id": float64(e.acme.ID), "repositories": "*", "max_permissions": "contents=read"})
	e.writeRole("pinned", map[string]any{"installation_id": strconvID(e.acme.ID)}) // as the CLI sends it
	e.writeRole("inbound", map[string]any{"bound": "team", "owner": "acme"})

	before := e.snapshot()
	for _, c := range []struct {
		name  string
		data  map[string]any
		field string
	}{
		{"other host", map[string]any{"app_id": float64(gh2.AppID), "private_key": string(gh2.KeyPEM()), "base_url": gh2.URL}, "base_url, app_id:"},
		{"other host, same app_id", map[string]any{"private_key": string(gh2.KeyPEM()), "base_url": gh2.URL}, "base_url:"},
		{"other app_id, same host", map[string]any{"app_id": strconvID(e.gh.AppID + 1), "private_key": string(e.gh.KeyPEM())}, "app_id:"},
	} {
		resp, err := e.req(logical.UpdateOperation, "config", c.data)
		if err != nil || !resp.IsError() {
			t.Fatalf("%s: err=%v resp=%v, want a 400", c.name, err, errData(resp))
		}
		msg := resp.Error().Error()
		for _, want := range []string{c.field, `role "inbound"`, `role "pinned"`, `bound "team"`} {
			if !strings.Contains(msg, want) {
				t.Fatalf("%s: %q does not name %s", c.name, msg, want)
			}
		}
	}
	if len(gh2.Calls()) != 0 {
		t.Fatal("a refused App change called the other host")
	}
	if after := e.snapshot(); !maps.Equal(before, after) {
		t.Fatal("a refused App change stored something")
	}
	for _, role := range []string{"pinned", "inbound"} {
		resp := e.ok(logical.ReadOperation, "token/"+role, nil)
		if tok, ok := e.gh.LookupToken(resp.Data["token"].(string)); !ok || tok.InstallationID != e.acme.ID {
			t.Fatalf("token/%s after the refused change: %+v %v", role, tok, ok)
		}
	}
	for _, tok := range gh2.Tokens() {
		if tok.InstallationID == evilcorp.ID {
			t.Fatal("evilcorp's installation got a token")
		}
	}

	// Rotating the key (the same App on the same host, base_url spelled
	// with a trailing slash) is fine.
	e.ok(logical.UpdateOperation, "config", map[string]any{"private_key": string(e.gh.KeyPEMPKCS8()), "base_url": e.gh.URL + "/", "app_id": float64(e.gh.AppID)})
	e.ok(logical.ReadOperation, "token/pinned", nil)

	// Once nothing uses it, the App may become another.
	for _, p := range []string{"roles/pinned", "roles/inbound", "bounds/team"} {
		e.ok(logical.DeleteOperation, p, nil)
	}
	e.ok(logical.UpdateOperation, "config", map[string]any{"app_id": float64(gh2.AppID), "private_key": string(gh2.KeyPEM()), "base_url": gh2.URL})
}

// After a 404 on a cached installation (the App reinstalled), the lookup
// again goes through the bound: a bound pinned to the old installation does
// not mint for the new one.
func TestReinstallRechecksBound(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.ok(logical.CreateOperation, "bounds/team", map[string]any{"installation_id": float64(e.acme.ID), "repositories": "*", "max_permissions": "contents=read"})
	e.writeRole("r", map[string]any{"bound": "team", "owner": "acme"})
	e.ok(logical.ReadOperation, "token/r", nil) // caches acme's installation

	e.gh.RemoveInstallation(e.acme.ID)
	again := e.gh.AddInstallation("acme", "Organization", "widgets")
	resp, err := e.req(logical.ReadOperation, "token/r", nil)
	if !errors.Is(err, logical.ErrPermissionDenied) || !strings.Contains(err.Error(), "installation") || !strings.Contains(err.Error(), `bound "team"`) {
		t.Fatalf("mint after reinstall: err=%v resp=%v, want a 403 naming the installation and the bound", err, errData(resp))
	}
	for _, tok := range e.gh.Tokens() {
		if tok.InstallationID == again.ID {
			t.Fatalf("a token was minted for the new installation %d, outside the bound", again.ID)
		}
	}
	// An owner bound still follows the owner to its new installation.
	e.ok(logical.DeleteOperation, "roles/r", nil)
	e.ok(logical.CreateOperation, "bounds/acme", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read"})
	e.writeRole("o", map[string]any{"bound": "acme", "owner": "acme"})
	e.ok(logical.ReadOperation, "token/o", nil)
	e.gh.RemoveInstallation(again.ID)
	third := e.gh.AddInstallation("acme", "Organization", "widgets")
	if got := e.ok(logical.ReadOperation, "token/o", nil).Data["installation_id"]; got != third.ID {
		t.Fatalf("owner-bound mint after reinstall: installation %v, want %d", got, third.ID)
	}
}

func strconvID(id int64) string { return strconv.FormatInt(id, 10) }
