package backend

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

func TestTokenReadMintsLease(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("team-a-x", map[string]any{
		"owner":        "Acme", // GitHub matches logins case-insensitively
		"repositories": "widgets,gadgets",
		"permissions":  "contents=read,pull_requests=write",
	})
	resp := e.ok(logical.ReadOperation, "token/team-a-x", nil)

	tokenValue := resp.Data["token"].(string)
	issued, ok := e.gh.LookupToken(tokenValue)
	if !ok || !issued.Live(time.Now()) {
		t.Fatalf("double does not know a live token %v", issued)
	}
	if resp.Data["installation_id"] != e.acme.ID {
		t.Fatalf("installation_id %v", resp.Data["installation_id"])
	}
	if got := resp.Data["repositories"]; !reflect.DeepEqual(got, []string{"widgets", "gadgets"}) {
		t.Fatalf("repositories %#v (names only)", got)
	}
	if got := resp.Data["permissions"]; !reflect.DeepEqual(got, map[string]string{"contents": "read", "pull_requests": "write"}) {
		t.Fatalf("permissions %#v", got)
	}
	if resp.Data["repository_selection"] != "selected" {
		t.Fatalf("repository_selection %v", resp.Data["repository_selection"])
	}
	if resp.Data["hashed_token"] != github.HashToken(tokenValue) {
		t.Fatalf("hashed_token %v", resp.Data["hashed_token"])
	}
	expiresAt, err := time.Parse(time.RFC3339, resp.Data["expires_at"].(string))
	if err != nil || !expiresAt.Equal(issued.ExpiresAt.Truncate(time.Second)) {
		t.Fatalf("expires_at %v, double says %v", resp.Data["expires_at"], issued.ExpiresAt)
	}

	// The lease: expires_at minus the 5m default buffer, not renewable.
	want := time.Until(expiresAt) - 5*time.Minute
	if d := resp.Secret.TTL - want; d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("lease TTL %s, want %s ±2s", resp.Secret.TTL, want)
	}
	if resp.Secret.Renewable {
		t.Fatal("lease is renewable")
	}
	if resp.Secret.InternalData["token"] != tokenValue || resp.Secret.InternalData["base_url"] != e.gh.URL {
		t.Fatalf("internal data %v", resp.Secret.InternalData)
	}
	// Requested scope reached GitHub.
	if !reflect.DeepEqual(issued.Repositories, []string{"widgets", "gadgets"}) || issued.Permissions["contents"] != "read" {
		t.Fatalf("double issued %+v", issued)
	}
}

func TestTokenLeaseTTLFollowsShortTokens(t *testing.T) {
	e := newTestBackend(t, githubtest.WithTokenLifetime(30*time.Second))
	e.configure(map[string]any{"expiry_buffer": 10})
	e.writeRole("short", map[string]any{"installation_id": e.acme.ID})
	resp := e.ok(logical.ReadOperation, "token/short", nil)
	if resp.Secret.TTL < 18*time.Second || resp.Secret.TTL > 20*time.Second {
		t.Fatalf("30s token with 10s buffer got lease %s, want ~20s", resp.Secret.TTL)
	}
	// A role buffer overrides the config's.
	e.writeRole("short", map[string]any{"expiry_buffer": 25})
	resp = e.ok(logical.ReadOperation, "token/short", nil)
	if resp.Secret.TTL < 3*time.Second || resp.Secret.TTL > 5*time.Second {
		t.Fatalf("role buffer 25s: lease %s, want ~5s", resp.Secret.TTL)
	}
	// A role ttl shorter than that wins.
	e.writeRole("short", map[string]any{"expiry_buffer": 10, "ttl": 7})
	resp = e.ok(logical.ReadOperation, "token/short", nil)
	if resp.Secret.TTL != 7*time.Second {
		t.Fatalf("role ttl 7s: lease %s", resp.Secret.TTL)
	}
}

