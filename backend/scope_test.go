package backend

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

func status(resp *logical.Response, err error) int {
	var coded logical.HTTPCodedError
	switch {
	case errors.As(err, &coded):
		return coded.Code()
	case errors.Is(err, logical.ErrPermissionDenied):
		return http.StatusForbidden
	case err != nil:
		return http.StatusInternalServerError
	case resp != nil && resp.IsError():
		return http.StatusBadRequest
	}
	return http.StatusOK
}

func errText(resp *logical.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	if resp != nil && resp.IsError() {
		return resp.Error().Error()
	}
	return ""
}

// boundEnv is a configured backend with installations acme (widgets,
// gadgets, tools, web-a, web-b) and other (widgets, secret), and bound
// team-a: acme, widgets and gadgets, contents=write,metadata=read.
func boundEnv(t *testing.T, config map[string]any) (*testEnv, *githubtest.Installation) {
	t.Helper()
	e := newTestBackend(t)
	e.acme.Repositories = append(e.acme.Repositories, githubtest.Repo{ID: e.acme.Repositories[2].ID + 100, Name: "web-a"}, githubtest.Repo{ID: e.acme.Repositories[2].ID + 101, Name: "web-b"})
	other := e.gh.AddInstallation("other", "Organization", "widgets", "secret")
	e.configure(config)
	e.ok(logical.CreateOperation, "bounds/team-a", map[string]any{
		"owner":           "acme",
		"repositories":    []any{"widgets", "gadgets"},
		"max_permissions": map[string]any{"contents": "write", "metadata": "read"},
	})
	return e, other
}

func (e *testEnv) repoID(in *githubtest.Installation, name string) int64 {
	for _, r := range in.Repositories {
		if r.Name == name {
			return r.ID
		}
	}
	e.t.Fatalf("no repository %s in installation %s", name, in.Account)
	return 0
}

func TestBoundCRUD(t *testing.T) {
	e, _ := boundEnv(t, nil)
	// JSON numbers (float64, as through Vault's HTTP API) and strings (CLI).
	e.ok(logical.CreateOperation, "bounds/by-id", map[string]any{
		"installation_id": float64(e.acme.ID), "repositories": "web-*,Tools", "max_permissions": "Contents=READ", "max_ttl": float64(1800),
	})
	e.ok(logical.CreateOperation, "bounds/by-id-cli", map[string]any{
		"installation_id": fmt.Sprint(e.acme.ID), "repositories": "web-*", "max_permissions": "contents=read", "max_ttl": "30m",
	})
	for _, name := range []string{"by-id", "by-id-cli"} {
		got := e.ok(logical.ReadOperation, "bounds/"+name, nil).Data
		if got["installation_id"] != e.acme.ID || got["max_ttl"] != "30m0s" || got["owner"] != "" ||
			!reflect.DeepEqual(got["max_permissions"], map[string]string{"contents": "read"}) {
			t.Errorf("bounds/%s reads %v", name, got)
		}
	}
	if got := e.ok(logical.ReadOperation, "bounds/by-id", nil).Data["repositories"]; !reflect.DeepEqual(got, []string{"web-*", "Tools"}) {
		t.Errorf("repositories %v", got)
	}
	// Partial update keeps the other fields.
	e.ok(logical.UpdateOperation, "bounds/by-id", map[string]any{"max_ttl": "10m"})
	if got := e.ok(logical.ReadOperation, "bounds/by-id", nil).Data; got["max_ttl"] != "10m0s" || !reflect.DeepEqual(got["repositories"], []string{"web-*", "Tools"}) {
		t.Errorf("after a partial update: %v", got)
	}
	if got := e.ok(logical.ListOperation, "bounds/", nil).Data["keys"]; !reflect.DeepEqual(got, []string{"by-id", "by-id-cli", "team-a"}) {
		t.Errorf("list %v", got)
	}

	// A bound roles name cannot be deleted; the error names them.
	e.writeRole("team-a_web", map[string]any{"bound": "team-a"})
	e.writeRole("team-a_api", map[string]any{"bound": "team-a", "repositories": "gadgets"})
	resp, err := e.req(logical.DeleteOperation, "bounds/team-a", nil)
	if status(resp, err) != http.StatusBadRequest || !strings.Contains(errText(resp, err), "team-a_api, team-a_web") {
		t.Fatalf("deleting a bound in use: %d %s", status(resp, err), errText(resp, err))
	}
	e.ok(logical.DeleteOperation, "roles/team-a_web", nil)
	e.ok(logical.DeleteOperation, "roles/team-a_api", nil)
	e.ok(logical.DeleteOperation, "bounds/team-a", nil)
	if resp := e.ok(logical.ReadOperation, "bounds/team-a", nil); resp != nil {
		t.Fatalf("deleted bound still reads %v", resp.Data)
	}
}

