package backend

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
	"github.com/hashicorp/vault/sdk/logical"
)

func TestRoleCRUD(t *testing.T) {
	e := newTestBackend(t)
	e.writeRole("team-a-x", map[string]any{
		"owner":        "acme",
		"repositories": "widgets,acme/gadgets",
		"permissions":  "contents=read,pull_requests=write",
		"ttl":          "30m",
		"branches":     "ambient/s1/*, docs-fix,ambient/s1/*",
	})
	e.writeRole("team-b-x", map[string]any{"installation_id": e.acme.ID})

	resp := e.ok(logical.ReadOperation, "roles/team-a-x", nil)
	want := map[string]any{
		"installation_id": int64(0),
		"owner":           "acme",
		"repository":      "",
		"repositories":    []string{"widgets", "gadgets"},
		"repository_ids":  []int64{},
		"permissions":     map[string]string{"contents": "read", "pull_requests": "write"},
		"ttl":             "30m0s",
		"expiry_buffer":   nil,
		"bound":           "",
		"app":             "default",
		"branches":        []string{"ambient/s1/*", "docs-fix"},
	}
	if !reflect.DeepEqual(resp.Data, want) {
		t.Fatalf("role read:\n got %#v\nwant %#v", resp.Data, want)
	}

	list := e.ok(logical.ListOperation, "roles/", nil)
	if got := list.Data["keys"]; !reflect.DeepEqual(got, []string{"team-a-x", "team-b-x"}) {
		t.Fatalf("list %v", got)
	}

	e.ok(logical.DeleteOperation, "roles/team-b-x", nil)
	if resp := e.ok(logical.ReadOperation, "roles/team-b-x", nil); resp != nil {
		t.Fatalf("deleted role still readable: %v", resp.Data)
	}
}