func TestTokenBufferLeavingNoLeaseIsRefusedAndRevoked(t *testing.T) {
	e := newTestBackend(t, githubtest.WithTokenLifetime(4*time.Minute))
	e.configure(nil) // 5m buffer > 4m token
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	resp, err := e.req(logical.ReadOperation, "token/r", nil)
	wantError(t, resp, err, "expiry_buffer")
	if err != nil {
		t.Fatalf("want a 400 response, got error %v", err)
	}
	e.b.revocations.wait() // revoked in the background
	tokens := e.gh.Tokens()
	if len(tokens) != 1 || tokens[0].RevokedAt.IsZero() {
		t.Fatalf("the unleased token was not revoked: %+v", tokens)
	}
}

func TestTokenUnknownRole(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	resp, err := e.req(logical.ReadOperation, "token/nope", nil)
	wantError(t, resp, err, `role "nope"`)
}

func TestTokenNarrowing(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme", "repositories": "widgets,gadgets", "permissions": "contents=write,issues=read"})

	resp := e.ok(logical.UpdateOperation, "token/r", map[string]any{"repositories": "acme/widgets", "permissions": "contents=read"})
	issued, _ := e.gh.LookupToken(resp.Data["token"].(string))
	if !reflect.DeepEqual(issued.Repositories, []string{"widgets"}) || !reflect.DeepEqual(issued.Permissions, map[string]string{"contents": "read"}) {
		t.Fatalf("narrowed token covers %v %v", issued.Repositories, issued.Permissions)
	}

	denied := map[string]struct {
		data map[string]any
		name string
	}{
		"extra repository":           {map[string]any{"repositories": "widgets,tools"}, `repository "tools"`},
		"extra permission":           {map[string]any{"permissions": "pull_requests=read"}, `permission "pull_requests"`},
		"higher level":               {map[string]any{"permissions": "issues=write"}, "issues=write"},
		"id of a repository outside": {map[string]any{"repository_ids": fmt.Sprint(e.acme.Repositories[2].ID)}, fmt.Sprintf("repository id %d", e.acme.Repositories[2].ID)},
		"other owner":                {map[string]any{"repositories": "evil/widgets"}, "repositories"},
		"unknown level":              {map[string]any{"permissions": "contents=all"}, "permissions"},
		"empty repo name":            {map[string]any{"repositories": []any{""}}, "repositories"},
		"unknown permisson":          {map[string]any{"permissions": "nope=read"}, "nope"},
	}
	for name, tc := range denied {
		t.Run(name, func(t *testing.T) {
			before := len(e.gh.Tokens())
			resp, err := e.req(logical.UpdateOperation, "token/r", tc.data)
			wantError(t, resp, err, tc.name)
			if err != nil && !errors.Is(err, logical.ErrPermissionDenied) {
				t.Fatalf("want permission denied, got %v", err)
			}
			// Only the probe resolving ids to names may mint (scope.go);
			// it is revoked in the background.
			e.b.revocations.wait()
			for _, tk := range e.gh.Tokens()[before:] {
				if !reflect.DeepEqual(tk.Permissions, map[string]string{"metadata": "read"}) || tk.RevokedAt.IsZero() {
					t.Fatalf("a refused narrowing minted a token: %v", tk.Permissions)
				}
			}
		})
	}

	// An id is resolved to its name and checked as that name: widgets' id,
	// as a JSON number, narrows to widgets.
	resp = e.ok(logical.UpdateOperation, "token/r", map[string]any{"repository_ids": []any{float64(e.acme.Repositories[0].ID)}})
	if issued, _ := e.gh.LookupToken(resp.Data["token"].(string)); !reflect.DeepEqual(issued.Repositories, []string{"widgets"}) {
		t.Fatalf("narrowing to widgets' id covers %v", issued.Repositories)
	}
}

func TestTokenRepositoryRoleCoversItsRepository(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("one", map[string]any{"repository": "acme/tools"})
	resp := e.ok(logical.ReadOperation, "token/one", nil)
	if got := resp.Data["repositories"]; !reflect.DeepEqual(got, []string{"tools"}) {
		t.Fatalf("repository role token covers %v", got)
	}
	if e.gh.CallCount("GET", "/repos/acme/tools/installation") != 1 {
		t.Fatalf("calls %+v", e.gh.Calls())
	}
}