func TestBoundValidation(t *testing.T) {
	e, _ := boundEnv(t, map[string]any{"max_permissions": "contents=write,metadata=read,issues=read"})
	good := func() map[string]any {
		return map[string]any{"owner": "acme", "repositories": "widgets", "max_permissions": "contents=read"}
	}
	with := func(k string, v any) map[string]any {
		d := good()
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		return d
	}
	for name, tc := range map[string]struct {
		data   map[string]any
		status int
		field  string
	}{
		"no selector":                  {with("owner", nil), 400, "installation_id, owner"},
		"two selectors":                {with("installation_id", float64(e.acme.ID)), 400, "installation_id, owner"},
		"fractional installation_id":   {map[string]any{"installation_id": 1.5, "repositories": "widgets", "max_permissions": "contents=read"}, 400, "installation_id"},
		"negative installation_id":     {map[string]any{"installation_id": "-3", "repositories": "widgets", "max_permissions": "contents=read"}, 400, "installation_id"},
		"word installation_id":         {map[string]any{"installation_id": "acme", "repositories": "widgets", "max_permissions": "contents=read"}, 400, "installation_id"},
		"owner as a list":              {with("owner", []any{"acme"}), 400, "owner"},
		"bad owner":                    {with("owner", "ac me"), 400, "owner"},
		"no repositories":              {with("repositories", nil), 400, "repositories"},
		"empty repositories string":    {with("repositories", ""), 400, "repositories"},
		"empty repositories list":      {with("repositories", []any{}), 400, "repositories"},
		"repositories object":          {with("repositories", map[string]any{"widgets": true}), 400, "repositories"},
		"repositories other owner":     {with("repositories", "other/widgets"), 400, "repositories"},
		"bad pattern":                  {with("repositories", "web/*/x"), 400, "repositories"},
		"no max_permissions":           {with("max_permissions", nil), 400, "max_permissions"},
		"empty max_permissions":        {with("max_permissions", ""), 400, "max_permissions"},
		"max_permissions bad level":    {with("max_permissions", "contents=all"), 400, "max_permissions"},
		"max_permissions over ceiling": {with("max_permissions", "workflows=write"), 403, `permission "workflows"`},
		"max_permissions above level":  {with("max_permissions", "issues=write"), 403, "issues=write"},
		"max_ttl too long":             {with("max_ttl", "2h"), 400, "max_ttl"},
		"max_ttl negative":             {with("max_ttl", float64(-5)), 400, "max_ttl"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := e.req(logical.CreateOperation, "bounds/b", tc.data)
			if got := status(resp, err); got != tc.status || !strings.Contains(errText(resp, err), tc.field) {
				t.Fatalf("got %d %q, want %d naming %q", got, errText(resp, err), tc.status, tc.field)
			}
			if resp := e.ok(logical.ReadOperation, "bounds/b", nil); resp != nil {
				t.Fatalf("a refused write stored %v", resp.Data)
			}
		})
	}
}

