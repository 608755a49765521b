package backend

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// A 502 from GitHub's edge can come after the token was created: the mint is
// not re-sent (one POST), the answer is a 502 that says so, and it is counted.
func TestAmbiguousMintIsNotResent(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		e := newTestBackend(t)
		e.configure(nil)
		e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
		e.gh.FailNextAfterEffect(1, status)
		resp, err := e.req(logical.ReadOperation, "token/r", nil)
		if err == nil || resp != nil || codeOf(err) != http.StatusBadGateway {
			t.Fatalf("%d: err=%v resp=%v, want a 502", status, err, errData(resp))
		}
		if n := e.gh.CallCount(http.MethodPost, mintPath(e.acme.ID)); n != 1 {
			t.Fatalf("%d: %d mint requests, want exactly 1", status, n)
		}
		// The token GitHub made is there, live, with no lease: the cost of
		// not resending, which the metrics name.
		if live := e.gh.LiveTokens(); len(live) != 1 {
			t.Fatalf("%d: %d live tokens at the double, want the 1 orphan", status, len(live))
		}
		if got := failedCount(e, "mint_ambiguous"); got != int64(1) {
			t.Fatalf("%d: mint_ambiguous = %v", status, got)
		}
	}
	// A 503 is GitHub refusing before doing anything: it is retried.
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	e.gh.FailNext(1, http.StatusServiceUnavailable)
	e.ok(logical.ReadOperation, "token/r", nil)
	if n := e.gh.CallCount(http.MethodPost, mintPath(e.acme.ID)); n != 2 {
		t.Fatalf("503 then success: %d mint requests, want 2", n)
	}
}

func mintPath(id int64) string {
	return "/app/installations/" + strconv.FormatInt(id, 10) + "/access_tokens"
}

func codeOf(err error) int {
	if c, ok := err.(logical.HTTPCodedError); ok {
		return c.Code()
	}
	return 0
}

func failedCount(e *testEnv, reason string) any {
	snap := e.b.metrics.snapshot()
	failed, _ := snap["tokens_failed"].(map[string]any)
	return failed[reason]
}

// GitHub refusing the App itself (a skewed clock, a deleted key, a
// suspended installation) is the operator's problem: 502, not the caller's
// 400, with a reason of its own.
func TestAppRefusedIs502(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})

	e.gh.SuspendInstallation(e.acme.ID, true)
	_, err := e.req(logical.ReadOperation, "token/r", nil)
	if codeOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("suspended: %v", err)
	}
	e.gh.SuspendInstallation(e.acme.ID, false)

	// Vault's clock an hour ahead: GitHub refuses the JWT (iat in the future).
	e.b.now = func() time.Time { return time.Now().Add(time.Hour) }
	e.b.app(defaultApp).reset()
	_, err = e.req(logical.ReadOperation, "token/r", nil)
	if codeOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "clock") || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("skewed clock: %v", err)
	}
	if got := failedCount(e, "app_refused"); got != int64(2) {
		t.Fatalf("app_refused = %v, want 2", got)
	}
}

// A repository that was transferred: GitHub answers the old name with a 301
// to the new owner's installation. The role must not get a token there.
func TestMovedRepositoryIsRefused(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.gh.AddInstallation("evil-corp", "Organization", "stuff")
	e.writeRole("moved", map[string]any{"repository": "acme/tools"})
	if err := e.gh.MoveRepository("acme/tools", "evil-corp/tools"); err != nil {
		t.Fatal(err)
	}
	resp, err := e.req(logical.ReadOperation, "token/moved", nil)
	if err != nil || !resp.IsError() {
		t.Fatalf("err=%v resp=%v", err, errData(resp))
	}
	msg := resp.Error().Error()
	if !strings.HasPrefix(msg, "repository: ") || !strings.Contains(msg, `now lives under "evil-corp"`) {
		t.Fatalf("message %q", msg)
	}
	if len(e.gh.Tokens()) != 0 {
		t.Fatal("a token was minted on the other account's installation")
	}
	if e.cachedLookups(defaultApp) != 0 {
		t.Fatal("the wrong installation was cached")
	}
}