func TestTokenOwnerLookupCached(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme"})
	for range 5 {
		e.ok(logical.ReadOperation, "token/r", nil)
	}
	if n := e.gh.CallCount("GET", "/users/acme/installation"); n != 1 {
		t.Fatalf("%d owner lookups for 5 tokens, want 1", n)
	}
	// A role write drops the lookup.
	e.writeRole("r", map[string]any{"permissions": "contents=read"})
	e.ok(logical.ReadOperation, "token/r", nil)
	if n := e.gh.CallCount("GET", "/users/acme/installation"); n != 2 {
		t.Fatalf("%d owner lookups after role write, want 2", n)
	}
}

func TestTokenReinstalledAppLooksUpAgain(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme"})
	first := e.ok(logical.ReadOperation, "token/r", nil)
	e.gh.RemoveInstallation(e.acme.ID)
	again := e.gh.AddInstallation("acme", "Organization", "widgets")
	second := e.ok(logical.ReadOperation, "token/r", nil)
	if first.Data["installation_id"] == second.Data["installation_id"] || second.Data["installation_id"] != again.ID {
		t.Fatalf("minted for %v after reinstall, want %d", second.Data["installation_id"], again.ID)
	}
}

func TestTokenGitHubRefusalNamesInstallation(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID, "repositories": "not-installed"})
	resp, err := e.req(logical.ReadOperation, "token/r", nil)
	wantError(t, resp, err, fmt.Sprintf("GitHub refused to mint a token for installation %d (HTTP 422)", e.acme.ID))
	e.writeRole("gone", map[string]any{"owner": "nobody"})
	resp, err = e.req(logical.ReadOperation, "token/gone", nil)
	wantError(t, resp, err, `GitHub refused to find the installation for owner "nobody" (HTTP 404)`)
}

func TestTokenAdHoc(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	resp := e.ok(logical.UpdateOperation, "token", map[string]any{"owner": "acme", "repositories": "tools", "permissions": "contents=read"})
	issued, ok := e.gh.LookupToken(resp.Data["token"].(string))
	if !ok || !reflect.DeepEqual(issued.Repositories, []string{"tools"}) {
		t.Fatalf("ad-hoc token %+v", issued)
	}
	if resp.Secret == nil || resp.Secret.TTL <= 0 {
		t.Fatal("ad-hoc token has no lease")
	}
	r, err := e.req(logical.UpdateOperation, "token", map[string]any{"permissions": "contents=read"})
	wantError(t, r, err, "installation_id, owner, repository")
}

func TestTokenRateLimitIs502(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	e.gh.RateLimitNext(1, 429, time.Hour)
	_, err := e.req(logical.ReadOperation, "token/r", nil)
	if !errors.Is(err, logical.ErrUpstreamRateLimited) {
		t.Fatalf("want upstream rate limited, got %v", err)
	}
	code, err := logical.RespondErrorCommon(&logical.Request{}, nil, err)
	if logical.AdjustErrorStatusCode(&code, err); code != 502 {
		t.Fatalf("status %d, want 502", code)
	}
}

func TestTokenConcurrentMinting(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme"})
	const n = 50
	var wg sync.WaitGroup
	tokens := make(chan string, n)
	for range n {
		wg.Go(func() {
			resp, err := e.req(logical.ReadOperation, "token/r", nil)
			if err != nil || resp.IsError() {
				t.Errorf("mint: %v %v", err, errData(resp))
				return
			}
			tokens <- resp.Data["token"].(string)
		})
	}
	wg.Wait()
	close(tokens)
	seen := map[string]bool{}
	for tok := range tokens {
		seen[tok] = true
	}
	if len(seen) != n || len(e.gh.LiveTokens()) != n {
		t.Fatalf("%d distinct tokens, %d live at the double, want %d", len(seen), len(e.gh.LiveTokens()), n)
	}
	if got := e.gh.CallCount("GET", "/users/acme/installation"); got != 1 {
		t.Fatalf("%d concurrent owner lookups, want 1", got)
	}
}

func revoke(e *testEnv, secret *logical.Secret) (*logical.Response, error) {
	return e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RevokeOperation,
		Path:      "token/r",
		Secret:    secret,
		Storage:   e.storage,
	})
}

