package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// Issue 15, item 4: a refusal of repository ids names the ids, never the
// names GitHub resolved them to, and ids of a role that lists ids are
// decided without a probe token.
func TestRepositoryIDsRevealNoNames(t *testing.T) {
	e, _ := boundEnv(t, nil)
	e.writeRole("team-a_web", map[string]any{"bound": "team-a", "repositories": "widgets"})
	e.writeRole("ids", map[string]any{"owner": "acme", "repository_ids": []any{float64(e.repoID(e.acme, "widgets"))}})
	for _, repo := range e.acme.Repositories {
		if repo.Name == "widgets" {
			continue
		}
		for _, tc := range []struct {
			op     logical.Operation
			path   string
			data   map[string]any
			probes int
		}{
			// A role of names: only GitHub can place an id (one probe).
			{logical.UpdateOperation, "token/team-a_web", map[string]any{"repository_ids": []any{float64(repo.ID)}}, 1},
			// A role of ids: decided locally, no probe.
			{logical.UpdateOperation, "token/ids", map[string]any{"repository_ids": fmt.Sprint(repo.ID)}, 0},
			// A team admin's role write inside the bound.
			{logical.CreateOperation, "roles/team-a_new", map[string]any{"bound": "team-a", "repository_ids": []any{json.Number(fmt.Sprint(repo.ID))}}, 1},
		} {
			if tc.path == "roles/team-a_new" && repo.Name == "gadgets" {
				continue // inside the bound
			}
			before := len(e.gh.Tokens())
			resp, err := e.req(tc.op, tc.path, tc.data)
			text := errText(resp, err)
			if status(resp, err) != http.StatusForbidden || !strings.Contains(text, fmt.Sprintf("repository id %d", repo.ID)) {
				t.Errorf("%s with the id of %s: %d %q, want 403 naming the id", tc.path, repo.Name, status(resp, err), text)
			}
			if strings.Contains(text, repo.Name) {
				t.Errorf("%s: the refusal names %q: %q", tc.path, repo.Name, text)
			}
			if probes := len(e.gh.Tokens()) - before; probes != tc.probes {
				t.Errorf("%s: %d probe tokens minted, want %d", tc.path, probes, tc.probes)
			}
		}
	}
	e.b.revocations.wait() // probes are revoked in the background
	if live := e.gh.LiveTokens(); len(live) != 0 {
		t.Fatalf("%d probe tokens left alive", len(live))
	}
}

// Issue 15, item 5: a role write is checked against its bound, its App and
// its installation pin before any call to GitHub, so a team admin naming
// another App's installation makes no call to that App.
func TestRoleWriteChecksBoundBeforeGitHub(t *testing.T) {
	e := newTwoApps(t)
	e.ok(logical.CreateOperation, "bounds/team-a", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read"})
	e.ghes.ResetCalls()
	e.gh.ResetCalls()
	for name, data := range map[string]map[string]any{
		"other App's installation":             {"bound": "team-a", "app": "ghes", "installation_id": float64(e.corp.ID)},
		"with owner/name repositories":         {"bound": "team-a", "app": "ghes", "installation_id": fmt.Sprint(e.corp.ID), "repositories": "corp/infra"},
		"same App, the other App's id":         {"bound": "team-a", "installation_id": float64(e.corp.ID), "repositories": "corp/infra"},
		"owner/name of another owner in bound": {"bound": "team-a", "repositories": "corp/infra"},
	} {
		resp, err := e.req(logical.CreateOperation, "roles/team-a_x", data)
		if got := status(resp, err); got != http.StatusForbidden && got != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want a refusal", name, got, errText(resp, err))
		}
		if _, named := data["repositories"]; !named && strings.Contains(errText(resp, err), "corp") {
			t.Errorf("%s: the refusal tells the installation's account: %q", name, errText(resp, err))
		}
	}
	if calls := e.ghes.Calls(); len(calls) != 0 {
		t.Fatalf("the other App's GitHub got %d calls, first %s %s", len(calls), calls[0].Method, calls[0].Path)
	}
	// Only the bound owner's own installation lookup reached the bound's App.
	for _, c := range e.gh.Calls() {
		if c.Path != "/orgs/acme/installation" && c.Path != "/users/acme/installation" {
			t.Errorf("the bound's App got %s %s", c.Method, c.Path)
		}
	}
}