// TestScopeWidening: role writes that try to get out of bound team-a, in
// every spelling, are refused with a 4xx naming what is out; those
// accepted mint tokens the double confirms lie inside the bound.
func TestScopeWidening(t *testing.T) {
	e, otherInst := boundEnv(t, nil)
	e.ok(logical.CreateOperation, "bounds/team-b", map[string]any{"owner": "acme", "repositories": "tools", "max_permissions": "contents=write,metadata=read"})
	tools, widgets := e.repoID(e.acme, "tools"), e.repoID(e.acme, "widgets")
	base := map[string]any{"bound": "team-a"}
	w := func(kv ...any) map[string]any {
		d := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			d[kv[i].(string)] = kv[i+1]
		}
		return d
	}
	cases := []struct {
		name   string
		data   map[string]any
		status int // 200: accepted
		field  string
	}{
		{"Tools", w("repositories", "Tools"), 403, `"Tools"`},
		{"acme/tools", w("repositories", "acme/tools"), 403, `"tools"`},
		{"ACME/TOOLS list", w("repositories", []any{"widgets", "ACME/TOOLS"}), 403, `"TOOLS"`},
		{"id of tools (number)", w("repository_ids", []any{float64(tools)}), 403, fmt.Sprintf("repository id %d is outside", tools)}, // never the name
		{"id of tools (string)", w("repository_ids", fmt.Sprint(tools)), 403, fmt.Sprintf("repository id %d is outside", tools)},
		{"repository=acme/tools", w("repository", "acme/tools"), 403, `"tools"`},
		{"workflows object", w("permissions", map[string]any{"workflows": "write"}), 403, `"workflows"`},
		{"Workflows=write", w("permissions", "Workflows=write"), 403, `"workflows"`},
		{"Kelvin workflows", w("permissions", "wor\u212aflows=write"), 400, "permissions"}, // not a well-formed name
		{"workflows list", w("permissions", []any{"workflows=write"}), 403, `"workflows"`},
		{"contents=admin", w("permissions", "contents=admin"), 403, "contents=admin"},
		{"METADATA=WRITE", w("permissions", "METADATA=WRITE"), 403, "metadata=write"},
		{"owner other", w("owner", "other"), 403, "installation"},
		{"installation of other", w("installation_id", float64(otherInst.ID)), 403, "installation"},
		{"repository=other/widgets", w("repository", "other/widgets"), 403, "installation"},
		{"bound team-b with widgets", map[string]any{"bound": "team-b", "repositories": "widgets"}, 403, `"widgets"`},
		{"bound missing", map[string]any{"bound": "team-z"}, 400, "bound"},
		{"bound empty", map[string]any{"bound": ""}, 400, "bound"},
		{"bound list", map[string]any{"bound": []any{"team-a"}}, 400, "bound"},
		{"bound object", map[string]any{"bound": map[string]any{"name": "team-a"}}, 400, "bound"},
		{"bound Team-A", map[string]any{"bound": "Team-A"}, 400, "bound"},
		{"repositories object", w("repositories", map[string]any{"tools": 1}), 400, "repositories"},
		{"ids of other's repo", w("repository_ids", []any{float64(e.repoID(e.acme, "web-a"))}), 403, fmt.Sprintf("repository id %d is outside", e.repoID(e.acme, "web-a"))},
		{"unknown id", w("repository_ids", "999999999"), 403, "repository id 999999999 is outside bound"}, // as an id outside: no existence oracle

		{"left out (bound's)", w(), 200, ""},
		{"empty list", w("repositories", []any{}, "permissions", []any{}), 200, ""},
		{"empty string repositories", w("repositories", ""), 200, ""},
		{"empty string permissions", w("permissions", ""), 0, ""}, // 4xx, or the bound's
		{"Widgets, contents=READ", w("repositories", "Widgets", "permissions", "Contents=READ"), 200, ""},
		{"acme/gadgets, owner Acme", w("owner", "Acme", "repositories", "acme/gadgets"), 200, ""},
		{"id of widgets", w("repository_ids", []any{float64(widgets)}), 200, ""},
		{"installation of acme", w("installation_id", fmt.Sprint(e.acme.ID), "repositories", "gadgets"), 200, ""},
	}
	allowed := []string{"widgets", "gadgets"}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("team-a_r%d", i)
			resp, err := e.req(logical.CreateOperation, "roles/"+name, tc.data)
			got := status(resp, err)
			t.Logf("%-28s %v -> %d %s", tc.name, tc.data, got, errText(resp, err))
			if tc.status == 0 && got >= 400 && got < 500 {
				return
			}
			if tc.status != 200 && tc.status != 0 {
				if got != tc.status || !strings.Contains(errText(resp, err), tc.field) {
					t.Fatalf("got %d %q, want %d naming %s", got, errText(resp, err), tc.status, tc.field)
				}
				if r := e.ok(logical.ReadOperation, "roles/"+name, nil); r != nil {
					t.Fatalf("a refused write stored %v", r.Data)
				}
				return
			}
			if got != http.StatusOK && got != http.StatusNoContent {
				t.Fatalf("refused: %d %s", got, errText(resp, err))
			}
			m := e.ok(logical.ReadOperation, "token/"+name, nil)
			tok, _ := e.gh.LookupToken(m.Data["token"].(string))
			if tok.InstallationID != e.acme.ID {
				t.Errorf("token for installation %d", tok.InstallationID)
			}
			if len(tok.Repositories) == 0 {
				t.Errorf("token covers every repository")
			}
			for _, r := range tok.Repositories {
				if !slices.Contains(allowed, r) {
					t.Errorf("token covers %s, outside the bound", r)
				}
			}
			if err := within(tok.Permissions, map[string]string{"contents": "write", "metadata": "read"}, "bound"); err != nil || len(tok.Permissions) == 0 {
				t.Errorf("token permissions %v: %v", tok.Permissions, err)
			}
		})
	}

	// Left out: the bound's repositories and max_permissions, exactly.
	m := e.ok(logical.ReadOperation, "token/team-a_r"+fmt.Sprint(slices.IndexFunc(cases, func(c struct {
		name   string
		data   map[string]any
		status int
		field  string
	}) bool {
		return c.name == "left out (bound's)"
	})), nil)
	tok, _ := e.gh.LookupToken(m.Data["token"].(string))
	if !reflect.DeepEqual(tok.Repositories, allowed) || !reflect.DeepEqual(tok.Permissions, map[string]string{"contents": "write", "metadata": "read"}) {
		t.Errorf("a role that leaves everything out mints %v %v, want the bound's", tok.Repositories, tok.Permissions)
	}
}

