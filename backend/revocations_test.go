package backend

import (
	"context"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// Issue 22, item 5: the revocation of a token that has no lease (here the
// probe that resolves a narrowing's repository ids to names) runs in the
// background: with GitHub's revoke endpoint slow, the mint returns without
// waiting for it. At most maxDetachedRevocations run at once (a mint waits
// for a slot beyond that), Clean waits for them, and they are counted as
// before.
func TestDetachedRevocationsDoNotBlock(t *testing.T) {
	e := newTestBackend(t)
	revokes := func(r *http.Request) bool {
		return r.Method == http.MethodDelete && r.URL.Path == "/installation/token"
	}
	g := newHoldGate(e.b.httpClient.Transport, revokes)
	e.b.httpClient.Transport = g
	e.configure(nil)
	e.writeRole("web", map[string]any{"owner": "acme", "repositories": "widgets,gadgets"})
	gadgets, _ := repoNamed(e.acme, "gadgets")
	narrow := map[string]any{"repository_ids": []any{float64(gadgets.ID)}}

	// GitHub does not answer the probe's revocation until released.
	resp := e.ok(logical.UpdateOperation, "token/web", narrow)
	if got := resp.Data["repositories"]; len(got.([]string)) != 1 || got.([]string)[0] != "gadgets" {
		t.Fatalf("narrowed to %v", got)
	}
	if inFlight, _, finished := g.counts(); finished != 0 {
		t.Fatalf("the mint waited for the probe's revocation (%d in flight, %d ended)", inFlight, finished)
	}
	probe := e.gh.Tokens()[0]
	if probe.RevokedAt.IsZero() == false {
		t.Fatal("the probe was revoked past the holdGate")
	}

	// Clean (unmount, reload) waits for it.
	cleaned := closed(func() { e.b.Cleanup(context.Background()) })
	if !waitBlocked(t, "(*revocations).wait", "chan send", cleaned) {
		t.Fatal("Clean returned with a revocation still running")
	}
	g.release()
	<-cleaned
	if tok, _ := e.gh.LookupToken(probe.Value); tok.RevokedAt.IsZero() {
		t.Fatal("Clean returned before the probe was revoked")
	}

	// A bound: with one slot, a second mint waits for the first's
	// revocation to end before it starts its own.
	g = newHoldGate(g.base, revokes)
	e.b.httpClient.Transport = g
	e.b.app(defaultApp).reset() // its client copies the shared one
	e.b.revocations = newRevocations(1)
	e.ok(logical.UpdateOperation, "token/web", narrow)
	second := closed(func() { e.ok(logical.UpdateOperation, "token/web", narrow) })
	if !waitBlocked(t, "(*app).revokeDetached", "chan send", second) {
		t.Fatal("a second revocation started while the one slot was taken")
	}
	g.release()
	<-second
	e.b.revocations.wait()
	if _, most, finished := g.counts(); most != 1 || finished != 2 {
		t.Fatalf("revocations: at most %d at once (want 1), %d ended (want 2)", most, finished)
	}
	if live := e.gh.LiveTokens(); len(live) != 3 { // the three leases'
		t.Fatalf("%d live tokens, want the 3 leased ones", len(live))
	}
	if failed := e.ok(logical.ReadOperation, "metrics", nil).Data["unleased_revocations_failed"]; len(failed.(map[string]any)) != 0 {
		t.Fatalf("unleased revocations failed: %v", failed)
	}

	// Counted as before when GitHub fails them.
	e.gh.SetRevokeStatus(http.StatusBadGateway)
	e.ok(logical.UpdateOperation, "token/web", narrow)
	e.b.revocations.wait()
	failed := e.ok(logical.ReadOperation, "metrics", nil).Data["unleased_revocations_failed"].(map[string]any)
	if failed["resolve_ids"] != int64(1) {
		t.Fatalf("unleased_revocations_failed %v, want resolve_ids 1", failed)
	}
}