// Issue 15, correctness: a role pinned by installation_id inside an owner
// bound costs one GitHub call per token, like any other role.
func TestInstallationIDRoleInOwnerBoundIsCached(t *testing.T) {
	e, _ := boundEnv(t, nil)
	e.writeRole("team-a_byid", map[string]any{"bound": "team-a", "installation_id": float64(e.acme.ID)})
	e.ok(logical.ReadOperation, "token/team-a_byid", nil)
	e.gh.ResetCalls()
	for range 5 {
		e.ok(logical.ReadOperation, "token/team-a_byid", nil)
	}
	if calls := e.gh.Calls(); len(calls) != 5 {
		var paths []string
		for _, c := range calls {
			paths = append(paths, c.Method+" "+c.Path)
		}
		t.Fatalf("5 mints made %d calls: %v", len(calls), paths)
	}
	// Still refused for another account's installation.
	other := e.gh.AddInstallation("evil", "Organization", "loot")
	resp, err := e.req(logical.CreateOperation, "roles/team-a_evil", map[string]any{"bound": "team-a", "installation_id": fmt.Sprint(other.ID)})
	if status(resp, err) != http.StatusForbidden || !strings.Contains(errText(resp, err), "installation") {
		t.Fatalf("installation of evil inside team-a: %d %q", status(resp, err), errText(resp, err))
	}
}

// Issue 15, item 6: an unknown app is a 400 naming app and leaves no
// per-App state behind.
func TestUnknownAppLeavesNoState(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.ok(logical.ReadOperation, "metrics", nil)
	appsBefore := len(e.ok(logical.ReadOperation, "metrics", nil).Data["apps"].(map[string]any))
	for i := range 50 {
		name := fmt.Sprintf("nope-%02d", i)
		for _, r := range []struct {
			op   logical.Operation
			path string
			data map[string]any
		}{
			{logical.UpdateOperation, "token", map[string]any{"app": name, "installation_id": float64(e.acme.ID), "repositories": "acme/widgets"}},
			{logical.CreateOperation, "roles/r", map[string]any{"app": name, "owner": "acme"}},
			{logical.ReadOperation, "installations", map[string]any{"app": name}},
		} {
			resp, err := e.req(r.op, r.path, r.data)
			if status(resp, err) != http.StatusBadRequest || !strings.HasPrefix(errText(resp, err), "app: ") || !strings.Contains(errText(resp, err), name) {
				t.Fatalf("%s with app %s: %d %q, want 400 naming app", r.path, name, status(resp, err), errText(resp, err))
			}
		}
	}
	if n := len(e.ok(logical.ReadOperation, "metrics", nil).Data["apps"].(map[string]any)); n != appsBefore {
		t.Fatalf("metrics list %d Apps after 50 unknown names, %d before", n, appsBefore)
	}
	e.b.appsMu.Lock()
	n := len(e.b.apps)
	e.b.appsMu.Unlock()
	if n != 1 {
		t.Fatalf("%d App records after 50 unknown names, want 1", n)
	}
}