func TestScopeTighteningAppliesAtNextMint(t *testing.T) {
	e, _ := boundEnv(t, nil)
	e.ok(logical.UpdateOperation, "bounds/team-a", map[string]any{"max_ttl": "40m"})
	e.writeRole("team-a_web", map[string]any{"bound": "team-a", "repositories": "widgets,gadgets", "permissions": "contents=write", "ttl": "30m"})
	e.writeRole("team-a_all", map[string]any{"bound": "team-a"})
	e.ok(logical.ReadOperation, "token/team-a_web", nil)

	for _, tc := range []struct {
		tighten map[string]any
		field   string
	}{
		{map[string]any{"repositories": "widgets"}, `repository "gadgets"`},
		{map[string]any{"max_permissions": "contents=read,metadata=read"}, "contents=write"},
		{map[string]any{"max_ttl": "10m"}, "ttl"},
		{map[string]any{"owner": "other"}, "installation"},
	} {
		e.ok(logical.UpdateOperation, "bounds/team-a", map[string]any{"owner": "acme", "repositories": "widgets,gadgets", "max_permissions": "contents=write,metadata=read", "max_ttl": "40m"})
		e.ok(logical.ReadOperation, "token/team-a_web", nil)
		e.ok(logical.UpdateOperation, "bounds/team-a", tc.tighten)
		resp, err := e.req(logical.ReadOperation, "token/team-a_web", nil)
		if status(resp, err) != http.StatusForbidden || !strings.Contains(errText(resp, err), tc.field) {
			t.Errorf("after tightening %v: %d %q, want 403 naming %s", tc.tighten, status(resp, err), errText(resp, err), tc.field)
		}
	}
	// A role that leaves its repositories out follows the bound.
	e.ok(logical.UpdateOperation, "bounds/team-a", map[string]any{"owner": "acme", "repositories": "widgets", "max_permissions": "contents=read,metadata=read", "max_ttl": "40m"})
	m := e.ok(logical.ReadOperation, "token/team-a_all", nil)
	tok, _ := e.gh.LookupToken(m.Data["token"].(string))
	if !reflect.DeepEqual(tok.Repositories, []string{"widgets"}) || !reflect.DeepEqual(tok.Permissions, map[string]string{"contents": "read", "metadata": "read"}) {
		t.Errorf("team-a_all after tightening mints %v %v", tok.Repositories, tok.Permissions)
	}
	if m.Secret.TTL.Minutes() != 40 {
		t.Errorf("lease ttl %s, want the bound's max_ttl 40m", m.Secret.TTL)
	}
	// Patterns: a role must name its repositories.
	e.ok(logical.UpdateOperation, "bounds/team-a", map[string]any{"repositories": "web-*"})
	resp, err := e.req(logical.ReadOperation, "token/team-a_all", nil)
	if status(resp, err) != http.StatusBadRequest || !strings.Contains(errText(resp, err), "repositories") {
		t.Errorf("empty repositories in a bound with patterns: %d %q", status(resp, err), errText(resp, err))
	}
	e.writeRole("team-a_web2", map[string]any{"bound": "team-a", "repositories": "WEB-B"})
	m = e.ok(logical.ReadOperation, "token/team-a_web2", nil)
	if tok, _ := e.gh.LookupToken(m.Data["token"].(string)); !reflect.DeepEqual(tok.Repositories, []string{"web-b"}) {
		t.Errorf("pattern role mints %v", tok.Repositories)
	}
	// A bound deleted under its roles (by storage, as a replica might see
	// it) refuses their mints.
	if err := e.storage.Delete(t.Context(), boundPrefix+"team-a"); err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(t.Context(), boundPrefix+"team-a")
	resp, err = e.req(logical.ReadOperation, "token/team-a_web2", nil)
	if status(resp, err) != http.StatusForbidden || !strings.Contains(errText(resp, err), "bound") {
		t.Errorf("mint with a missing bound: %d %q", status(resp, err), errText(resp, err))
	}
}

