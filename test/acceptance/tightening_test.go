//go:build acceptance

package acceptance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestTighteningThroughVault: issue 15's fixes as clients reach them,
// through a real Vault (JSON numbers arrive as JSON numbers, the CLI sends
// strings).
func TestTighteningThroughVault(t *testing.T) {
	t.Parallel()
	d := githubtest.NewT(t)
	acme := d.AddInstallation("acme", "Organization", "widgets", "gadgets", "tools", "secret-plans")
	other := githubtest.NewT(t, githubtest.WithAppID(githubtest.DefaultAppID+7), githubtest.WithSlug("other-app"),
		githubtest.WithFirstIDs(githubtest.FirstInstallationID+900_000, githubtest.FirstRepositoryID+900_000))
	corp := other.AddInstallation("corp", "Organization", "infra")
	v := startVault(t, vaultOptions{LogLevel: "debug"})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	c := v.Client
	if _, err := c.Logical().Write("github/apps/other", map[string]any{"app_id": other.AppID, "private_key": string(other.KeyPEM()), "base_url": other.URL}); err != nil {
		t.Fatalf("apps/other: %v", err)
	}
	if _, err := c.Logical().Write("github/bounds/team-a", map[string]any{"owner": "acme", "repositories": "widgets,gadgets", "max_permissions": "contents=write,metadata=read"}); err != nil {
		t.Fatalf("bound: %v", err)
	}
	v.writeRole(t, "github", "team-a_web", map[string]any{"bound": "team-a", "repositories": "widgets"})
	v.writeRole(t, "github", "byid", map[string]any{"owner": "acme", "repository_ids": []int64{acme.Repositories[0].ID}})

	// A session's token: token/<its role> only. A team admin: its roles.
	session := v.tokenWithPolicy(t, "tight-session", `
path "github/token/team-a_web" { capabilities = ["read", "update"] }
path "github/token/byid" { capabilities = ["read", "update"] }`)
	admin := v.tokenWithPolicy(t, "tight-admin", `path "github/roles/team-a_*" { capabilities = ["create", "read", "update"] }`)
	nobody := v.tokenWithPolicy(t, "tight-nobody", `path "sys/nothing" { capabilities = ["read"] }`)
	for _, cl := range []*api.Client{session, admin, nobody} {
		cl.SetMaxRetries(0)
	}

	t.Run("ids reveal no names", func(t *testing.T) {
		for _, repo := range acme.Repositories[1:] {
			for _, tc := range []struct {
				who    *api.Client
				path   string
				data   map[string]any
				probes int
			}{
				{session, "github/token/team-a_web", map[string]any{"repository_ids": []int64{repo.ID}}, 1},
				{session, "github/token/team-a_web", map[string]any{"repository_ids": strconv.FormatInt(repo.ID, 10)}, 1},
				{session, "github/token/byid", map[string]any{"repository_ids": []int64{repo.ID}}, 0},
				{admin, "github/roles/team-a_probe", map[string]any{"bound": "team-a", "repository_ids": strconv.FormatInt(repo.ID, 10)}, 1},
			} {
				if tc.path == "github/roles/team-a_probe" && repo.Name == "gadgets" {
					continue // inside the bound
				}
				before := len(d.Tokens())
				_, err := tc.who.Logical().Write(tc.path, tc.data)
				if statusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), fmt.Sprintf("repository id %d", repo.ID)) {
					t.Errorf("%s with the id of %s: %v, want 403 naming the id", tc.path, repo.Name, err)
				}
				if err != nil && strings.Contains(err.Error(), repo.Name) {
					t.Errorf("%s: the refusal names %q: %v", tc.path, repo.Name, err)
				}
				if n := len(d.Tokens()) - before; n != tc.probes {
					t.Errorf("%s: %d probe mints, want %d", tc.path, n, tc.probes)
				}
			}
		}
		// Probes are revoked in the background: the mint does not wait.
		waitUntil(t, time.Now().Add(10*time.Second), 50*time.Millisecond, func() (bool, string) {
			live := d.LiveTokens()
			return len(live) == 0, fmt.Sprintf("%d probe tokens live at GitHub", len(live))
		})
	})

	t.Run("bound before GitHub", func(t *testing.T) {
		other.ResetCalls()
		for _, data := range []map[string]any{
			{"bound": "team-a", "app": "other", "installation_id": corp.ID},
			{"bound": "team-a", "app": "other", "installation_id": strconv.FormatInt(corp.ID, 10), "repositories": "corp/infra"},
		} {
			_, err := admin.Logical().Write("github/roles/team-a_evil", data)
			if statusOf(err) != http.StatusForbidden {
				t.Errorf("team admin naming App other's installation: %v, want 403", err)
			}
		}
		if calls := other.Calls(); len(calls) != 0 {
			t.Fatalf("App other's GitHub got %d calls (first %s %s)", len(calls), calls[0].Method, calls[0].Path)
		}
	})

	t.Run("unknown app", func(t *testing.T) {
		apps := func() int {
			s, err := c.Logical().Read("github/metrics")
			if err != nil {
				t.Fatal(err)
			}
			return len(s.Data["apps"].(map[string]any))
		}
		before := apps()
		for i := range 50 {
			name := fmt.Sprintf("ghost-%02d", i)
			_, err := c.Logical().Write("github/token", map[string]any{"app": name, "installation_id": acme.ID, "repositories": "acme/widgets"})
			if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "app: ") || !strings.Contains(err.Error(), name) {
				t.Fatalf("ad-hoc mint with app %s: %v, want 400 naming app", name, err)
			}
			_, err = c.Logical().ReadWithData("github/installations", map[string][]string{"app": {name}})
			if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "app: ") {
				t.Fatalf("installations?app=%s: %v, want 400 naming app", name, err)
			}
		}
		if after := apps(); after != before {
			t.Fatalf("metrics list %d Apps after 50 unknown names, %d before", after, before)
		}
	})

	t.Run("check says revoked false when GitHub failed the revocation", func(t *testing.T) {
		v.writeRole(t, "github", "plain", map[string]any{"owner": "acme", "repositories": "widgets"})
		d.SetRevokeStatus(http.StatusBadGateway)
		s, err := c.Logical().Read("github/roles/plain/check")
		d.SetRevokeStatus(0)
		if err != nil || s.Data["revoked"] != false {
			t.Fatalf("check with DELETE /installation/token failing: %v %v", s, err)
		}
		m, err := c.Logical().Read("github/metrics")
		if err != nil {
			t.Fatal(err)
		}
		byReason, _ := m.Data["unleased_revocations_failed"].(map[string]any)
		if n, _ := byReason["check"].(json.Number); n.String() != "1" {
			t.Fatalf("unleased_revocations_failed %v, want check: 1", byReason)
		}
	})

	t.Run("sub-second ttl", func(t *testing.T) {
		for _, w := range []struct {
			path, field string
			data        map[string]any
		}{
			{"github/roles/short", "ttl", map[string]any{"owner": "acme", "ttl": 0.5}},
			{"github/bounds/short", "max_ttl", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read", "max_ttl": "500ms"}},
		} {
			_, err := c.Logical().Write(w.path, w.data)
			if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "* "+w.field+": ") {
				t.Errorf("%s %s: %v, want 400 naming %s", w.path, w.field, err, w.field)
			}
		}
		out, err := v.cli(nil, "write", "github/roles/short", "owner=acme", "ttl=0.5s")
		if err == nil || !strings.Contains(out, "ttl: ") {
			t.Errorf("CLI ttl=0.5s: %v %s", err, out)
		}
	})

	t.Run("GET with narrowing query parameters narrows", func(t *testing.T) {
		v.writeRole(t, "github", "two", map[string]any{"owner": "acme", "repositories": "widgets,gadgets"})
		s, err := c.Logical().ReadWithData("github/token/two", map[string][]string{"repositories": {"gadgets"}})
		if err != nil {
			t.Fatal(err)
		}
		tok, ok := d.LookupToken(s.Data["token"].(string))
		if !ok || !slices.Equal(tok.Repositories, []string{"gadgets"}) {
			t.Fatalf("GET token/two?repositories=gadgets minted %v", tok.Repositories)
		}
		if _, err := c.Logical().ReadWithData("github/token/two", map[string][]string{"repositories": {"tools"}}); statusOf(err) != http.StatusForbidden {
			t.Fatalf("GET token/two?repositories=tools: %v, want 403", err)
		}
	})

	t.Run("no rights, wrong type: Vault's 403", func(t *testing.T) {
		for path, data := range map[string]map[string]any{
			"github/roles/x":  {"ttl": map[string]any{"a": 1}},
			"github/bounds/x": {"max_ttl": []any{true}},
			"github/config":   {"app_id": map[string]any{}},
		} {
			_, err := nobody.Logical().Write(path, data)
			if statusOf(err) != http.StatusForbidden {
				t.Errorf("%s without rights, wrongly typed: %v, want Vault's 403", path, err)
			}
		}
		log, err := os.ReadFile(v.logPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "[ERROR]") && strings.Contains(line, "existence check") {
				t.Errorf("the server logged an error for it: %s", line)
			}
		}
	})

	t.Run("messages", func(t *testing.T) {
		for _, tc := range []struct {
			data map[string]any
			want []string
		}{
			{map[string]any{"owner": "acme", "repositories": map[string]any{}}, []string{"repositories: ", "an object"}},
			// A JSON number reaches the plugin as a float64, already
			// rounded: the message says so instead of quoting ...992.
			{map[string]any{"installation_id": json.Number("9007199254740993")}, []string{"installation_id: ", "beyond 9007199254740991", "rounded"}},
			{map[string]any{"owner": "acme", "repository_ids": []any{json.Number("9007199254740993")}}, []string{"repository_ids: ", "beyond 9007199254740991"}},
			// A string (the CLI) is quoted exactly.
			{map[string]any{"installation_id": "9007199254740993"}, []string{"installation_id: ", `"9007199254740993"`}},
			{map[string]any{"owner": "acme", "repository_ids": "812345001,812345001"}, []string{"repository_ids: 812345001 is given twice"}},
			{map[string]any{"owner": "acme", "permissions": map[string]any{"contents": true}}, []string{"permissions: ", "true/false"}},
		} {
			_, err := c.Logical().Write("github/roles/msg", tc.data)
			if statusOf(err) != http.StatusBadRequest {
				t.Errorf("%v: %v, want 400", tc.data, err)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: %v does not say %q", tc.data, err, w)
				}
			}
			if strings.Contains(err.Error(), "map[") || strings.Contains(err.Error(), "9007199254740992") {
				t.Errorf("%v: %v", tc.data, err)
			}
		}
	})

	t.Run("check names unreachable repositories", func(t *testing.T) {
		v.writeRole(t, "github", "typo", map[string]any{"owner": "acme", "repositories": "widgets,wigdets"})
		_, err := c.Logical().Read("github/roles/typo/check")
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `cannot reach "wigdets"`) || strings.Contains(err.Error(), `"widgets"`) {
			t.Fatalf("check of a role with a typo: %v", err)
		}
	})
}