// cancelAfterMint is a transport that cancels the caller's context as
// soon as GitHub answered a mint: the caller went away right after it.
type cancelAfterMint struct {
	next   http.RoundTripper
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (c *cancelAfterMint) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/access_tokens") {
		c.mu.Lock()
		cancel := c.cancel
		c.mu.Unlock()
		if cancel != nil {
			// Once the answer is read: the engine has the token.
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		}
	}
	return resp, err
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Issue 15, item 7: probe, check and no-lease tokens are revoked on a
// context of their own, and a failed revocation is counted, logged by
// hash only, and reported by a check as revoked=false.
func TestDetachedRevocation(t *testing.T) {
	e := newTestBackend(t)
	tr := &cancelAfterMint{next: e.b.httpClient.Transport}
	if tr.next == nil {
		tr.next = http.DefaultTransport
	}
	e.b.httpClient.Transport = tr
	e.configure(nil)
	e.writeRole("web", map[string]any{"owner": "acme", "repositories": "widgets,gadgets"})
	e.writeRole("short", map[string]any{"owner": "acme", "expiry_buffer": "59m59s"})

	call := func(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tr.mu.Lock()
		tr.cancel = cancel
		tr.mu.Unlock()
		defer func() { tr.mu.Lock(); tr.cancel = nil; tr.mu.Unlock() }()
		return e.b.HandleRequest(ctx, &logical.Request{Operation: op, Path: path, Data: data, Storage: e.storage})
	}
	// The caller disconnects right after each mint.
	_, _ = call(logical.ReadOperation, "roles/web/check", nil)
	_, _ = call(logical.UpdateOperation, "token/web", map[string]any{"repository_ids": []any{float64(e.acme.Repositories[2].ID)}})
	e.gh.SetTokenLifetime(60*60*1e9 + 0) // a lease of under 1s after the 59m59s buffer
	_, _ = call(logical.ReadOperation, "token/short", nil)
	if n := len(e.gh.Tokens()); n < 3 {
		t.Fatalf("%d tokens minted, want the check's, the probe's and the no-lease one", n)
	}
	e.b.revocations.wait() // they run in the background
	if live := e.gh.LiveTokens(); len(live) != 0 {
		t.Fatalf("%d tokens live at GitHub after their callers went away", len(live))
	}

	// GitHub fails the revocation: counted, logged by hash, check says so.
	e.gh.SetRevokeStatus(http.StatusBadGateway)
	resp := e.ok(logical.ReadOperation, "roles/web/check", nil)
	if resp.Data["revoked"] != false {
		t.Fatalf("check after a failed revocation says revoked=%v", resp.Data["revoked"])
	}
	m := e.ok(logical.ReadOperation, "metrics", nil).Data
	byReason, _ := m["unleased_revocations_failed"].(map[string]any)
	if byReason["check"] != int64(1) || m["revocations_failed"] != int64(0) {
		t.Fatalf("metrics after a failed check revocation: unleased_revocations_failed %v, revocations_failed (leases) %v", byReason, m["revocations_failed"])
	}
	prom, _ := e.ok(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"}).Data[logical.HTTPRawBody].([]byte)
	if !strings.Contains(string(prom), `github_app_unleased_revocations_failed_total{app="default",reason="check"} 1`) {
		t.Fatalf("prometheus metrics lack the failed check revocation:\n%s", prom)
	}
	tokens := e.gh.Tokens()
	last := tokens[len(tokens)-1]
	logs := e.logs.String()
	if strings.Contains(logs, last.Value) || !strings.Contains(logs, github.HashToken(last.Value)) {
		t.Fatalf("the failed revocation is not logged by hash only")
	}
	e.gh.SetRevokeStatus(0)
}

// Issue 15, correctness: a ttl or max_ttl that leaves no lease is refused
// at write time, naming the field.
func TestSubSecondTTLRefused(t *testing.T) {
	e, _ := boundEnv(t, nil)
	for _, v := range []any{"0.5s", "500ms", "999ms", float64(0.5), json.Number("0.5")} {
		for _, w := range []struct{ path, field string }{{"roles/r", "ttl"}, {"bounds/b", "max_ttl"}} {
			data := map[string]any{w.field: v, "owner": "acme", "repositories": "*", "max_permissions": "contents=read"}
			if w.path == "roles/r" {
				data = map[string]any{w.field: v, "owner": "acme"}
			}
			resp, err := e.req(logical.CreateOperation, w.path, data)
			if status(resp, err) != http.StatusBadRequest || !strings.HasPrefix(errText(resp, err), w.field+": ") {
				t.Errorf("%s %s=%v: %d %q, want 400 naming %s", w.path, w.field, v, status(resp, err), errText(resp, err), w.field)
			}
		}
	}
	e.writeRole("r", map[string]any{"owner": "acme", "ttl": "1s"})
}

// Issue 15, correctness: a read with narrowing query parameters narrows.
func TestTokenReadWithQueryNarrows(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("web", map[string]any{"owner": "acme", "repositories": "widgets,gadgets", "permissions": "contents=write,metadata=read"})
	resp := e.ok(logical.ReadOperation, "token/web", map[string]any{"repositories": "widgets", "permissions": "contents=read"})
	tok, _ := e.gh.LookupToken(resp.Data["token"].(string))
	if len(tok.Repositories) != 1 || tok.Repositories[0] != "widgets" || tok.Permissions["contents"] != "read" || len(tok.Permissions) != 1 {
		t.Fatalf("GET token/web?repositories=widgets&permissions=contents=read minted %v %v", tok.Repositories, tok.Permissions)
	}
	r, err := e.req(logical.ReadOperation, "token/web", map[string]any{"repositories": "tools"})
	if status(r, err) != http.StatusForbidden {
		t.Fatalf("GET token/web?repositories=tools: %d %q, want 403", status(r, err), errText(r, err))
	}
}

// Issue 15, correctness: the existence check, which Vault runs before the
// ACL, never refuses: a caller without rights must get Vault's 403.
func TestExistenceCheckIgnoresData(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	for _, path := range []string{"roles/r", "bounds/b", "config", "apps/x"} {
		for _, raw := range []any{map[string]any{"x": 1}, []any{true}, true} {
			req := &logical.Request{Operation: logical.CreateOperation, Path: path, Storage: e.storage,
				Data: map[string]any{"ttl": raw, "installation_id": raw, "repositories": raw, "private_key": raw, "max_ttl": raw}}
			if _, _, err := e.b.HandleExistenceCheck(context.Background(), req); err != nil {
				t.Errorf("existence check of %s with %T fields: %v", path, raw, err)
			}
			if req.Data["ttl"] == nil {
				t.Fatalf("the existence check dropped the request's data")
			}
		}
	}
}

// Issue 15, messages: each names the field and the JSON type in words, and
// quotes what was sent exactly.
func TestMessagesNameFieldAndType(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	other := e.gh.AddInstallation("other", "Organization", "x")
	e.gh.RemoveInstallation(other.ID)
	for name, tc := range map[string]struct {
		path string
		data map[string]any
		want []string
	}{
		"repositories object":  {"roles/r", map[string]any{"owner": "acme", "repositories": map[string]any{}}, []string{"repositories: ", "an object"}},
		"repositories bool":    {"roles/r", map[string]any{"owner": "acme", "repositories": true}, []string{"repositories: ", "true/false"}},
		"entry object":         {"roles/r", map[string]any{"owner": "acme", "repositories": []any{"a", map[string]any{}}}, []string{"repositories: entry 2 is an object"}},
		"id 2^53+1":            {"roles/r", map[string]any{"installation_id": json.Number("9007199254740993")}, []string{"installation_id: ", "9007199254740993"}},
		"ids 2^53+1":           {"roles/r", map[string]any{"owner": "acme", "repository_ids": []any{json.Number("9007199254740993")}}, []string{"repository_ids: ", "9007199254740993"}},
		"id 2^53+1 as float64": {"roles/r", map[string]any{"installation_id": float64(9007199254740993)}, []string{"installation_id: ", "beyond 9007199254740991", "rounded"}},
		"ids float64 2^53+1":   {"roles/r", map[string]any{"owner": "acme", "repository_ids": []any{float64(9007199254740993)}}, []string{"repository_ids: ", "beyond 9007199254740991"}},
		"app_id 2^53+1 no key": {"config", map[string]any{"app_id": json.Number("9007199254740993")}, []string{"app_id: ", "9007199254740993"}},
		"id given twice":       {"roles/r", map[string]any{"owner": "acme", "repository_ids": "812345001, 812345001"}, []string{"repository_ids: 812345001 is given twice"}},
		"permission level num": {"roles/r", map[string]any{"owner": "acme", "permissions": map[string]any{"contents": 1}}, []string{"permissions: ", "a number"}},
		"installation 404":     {"roles/r", map[string]any{"installation_id": float64(other.ID), "repositories": "other/x"}, []string{"installation_id: ", `App "default"`, fmt.Sprint(other.ID)}},
	} {
		resp, err := e.req(logical.CreateOperation, tc.path, tc.data)
		text := errText(resp, err)
		if status(resp, err) != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", name, status(resp, err), text)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q does not say %q", name, text, w)
			}
		}
		if strings.Contains(text, "map[") || strings.Contains(text, "interface") || strings.Contains(text, "9007199254740992") {
			t.Errorf("%s: %q speaks Go, or rounds the number", name, text)
		}
	}
}