func TestScopeNarrowing(t *testing.T) {
	e, _ := boundEnv(t, nil)
	e.writeRole("team-a_web", map[string]any{"bound": "team-a"})
	e.writeRole("inst", map[string]any{"installation_id": e.acme.ID})
	for _, tc := range []struct {
		role   string
		data   map[string]any
		status int
		field  string
	}{
		{"team-a_web", map[string]any{"repositories": "tools"}, 403, `"tools"`},
		{"team-a_web", map[string]any{"repositories": "acme/Tools"}, 403, `"Tools"`},
		{"team-a_web", map[string]any{"repository_ids": fmt.Sprint(e.repoID(e.acme, "tools"))}, 403, fmt.Sprintf("repository id %d is not in", e.repoID(e.acme, "tools"))},
		{"team-a_web", map[string]any{"permissions": "wor\u212aflows=write"}, 400, "permissions"},
		{"team-a_web", map[string]any{"permissions": map[string]any{"Contents": "admin"}}, 403, "contents=admin"},
		{"inst", map[string]any{"repositories": "other/widgets"}, 403, `"other"`},
		{"inst", map[string]any{"repositories": "other/secret"}, 403, `"other"`},
		{"team-a_web", map[string]any{"repositories": "Widgets", "permissions": "CONTENTS=read"}, 200, ""},
		{"team-a_web", map[string]any{"repositories": "", "permissions": []any{}}, 200, ""},
		{"inst", map[string]any{"repositories": "ACME/tools"}, 200, ""},
	} {
		resp, err := e.req(logical.UpdateOperation, "token/"+tc.role, tc.data)
		got := status(resp, err)
		if tc.status == 200 {
			if got != 200 {
				t.Errorf("narrowing %s with %v: %d %s", tc.role, tc.data, got, errText(resp, err))
				continue
			}
			tok, _ := e.gh.LookupToken(resp.Data["token"].(string))
			if tok.InstallationID != e.acme.ID || len(tok.Repositories) == 0 {
				t.Errorf("narrowing %s with %v minted %+v", tc.role, tc.data, tok)
			}
			if tc.role == "team-a_web" && (slices.Contains(tok.Repositories, "tools") || tok.Permissions["workflows"] != "") {
				t.Errorf("narrowing %s with %v minted %v %v", tc.role, tc.data, tok.Repositories, tok.Permissions)
			}
			continue
		}
		if got != tc.status || !strings.Contains(errText(resp, err), tc.field) {
			t.Errorf("narrowing %s with %v: %d %q, want %d naming %s", tc.role, tc.data, got, errText(resp, err), tc.status, tc.field)
		}
	}
}