// ca_certificate: this mount alone trusts a private CA; the lease carries
// it, so revocation works after the config is gone.
func TestCACertificate(t *testing.T) {
	ca, err := githubtest.NewTestCA("test GHES CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	e := newTestBackend(t, githubtest.WithTLS(cert), githubtest.WithPathPrefix("/api/v3"))
	if !strings.HasPrefix(e.gh.URL, "https://") {
		t.Fatalf("double URL %s", e.gh.URL)
	}
	// Without the CA the server is not trusted; nothing is stored.
	resp, err := e.req(logical.UpdateOperation, "config", map[string]any{"app_id": float64(e.gh.AppID), "private_key": string(e.gh.KeyPEM()), "base_url": e.gh.URL})
	if err == nil && !resp.IsError() {
		t.Fatal("an untrusted server was accepted")
	}
	// A key pasted as the CA is refused without being echoed.
	resp, _ = e.req(logical.UpdateOperation, "config", map[string]any{"app_id": float64(e.gh.AppID), "private_key": string(e.gh.KeyPEM()), "base_url": e.gh.URL, "ca_certificate": string(e.gh.KeyPEM())})
	if !resp.IsError() || !strings.HasPrefix(resp.Error().Error(), "ca_certificate: ") || strings.Contains(resp.Error().Error(), "MII") {
		t.Fatalf("key as CA: %v", errData(resp))
	}
	e.configure(map[string]any{"ca_certificate": string(ca.CertPEM)})
	if got := e.ok(logical.ReadOperation, "config", nil).Data["ca_certificate"]; got != strings.TrimSpace(string(ca.CertPEM)) {
		t.Fatalf("config read ca_certificate %v", got)
	}
	e.writeRole("r", map[string]any{"owner": "acme"})
	tok := e.ok(logical.ReadOperation, "token/r", nil)
	if tok.Secret.InternalData["ca_certificate"] != strings.TrimSpace(string(ca.CertPEM)) {
		t.Fatal("the lease does not carry the CA")
	}
	e.ok(logical.DeleteOperation, "roles/r", nil)
	e.ok(logical.DeleteOperation, "config", nil)
	if _, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RevokeOperation, Path: "token/r", Storage: e.storage, Secret: tok.Secret,
	}); err != nil {
		t.Fatalf("revoking after the config is gone: %v", err)
	}
	if v, _ := e.gh.LookupToken(tok.Data["token"].(string)); v.RevokedAt.IsZero() {
		t.Fatal("the token is still live at the double")
	}
}

// Issue 22, item 7: one status per cause. Narrowing a role to another
// owner's repository asks for more than the role: 403, whether the role's
// account is known from storage (an owner role, or an installation_id role
// inside an owner bound) or read from GitHub (an installation_id role).
// GitHub not answering in time, by the request's deadline or the client's
// own timeout, is a 504 counted as "timeout", not a 500.
func TestStatusOneCodePerCause(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.ok(logical.CreateOperation, "bounds/acme", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read"})
	e.writeRole("by-owner", map[string]any{"owner": "acme"})
	e.writeRole("by-id", map[string]any{"installation_id": float64(e.acme.ID)})
	e.writeRole("by-id-in-bound", map[string]any{"installation_id": float64(e.acme.ID), "bound": "acme"})
	for _, role := range []string{"by-owner", "by-id", "by-id-in-bound"} {
		resp, err := e.req(logical.UpdateOperation, "token/"+role, map[string]any{"repositories": "evil-corp/widgets"})
		if got := status(resp, err); got != http.StatusForbidden || !strings.Contains(errText(resp, err), `owner "evil-corp"`) {
			t.Errorf("narrowing %s to another owner's repository: %d %q, want 403 naming the owner", role, got, errText(resp, err))
		}
	}
	if len(e.gh.Tokens()) != 0 {
		t.Fatal("a narrowing outside the role minted")
	}

	// GitHub answers the owner's installation lookup after 2s (the
	// narrowings above looked it up and cached it: drop that).
	e.b.forgetRole("by-owner")
	e.gh.SetLatency(2 * time.Second)
	timeout := e.b.httpClient.Timeout
	e.b.httpClient.Timeout = 100 * time.Millisecond
	e.b.app(defaultApp).reset() // its client copies the shared one
	resp, err := e.req(logical.ReadOperation, "token/by-owner", nil)
	if got := status(resp, err); got != http.StatusGatewayTimeout || !strings.Contains(errText(resp, err), "did not answer in time") {
		t.Errorf("the client's timeout passed before GitHub answered: %d %q, want 504", got, errText(resp, err))
	}
	e.b.httpClient.Timeout = timeout
	e.b.app(defaultApp).reset()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	resp, err = e.b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "token/by-owner", Storage: e.storage})
	if got := status(resp, err); got != http.StatusGatewayTimeout {
		t.Errorf("the request's deadline passed before GitHub answered: %d %q, want 504", got, errText(resp, err))
	}
	if got := failedCount(e, "timeout"); got != int64(2) {
		t.Errorf("timeouts counted %v, want 2", got)
	}
}
