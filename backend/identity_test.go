package backend

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// Issue 22, item 3: an App's identity change (here base_url, app_id and
// private_key: the "in use" check, the check with GitHub, the store) and a
// role or bound write for that App do not interleave. On main a role or
// bound written while the change waited for GitHub was stored, unseen by
// the "in use" check, against an App that then became another App on
// another host; and a change made while a role write was checking the role
// with GitHub left that role, stored after, on the other host.
func TestIdentityChangeAndRoleWritesDoNotInterleave(t *testing.T) {
	t.Run("identity change first", func(t *testing.T) {
		e := newTestBackend(t)
		e.configure(nil)
		gh2, _, _ := otherHost(t, e)
		g := newGate(t, gh2.URL, "/app") // the change's check with GitHub waits here

		var appResp *logical.Response
		var appErr error
		appDone := closed(func() {
			appResp, appErr = e.req(logical.UpdateOperation, "config", map[string]any{"app_id": float64(gh2.AppID), "private_key": string(gh2.KeyPEM()), "base_url": g.URL})
		})
		<-g.arrived
		roleDone := closed(func() { e.ok(logical.CreateOperation, "roles/r", map[string]any{"owner": "acme"}) })
		if !waitBlocked(t, "pathRoleWrite", "sync.RWMutex.RLock", roleDone) {
			t.Fatal("a role write finished while its App's identity change was between the in-use check and the store")
		}
		boundDone := closed(func() {
			e.ok(logical.CreateOperation, "bounds/b", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read"})
		})
		if !waitBlocked(t, "pathBoundWrite", "sync.RWMutex.RLock", boundDone) {
			t.Fatal("a bound write finished while its App's identity change was between the in-use check and the store")
		}
		g.release()
		<-appDone
		if appErr != nil || appResp.IsError() {
			t.Fatalf("the identity change: %v %v", appErr, errData(appResp))
		}
		<-roleDone
		<-boundDone
		// Both were written against the App as it is now.
		if got := e.ok(logical.ReadOperation, "config", nil).Data["base_url"]; got != g.URL {
			t.Fatalf("config base_url %v", got)
		}
	})

	t.Run("role write first", func(t *testing.T) {
		e := newTestBackend(t)
		g := newGate(t, e.gh.URL, "/access_tokens") // the role's check with GitHub waits here
		e.configure(map[string]any{"base_url": g.URL})
		gh2, _, _ := otherHost(t, e)

		roleDone := closed(func() { e.ok(logical.CreateOperation, "roles/r", map[string]any{"owner": "acme", "check": true}) })
		<-g.arrived
		var appResp *logical.Response
		var appErr error
		appDone := closed(func() {
			appResp, appErr = e.req(logical.UpdateOperation, "config", map[string]any{"app_id": float64(gh2.AppID), "private_key": string(gh2.KeyPEM()), "base_url": gh2.URL})
		})
		if !waitBlocked(t, "pathAppWrite", "sync.RWMutex.Lock", appDone) {
			t.Fatalf("the identity change finished while a role write for the App was in flight: %v %v", appErr, errData(appResp))
		}
		g.release()
		<-roleDone
		<-appDone
		// The change comes after the role, sees it and is refused.
		if status(appResp, appErr) != http.StatusBadRequest || !strings.Contains(errText(appResp, appErr), `role "r"`) {
			t.Fatalf("the identity change after the role write: %d %q, want 400 naming the role", status(appResp, appErr), errText(appResp, appErr))
		}
		if got := e.ok(logical.ReadOperation, "config", nil).Data["base_url"]; got != g.URL {
			t.Fatalf("the App changed host under its role: base_url %v", got)
		}
	})
}