func TestCeiling(t *testing.T) {
	e, _ := boundEnv(t, map[string]any{"max_permissions": "contents=write,metadata=read,issues=read", "default_permissions": []any{"contents=read", "metadata=read"}})
	got := e.ok(logical.ReadOperation, "config", nil).Data
	if !reflect.DeepEqual(got["max_permissions"], map[string]string{"contents": "write", "metadata": "read", "issues": "read"}) ||
		!reflect.DeepEqual(got["default_permissions"], map[string]string{"contents": "read", "metadata": "read"}) {
		t.Fatalf("config reads %v", got)
	}
	// A role without permissions or bound gets the defaults.
	e.writeRole("plain", map[string]any{"owner": "acme"})
	m := e.ok(logical.ReadOperation, "token/plain", nil)
	if tok, _ := e.gh.LookupToken(m.Data["token"].(string)); !reflect.DeepEqual(tok.Permissions, map[string]string{"contents": "read", "metadata": "read"}) {
		t.Errorf("default permissions: token has %v", tok.Permissions)
	}
	// Nothing may exceed the ceiling.
	for what, do := range map[string]func() (*logical.Response, error){
		"role write": func() (*logical.Response, error) {
			return e.req(logical.CreateOperation, "roles/wide", map[string]any{"owner": "acme", "permissions": "Workflows=write"})
		},
		"ad-hoc": func() (*logical.Response, error) {
			return e.req(logical.UpdateOperation, "token", map[string]any{"owner": "acme", "permissions": map[string]any{"WorkFlows": "write"}})
		},
		"narrowing": func() (*logical.Response, error) {
			return e.req(logical.UpdateOperation, "token/plain", map[string]any{"permissions": "issues=write"})
		},
		"bound": func() (*logical.Response, error) {
			return e.req(logical.CreateOperation, "bounds/wide", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "pull_requests=write"})
		},
	} {
		before := len(e.gh.Tokens())
		resp, err := do()
		if status(resp, err) != http.StatusForbidden || !strings.Contains(errText(resp, err), "permission") {
			t.Errorf("%s over the ceiling: %d %q", what, status(resp, err), errText(resp, err))
		}
		if len(e.gh.Tokens()) != before {
			t.Errorf("%s over the ceiling minted", what)
		}
	}
	// Lowering the ceiling refuses the next mint of a role now above it.
	e.writeRole("issues", map[string]any{"owner": "acme", "permissions": "issues=read"})
	e.ok(logical.ReadOperation, "token/issues", nil)
	e.configure(map[string]any{"max_permissions": "contents=write,metadata=read"})
	resp, err := e.req(logical.ReadOperation, "token/issues", nil)
	if status(resp, err) != http.StatusForbidden || !strings.Contains(errText(resp, err), `permission "issues"`) {
		t.Errorf("after lowering the ceiling: %d %q", status(resp, err), errText(resp, err))
	}
	// Bad ceilings are refused and nothing changes.
	for _, data := range []map[string]any{
		{"default_permissions": "workflows=write"},
		{"max_permissions": "contents=all"},
		{"max_permissions": map[string]any{"contents": 2}},
	} {
		data["private_key"] = string(e.gh.KeyPEM())
		resp, err := e.req(logical.UpdateOperation, "config", data)
		if status(resp, err) != http.StatusBadRequest || !strings.Contains(errText(resp, err), "permissions") {
			t.Errorf("config %v: %d %q", data, status(resp, err), errText(resp, err))
		}
	}
	// Unset: everything the App was granted, as before.
	e.configure(map[string]any{"max_permissions": map[string]any{}, "default_permissions": []any{}})
	m = e.ok(logical.ReadOperation, "token/plain", nil)
	if tok, _ := e.gh.LookupToken(m.Data["token"].(string)); !reflect.DeepEqual(tok.Permissions, e.acme.Permissions) {
		t.Errorf("without a ceiling: token has %v, want the installation's %v", tok.Permissions, e.acme.Permissions)
	}
}