func TestRolePartialUpdate(t *testing.T) {
	e := newTestBackend(t)
	e.writeRole("r", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read", "expiry_buffer": 60})
	e.writeRole("r", map[string]any{"ttl": 600})
	resp := e.ok(logical.ReadOperation, "roles/r", nil)
	if resp.Data["owner"] != "acme" || !reflect.DeepEqual(resp.Data["repositories"], []string{"widgets"}) ||
		resp.Data["ttl"] != "10m0s" || resp.Data["expiry_buffer"] != "1m0s" ||
		!reflect.DeepEqual(resp.Data["permissions"], map[string]string{"contents": "read"}) {
		t.Fatalf("partial update lost fields: %v", resp.Data)
	}
	// Sending another selector replaces the old one.
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	resp = e.ok(logical.ReadOperation, "roles/r", nil)
	if resp.Data["owner"] != "" || resp.Data["installation_id"] != e.acme.ID {
		t.Fatalf("selector not replaced: %v", resp.Data)
	}
}

func TestRoleRepositoryOwnerCheckedForInstallationID(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("ok", map[string]any{"installation_id": e.acme.ID, "repositories": "ACME/widgets"})
	if got := e.ok(logical.ReadOperation, "roles/ok", nil).Data["repositories"]; !reflect.DeepEqual(got, []string{"widgets"}) {
		t.Fatalf("repositories %v", got)
	}
	resp, err := e.req(logical.UpdateOperation, "roles/bad", map[string]any{"installation_id": e.acme.ID, "repositories": "other/widgets"})
	wantError(t, resp, err, "repositories")
}

func TestRoleValidation(t *testing.T) {
	many := make([]string, 501)
	for i := range many {
		many[i] = fmt.Sprintf("repo-%d", i)
	}
	cases := map[string]struct {
		path  string
		data  map[string]any
		field string
	}{
		"two selectors":          {"roles/r", map[string]any{"owner": "acme", "installation_id": githubtest.FirstInstallationID}, "installation_id, owner"},
		"three selectors":        {"roles/r", map[string]any{"owner": "acme", "installation_id": githubtest.FirstInstallationID, "repository": "acme/widgets"}, "repository"},
		"no selector":            {"roles/r", map[string]any{"repositories": "widgets"}, "installation_id, owner, repository"},
		"installation_id 0":      {"roles/r", map[string]any{"installation_id": 0}, "installation_id"},
		"installation_id text":   {"roles/r", map[string]any{"installation_id": "abc"}, "installation_id"},
		"owner with slash":       {"roles/r", map[string]any{"owner": "acme/widgets"}, "owner"},
		"owner empty":            {"roles/r", map[string]any{"owner": ""}, "owner"},
		"repository no slash":    {"roles/r", map[string]any{"repository": "widgets"}, "repository"},
		"repository bad name":    {"roles/r", map[string]any{"repository": "acme/wid gets"}, "repository"},
		"501 repositories":       {"roles/r", map[string]any{"owner": "acme", "repositories": many}, "repositories"},
		"other owner's repo":     {"roles/r", map[string]any{"owner": "acme", "repositories": "evil/widgets"}, "repositories"},
		"repo of other repo own": {"roles/r", map[string]any{"repository": "acme/widgets", "repositories": "evil/widgets"}, "repositories"},
		"empty repository name":  {"roles/r", map[string]any{"owner": "acme", "repositories": "widgets,,tools"}, "repositories"},
		"dot-dot repository":     {"roles/r", map[string]any{"owner": "acme", "repositories": ".."}, "repositories"},
		"repository_ids text":    {"roles/r", map[string]any{"owner": "acme", "repository_ids": []any{"x"}}, "repository_ids"},
		"repository_ids zero":    {"roles/r", map[string]any{"owner": "acme", "repository_ids": []any{0}}, "repository_ids"},
		"malformed permission":   {"roles/r", map[string]any{"owner": "acme", "permissions": "content$=read"}, "content$"},
		"unknown level":          {"roles/r", map[string]any{"owner": "acme", "permissions": "contents=owner"}, "permissions"},
		"permission not a pair":  {"roles/r", map[string]any{"owner": "acme", "permissions": []any{"contents"}}, "permissions"},
		"permission level type":  {"roles/r", map[string]any{"owner": "acme", "permissions": map[string]any{"contents": 3}}, "permissions"},
		"ttl over 1h":            {"roles/r", map[string]any{"owner": "acme", "ttl": "2h"}, "ttl"},
		"ttl negative":           {"roles/r", map[string]any{"owner": "acme", "ttl": -5}, "ttl"},
		"expiry_buffer 1h":       {"roles/r", map[string]any{"owner": "acme", "expiry_buffer": 3600}, "expiry_buffer"},
		"name with dot":          {"roles/a.b", map[string]any{"owner": "acme"}, "name"},
		"name with slash":        {"roles/a/b", map[string]any{"owner": "acme"}, "name"},
		"name leading dash":      {"roles/-a", map[string]any{"owner": "acme"}, "name"},
		"name too long":          {"roles/" + strings.Repeat("a", 129), map[string]any{"owner": "acme"}, "name"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newTestBackend(t)
			e.writeRole("existing", map[string]any{"owner": "acme"})
			before := e.snapshot()
			resp, err := e.req(logical.CreateOperation, tc.path, tc.data)
			wantError(t, resp, err, tc.field)
			if err == nil && resp != nil && resp.IsError() == false {
				t.Fatal("not an error response")
			}
			if after := e.snapshot(); !reflect.DeepEqual(before, after) {
				t.Fatalf("storage changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestRoleFiveHundredRepositoriesAccepted(t *testing.T) {
	e := newTestBackend(t)
	many := make([]string, 500)
	for i := range many {
		many[i] = fmt.Sprintf("repo-%d", i)
	}
	e.writeRole("big", map[string]any{"owner": "acme", "repositories": many})
	if got := e.ok(logical.ReadOperation, "roles/big", nil).Data["repositories"].([]string); len(got) != 500 {
		t.Fatalf("stored %d repositories", len(got))
	}
}