// Issue 15, correctness: a check of a role with a repository the
// installation cannot reach names it.
func TestCheckNamesUnreachableRepositories(t *testing.T) {
	e := newTestBackend(t, githubtest.WithTokenLifetime(60*60*1e9))
	for i := range 120 { // more than one page of GET /installation/repositories
		e.acme.Repositories = append(e.acme.Repositories, githubtest.Repo{ID: githubtest.FirstRepositoryID + 1000 + int64(i), Name: fmt.Sprintf("r-%03d", i)})
	}
	e.configure(nil)
	e.writeRole("typo", map[string]any{"owner": "acme", "repositories": "widgets,wigdets,r-119,r-120", "repository_ids": []any{float64(githubtest.FirstRepositoryID + 1000), float64(777)}})
	resp, err := e.req(logical.ReadOperation, "roles/typo/check", nil)
	text := errText(resp, err)
	if status(resp, err) != http.StatusBadRequest || !strings.HasPrefix(text, "repositories: ") {
		t.Fatalf("check: %d %q", status(resp, err), text)
	}
	for _, w := range []string{`"wigdets"`, `"r-120"`, "repository id 777"} {
		if !strings.Contains(text, w) {
			t.Errorf("check does not name %s: %q", w, text)
		}
	}
	for _, w := range []string{`"widgets"`, `"r-119"`, fmt.Sprintf("repository id %d", githubtest.FirstRepositoryID+1000)} {
		if strings.Contains(text, w) {
			t.Errorf("check names reachable %s: %q", w, text)
		}
	}
	if e.gh.CallCount(http.MethodGet, "/installation/repositories") < 2 {
		t.Errorf("the check did not page through the installation's repositories")
	}
	e.b.revocations.wait() // the check's probe is revoked in the background
	if live := e.gh.LiveTokens(); len(live) != 0 {
		t.Fatalf("%d check tokens left alive", len(live))
	}
}

// Issue 15, messages: a mint for an installation the role's App does not
// have names installation_id and the App.
func TestMintOfMissingInstallationNamesField(t *testing.T) {
	e := newTwoApps(t)
	e.writeRole("corp-on-default", map[string]any{"installation_id": float64(e.corp.ID)})
	resp, err := e.req(logical.ReadOperation, "token/corp-on-default", nil)
	text := errText(resp, err)
	if status(resp, err) != http.StatusBadRequest || !strings.HasPrefix(text, "installation_id: ") || !strings.Contains(text, `App "default"`) || !strings.Contains(text, fmt.Sprint(e.corp.ID)) {
		t.Fatalf("mint for App ghes's installation through App default: %d %q", status(resp, err), text)
	}
}