func TestRevoke(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	resp := e.ok(logical.ReadOperation, "token/r", nil)
	tokenValue := resp.Data["token"].(string)

	// Revocation works after the role and the config are gone.
	e.ok(logical.DeleteOperation, "roles/r", nil)
	e.ok(logical.DeleteOperation, "config", nil)
	if _, err := revoke(e, resp.Secret); err != nil {
		t.Fatal(err)
	}
	if tok, _ := e.gh.LookupToken(tokenValue); tok.RevokedAt.IsZero() {
		t.Fatal("double did not see the token revoked")
	}
	// GitHub's 401 for an already dead token counts as revoked.
	if _, err := revoke(e, resp.Secret); err != nil {
		t.Fatalf("second revoke (401 at GitHub): %v", err)
	}
}

func TestRevokeFailureIsReturned(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	resp := e.ok(logical.ReadOperation, "token/r", nil)
	e.gh.SetRevokeStatus(500)
	_, err := revoke(e, resp.Secret)
	if err == nil {
		t.Fatal("a 500 from GitHub was taken as revoked")
	}
	tokenValue := resp.Data["token"].(string)
	if tok, _ := e.gh.LookupToken(tokenValue); !tok.RevokedAt.IsZero() {
		t.Fatal("token revoked despite the injected failure")
	}
	if strings.Contains(err.Error(), tokenValue) {
		t.Fatal("error carries the token")
	}
	e.gh.SetRevokeStatus(0)
	if _, err := revoke(e, resp.Secret); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestRenewRefused(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	resp := e.ok(logical.ReadOperation, "token/r", nil)
	_, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.RenewOperation, Path: "token/r", Secret: resp.Secret, Storage: e.storage})
	if !errors.Is(err, logical.ErrUnsupportedOperation) {
		t.Fatalf("renew: %v, want unsupported", err)
	}
}

func TestInstallationsAllPages(t *testing.T) {
	e := newTestBackend(t)
	for i := range 74 {
		e.gh.AddInstallation(fmt.Sprintf("org-%03d", i), "Organization", "repo")
	}
	e.configure(nil)
	resp := e.ok(logical.ReadOperation, "installations", nil)
	byLogin := resp.Data["installations"].(map[string]any)
	if len(byLogin) != 75 || byLogin["acme"] != e.acme.ID || byLogin["org-073"] == nil {
		t.Fatalf("%d installations: %v", len(byLogin), byLogin)
	}
	calls := e.gh.CallCount("GET", "/app/installations")
	if calls != 1 {
		// per_page=100 fits 75 in one page; the pagination itself is
		// tested in the github package with smaller pages.
		t.Fatalf("%d list calls", calls)
	}
}

func TestInvalidate(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme"})
	e.ok(logical.ReadOperation, "token/r", nil)
	if e.appClient(defaultApp) == nil || e.cachedLookups(defaultApp) != 1 {
		t.Fatal("nothing cached")
	}
	if _, ok := e.b.roles.peek("r"); !ok {
		t.Fatal("role not cached")
	}

	e.b.invalidate(context.Background(), "roles/other")
	if _, ok := e.b.roles.peek("r"); !ok || e.cachedLookups(defaultApp) != 1 {
		t.Fatal("invalidating another role dropped r")
	}
	e.b.invalidate(context.Background(), "roles/r")
	if _, ok := e.b.roles.peek("r"); ok || e.cachedLookups(defaultApp) != 0 {
		t.Fatal("roles/r invalidation kept the role or its lookup")
	}
	if e.appClient(defaultApp) == nil {
		t.Fatal("role invalidation dropped the client")
	}

	e.ok(logical.ReadOperation, "token/r", nil)
	e.b.invalidate(context.Background(), "config")
	if e.appClient(defaultApp) != nil || e.cachedLookups(defaultApp) != 0 {
		t.Fatal("config invalidation kept the client, config or lookups")
	}
	// A replicated config change (another key) is picked up on next use.
	_, other := rsaKeyPEM(t, 2048)
	cfg, _ := loadAppConfig(context.Background(), e.storage, defaultApp)
	cfg.PrivateKey = other
	entry, _ := logical.StorageEntryJSON("config", cfg)
	if err := e.storage.Put(context.Background(), entry); err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(context.Background(), "config")
	resp, err := e.req(logical.ReadOperation, "token/r", nil)
	wantError(t, resp, err, "HTTP 401")
}
