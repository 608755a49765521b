package backend

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// twoApps is a backend whose App "default" is the double e.gh
// (github.com-like) and whose App "ghes" is a second double under /api/v3
// with an App of its own, with an installation "corp".
type twoApps struct {
	*testEnv
	ghes *githubtest.Server
	corp *githubtest.Installation
}

func newTwoApps(t *testing.T) *twoApps {
	t.Helper()
	e := newTestBackend(t)
	e.configure(nil)
	ghes := githubtest.NewT(t, githubtest.WithPathPrefix("/api/v3"), githubtest.WithAppID(e.gh.AppID+1), githubtest.WithSlug("ghes-app"),
		githubtest.WithFirstIDs(githubtest.FirstInstallationID+500_000, githubtest.FirstRepositoryID+500_000))
	corp := ghes.AddInstallation("corp", "Organization", "infra", "platform")
	e.ok(logical.UpdateOperation, "apps/ghes", map[string]any{
		"app_id":      float64(ghes.AppID),
		"private_key": string(ghes.KeyPEM()),
		"base_url":    ghes.URL,
	})
	return &twoApps{testEnv: e, ghes: ghes, corp: corp}
}

func TestAppsCRUD(t *testing.T) {
	e := newTestBackend(t)
	ghes := githubtest.NewT(t, githubtest.WithPathPrefix("/api/v3"), githubtest.WithAppID(2_345_678), githubtest.WithSlug("ghes-app"))
	cases := []struct {
		name  string
		appID any // as clients send it: a JSON number (float64) or the CLI's string
	}{
		{"json-number", float64(ghes.AppID)},
		{"cli-string", strconv.FormatInt(ghes.AppID, 10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.ok(logical.UpdateOperation, "apps/"+c.name, map[string]any{
				"app_id":        c.appID,
				"private_key":   string(ghes.KeyPEM()),
				"base_url":      ghes.URL,
				"expiry_buffer": "2m",
			})
			got := e.ok(logical.ReadOperation, "apps/"+c.name, nil).Data
			if got["app_id"] != ghes.AppID || got["app_slug"] != "ghes-app" || got["base_url"] != ghes.URL ||
				got["expiry_buffer"] != "2m0s" || got["key_fingerprint"] != github.Fingerprint(&ghes.Key.PublicKey) || got["name"] != c.name {
				t.Fatalf("read %v", got)
			}
			for k, v := range got {
				if s, ok := v.(string); ok && strings.Contains(s, "PRIVATE KEY") {
					t.Fatalf("read returns the key in %s", k)
				}
			}
			// Partial update keeps the key; a new base_url needs it.
			e.ok(logical.UpdateOperation, "apps/"+c.name, map[string]any{"expiry_buffer": float64(60)})
			if got := e.ok(logical.ReadOperation, "apps/"+c.name, nil).Data["expiry_buffer"]; got != "1m0s" {
				t.Fatalf("expiry_buffer after partial update %v", got)
			}
			resp, err := e.req(logical.UpdateOperation, "apps/"+c.name, map[string]any{"base_url": e.gh.URL})
			wantError(t, resp, err, "private_key")
		})
	}
	// The list shows default only once config exists.
	if got := e.ok(logical.ListOperation, "apps/", nil).Data["keys"]; !reflect.DeepEqual(got, []string{"cli-string", "json-number"}) {
		t.Fatalf("list %v", got)
	}
	e.configure(nil)
	if got := e.ok(logical.ListOperation, "apps/", nil).Data["keys"]; !reflect.DeepEqual(got, []string{"cli-string", "default", "json-number"}) {
		t.Fatalf("list %v", got)
	}
	// config is apps/default: same storage, same answer.
	viaConfig := e.ok(logical.ReadOperation, "config", nil).Data
	viaApps := e.ok(logical.ReadOperation, "apps/default", nil).Data
	if !reflect.DeepEqual(viaConfig, viaApps) || viaApps["app_id"] != e.gh.AppID {
		t.Fatalf("config %v\napps/default %v", viaConfig, viaApps)
	}
	e.ok(logical.UpdateOperation, "apps/default", map[string]any{"expiry_buffer": "7m"})
	if got := e.ok(logical.ReadOperation, "config", nil).Data["expiry_buffer"]; got != "7m0s" {
		t.Fatalf("a write to apps/default is not config: %v", got)
	}
	if snap := e.snapshot(); snap["apps/default"] != "" {
		t.Fatal("apps/default stored apart from config")
	}

	// Bad names and wrong credentials store nothing.
	before := e.snapshot()
	for _, bad := range []struct {
		path  string
		data  map[string]any
		field string
	}{
		{"apps/-x", map[string]any{"app_id": float64(ghes.AppID), "private_key": string(ghes.KeyPEM()), "base_url": ghes.URL}, "name"},
		{"apps/wrong-key", map[string]any{"app_id": float64(ghes.AppID), "private_key": string(e.gh.KeyPEM()), "base_url": ghes.URL}, "GitHub rejected"},
		{"apps/no-key", map[string]any{"app_id": float64(ghes.AppID), "base_url": ghes.URL}, "private_key"},
	} {
		resp, err := e.req(logical.UpdateOperation, bad.path, bad.data)
		wantError(t, resp, err, bad.field)
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Fatal("a refused App write stored something")
	}

	e.ok(logical.DeleteOperation, "apps/cli-string", nil)
	if resp := e.ok(logical.ReadOperation, "apps/cli-string", nil); resp != nil {
		t.Fatalf("deleted App readable: %v", resp.Data)
	}
	if got := e.ok(logical.ListOperation, "apps/", nil).Data["keys"]; !reflect.DeepEqual(got, []string{"default", "json-number"}) {
		t.Fatalf("list after delete %v", got)
	}
}

// Roles mint through their own App, from its GitHub only; tokens, the
// installations list and the ad-hoc path choose an App the same way.
func TestRolesMintThroughTheirApp(t *testing.T) {
	e := newTwoApps(t)
	cases := []struct {
		role string
		data map[string]any
		gh   *githubtest.Server
		id   int64
	}{
		{"dot-com", map[string]any{"owner": "acme", "repositories": "widgets"}, e.gh, e.acme.ID},
		{"ghes-by-id-number", map[string]any{"app": "ghes", "installation_id": float64(e.corp.ID)}, e.ghes, e.corp.ID},
		{"ghes-by-id-string", map[string]any{"app": "ghes", "installation_id": strconv.FormatInt(e.corp.ID, 10)}, e.ghes, e.corp.ID},
		{"ghes-by-owner", map[string]any{"app": "ghes", "owner": "corp", "repositories": "infra"}, e.ghes, e.corp.ID},
	}
	for _, c := range cases {
		t.Run(c.role, func(t *testing.T) {
			e.writeRole(c.role, c.data)
			e.gh.ResetCalls()
			e.ghes.ResetCalls()
			tok := e.ok(logical.ReadOperation, "token/"+c.role, nil)
			if _, ok := c.gh.LookupToken(tok.Data["token"].(string)); !ok || tok.Data["installation_id"] != c.id {
				t.Fatalf("token not minted by the role's App's GitHub: %v", tok.Data)
			}
			other := e.gh
			if c.gh == e.gh {
				other = e.ghes
			}
			if n := len(other.Calls()); n != 0 {
				t.Fatalf("the other App's GitHub got %d calls: %v", n, other.Calls())
			}
			if tok.Secret.InternalData["base_url"] != c.gh.URL {
				t.Fatalf("lease base_url %v", tok.Secret.InternalData["base_url"])
			}
		})
	}

	// installations and the ad-hoc token path take app.
	inst := e.ok(logical.ReadOperation, "installations", map[string]any{"app": "ghes"}).Data["installations"].(map[string]any)
	if len(inst) != 1 || inst["corp"] != e.corp.ID {
		t.Fatalf("ghes installations %v", inst)
	}
	inst = e.ok(logical.ReadOperation, "installations", nil).Data["installations"].(map[string]any)
	if inst["acme"] != e.acme.ID || inst["corp"] != nil {
		t.Fatalf("default installations %v", inst)
	}
	adhoc := e.ok(logical.UpdateOperation, "token", map[string]any{"app": "ghes", "owner": "corp"})
	if _, ok := e.ghes.LookupToken(adhoc.Data["token"].(string)); !ok || adhoc.Secret.InternalData["app"] != "ghes" {
		t.Fatalf("ad-hoc token %v", adhoc.Data)
	}
	resp, err := e.req(logical.UpdateOperation, "token", map[string]any{"app": "nope", "owner": "corp"})
	wantError(t, resp, err, "app")

	// The role read names its App and, once looked up, the installation.
	got := e.ok(logical.ReadOperation, "roles/ghes-by-owner", nil).Data
	if got["app"] != "ghes" || got["installation_id_resolved"] != e.corp.ID || got["account"] != "corp" {
		t.Fatalf("role read %v", got)
	}
	if got := e.ok(logical.ReadOperation, "roles/ghes-by-id-number", nil).Data; got["installation_id_resolved"] != nil {
		t.Fatalf("an installation_id role has no lookup to show: %v", got)
	}

	// Metrics are labelled by App.
	m := e.ok(logical.ReadOperation, "metrics", nil).Data
	apps := m["apps"].(map[string]any)
	if m["tokens_minted"] != int64(5) || apps["ghes"].(map[string]any)["tokens_minted"] != int64(4) || apps["default"].(map[string]any)["tokens_minted"] != int64(1) {
		t.Fatalf("metrics %v", m)
	}
	prom := string(e.ok(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"}).Data[logical.HTTPRawBody].([]byte))
	for _, want := range []string{`github_app_tokens_minted_total{app="ghes"} 4` + "\n", `github_app_tokens_minted_total{app="default"} 1` + "\n"} {
		if !strings.Contains(prom, want) {
			t.Fatalf("prometheus lacks %q:\n%s", want, prom)
		}
	}
}

func TestRoleAppMustExist(t *testing.T) {
	e := newTwoApps(t)
	before := e.snapshot()
	for _, data := range []map[string]any{
		{"app": "nope", "owner": "acme"},
		{"app": "-bad", "owner": "acme"},
		{"app": float64(7), "owner": "acme"},
	} {
		resp, err := e.req(logical.UpdateOperation, "roles/r", data)
		wantError(t, resp, err, "app")
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Fatal("a refused role write stored something")
	}
	// Moving a role to another App; app="" or "default" is the default.
	e.writeRole("r", map[string]any{"app": "ghes", "owner": "corp"})
	e.writeRole("r", map[string]any{"app": "default", "owner": "acme"})
	if got := e.ok(logical.ReadOperation, "roles/r", nil).Data["app"]; got != "default" {
		t.Fatalf("app %v", got)
	}
}

// Writing App "ghes" resets its client, JWT and lookups only; the
// default App's stay, and Invalidate routes each key to its own App.
func TestAppInvalidationRouting(t *testing.T) {
	e := newTwoApps(t)
	e.writeRole("d", map[string]any{"owner": "acme"})
	e.writeRole("g", map[string]any{"app": "ghes", "owner": "corp"})
	warm := func() {
		e.ok(logical.ReadOperation, "token/d", nil)
		e.ok(logical.ReadOperation, "token/g", nil)
	}
	cases := []struct {
		name  string
		touch func()
		reset string // the App that must be reset
	}{
		{"write apps/ghes", func() { e.ok(logical.UpdateOperation, "apps/ghes", map[string]any{"expiry_buffer": "3m"}) }, "ghes"},
		{"invalidate apps/ghes", func() { e.b.invalidate(context.Background(), "apps/ghes") }, "ghes"},
		{"write config", func() { e.ok(logical.UpdateOperation, "config", map[string]any{"expiry_buffer": "3m"}) }, "default"},
		{"invalidate config", func() { e.b.invalidate(context.Background(), "config") }, "default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			warm()
			kept := map[string]*github.Client{"default": e.appClient("default"), "ghes": e.appClient("ghes")}
			if kept["default"] == nil || kept["ghes"] == nil || e.cachedLookups("default") != 1 || e.cachedLookups("ghes") != 1 {
				t.Fatal("nothing cached")
			}
			c.touch()
			for name, client := range kept {
				if name == c.reset {
					if e.appClient(name) != nil || e.cachedLookups(name) != 0 {
						t.Fatalf("App %s kept its client or lookups", name)
					}
					continue
				}
				if e.appClient(name) != client || e.cachedLookups(name) != 1 {
					t.Fatalf("App %s lost its client or lookups", name)
				}
			}
		})
	}
}

// An App that roles use cannot be deleted; once they are gone it can, and
// its leases still revoke at its GitHub.
func TestAppDeleteRefusedWhileUsed(t *testing.T) {
	e := newTwoApps(t)
	e.writeRole("g1", map[string]any{"app": "ghes", "owner": "corp"})
	e.writeRole("g2", map[string]any{"app": "ghes", "installation_id": e.corp.ID})
	e.writeRole("d", map[string]any{"owner": "acme"})
	tok := e.ok(logical.ReadOperation, "token/g1", nil)

	resp, err := e.req(logical.DeleteOperation, "apps/ghes", nil)
	wantError(t, resp, err, `role "g1", role "g2"`)
	if e.ok(logical.ReadOperation, "apps/ghes", nil) == nil {
		t.Fatal("refused delete removed the App")
	}
	e.ok(logical.DeleteOperation, "roles/g1", nil)
	e.ok(logical.DeleteOperation, "roles/g2", nil)
	e.ok(logical.DeleteOperation, "apps/ghes", nil)
	if e.b.existingApp("ghes") != nil {
		t.Fatal("deleted App still held")
	}

	e.gh.ResetCalls()
	if _, err := revoke(e.testEnv, tok.Secret); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.ghes.LookupToken(tok.Data["token"].(string)); v.RevokedAt.IsZero() {
		t.Fatal("the deleted App's lease was not revoked at its GitHub")
	}
	if n := len(e.gh.Calls()); n != 0 {
		t.Fatalf("revocation reached the other GitHub: %v", e.gh.Calls())
	}
}

func TestRoleCheck(t *testing.T) {
	e := newTwoApps(t)
	widgets, _ := repoNamed(e.acme, "widgets")
	e.writeRole("good", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read"})
	e.writeRole("typo", map[string]any{"owner": "acme", "repositories": "widgest"})
	e.writeRole("lacks", map[string]any{"installation_id": strconv.FormatInt(e.acme.ID, 10), "permissions": "administration=write,contents=read,metadata=write"})
	e.writeRole("rejected", map[string]any{"app": "ghes", "installation_id": float64(e.corp.ID)})
	// GitHub no longer knows App ghes's stored key (rotated at GitHub).
	_, other := rsaKeyPEM(t, 2048)
	cfg, err := loadAppConfig(context.Background(), e.storage, "ghes")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PrivateKey = other
	entry, _ := logical.StorageEntryJSON("apps/ghes", cfg)
	if err := e.storage.Put(context.Background(), entry); err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(context.Background(), "apps/ghes")

	t.Run("good", func(t *testing.T) {
		e.gh.ResetCalls()
		got := e.ok(logical.ReadOperation, "roles/good/check", nil)
		want := map[string]any{
			"app":                  "default",
			"installation_id":      e.acme.ID,
			"account":              "acme",
			"account_type":         "Organization",
			"repositories":         []map[string]any{{"name": "widgets", "id": widgets.ID}},
			"permissions":          map[string]string{"contents": "read"},
			"repository_selection": "selected",
			"warnings":             []string{},
			"revoked":              true,
		}
		if !reflect.DeepEqual(got.Data, want) {
			t.Fatalf("check:\n got %#v\nwant %#v", got.Data, want)
		}
		if got.Secret != nil {
			t.Fatal("a check made a lease")
		}
		if live := e.gh.LiveTokens(); len(live) != 0 {
			t.Fatalf("the check's token is still live: %d", len(live))
		}
		// Afresh: the lookup is made even with the cache warm.
		e.ok(logical.ReadOperation, "token/good", nil)
		before := e.gh.CallCount("GET", "/users/acme/installation")
		e.ok(logical.ReadOperation, "roles/good/check", nil)
		if e.gh.CallCount("GET", "/users/acme/installation") != before+1 {
			t.Fatal("the check used the cached installation")
		}
	})
	for _, c := range []struct {
		role  string
		field string
		more  string
	}{
		{"typo", "repositories: ", "not accessible"},
		{"lacks", "permissions: ", `administration=write, which installation`},
		{"rejected", "app: ", `App "ghes"`},
	} {
		t.Run(c.role, func(t *testing.T) {
			resp, err := e.req(logical.ReadOperation, "roles/"+c.role+"/check", nil)
			if err != nil || !resp.IsError() {
				t.Fatalf("err=%v resp=%v", err, errData(resp))
			}
			msg := resp.Error().Error()
			if !strings.HasPrefix(msg, c.field) || !strings.Contains(msg, c.more) {
				t.Fatalf("check message %q, want %q…%q", msg, c.field, c.more)
			}
		})
	}
	// A check may name the role's App (policies may require it); another
	// App is refused.
	e.ok(logical.ReadOperation, "roles/good/check", map[string]any{"app": "default"})
	resp, err := e.req(logical.ReadOperation, "roles/good/check", map[string]any{"app": "ghes"})
	wantError(t, resp, err, `app: role "good" uses App "default"`)
	// The level above the installation's is named too.
	resp, _ = e.req(logical.ReadOperation, "roles/lacks/check", nil)
	if !strings.Contains(resp.Error().Error(), "metadata=write, above installation") {
		t.Fatalf("no level warning: %v", resp.Error())
	}
	if len(e.gh.LiveTokens()) != 1 { // the token/good lease's
		t.Fatalf("live tokens %d", len(e.gh.LiveTokens()))
	}
}

// A role write with check=true stores the role only when GitHub agrees.
func TestRoleWriteWithCheck(t *testing.T) {
	e := newTwoApps(t)
	before := e.snapshot()
	for _, check := range []any{true, "true"} {
		resp, err := e.req(logical.UpdateOperation, "roles/r", map[string]any{"owner": "acme", "repositories": "widgest", "check": check})
		wantError(t, resp, err, "repositories")
		if !reflect.DeepEqual(before, e.snapshot()) {
			t.Fatal("a refused check stored the role")
		}
	}
	resp := e.ok(logical.UpdateOperation, "roles/r", map[string]any{"owner": "acme", "repositories": "widgets", "check": true})
	if resp.Data["check"].(map[string]any)["installation_id"] != e.acme.ID {
		t.Fatalf("check report %v", resp.Data)
	}
	if e.ok(logical.ReadOperation, "roles/r", nil).Data["repositories"].([]string)[0] != "widgets" {
		t.Fatal("checked role not stored")
	}
}

func repoNamed(in *githubtest.Installation, name string) (githubtest.Repo, bool) {
	for _, r := range in.Repositories {
		if r.Name == name {
			return r, true
		}
	}
	return githubtest.Repo{}, false
}

// A bound names its App; a role inside the bound uses the bound's App, and
// each App has its own ceiling.
func TestBoundNamesItsApp(t *testing.T) {
	e := newTwoApps(t)
	resp, err := e.req(logical.CreateOperation, "bounds/nowhere", map[string]any{"app": "nope", "owner": "corp", "repositories": "infra", "max_permissions": "contents=read"})
	wantError(t, resp, err, "app")
	e.ok(logical.CreateOperation, "bounds/corp", map[string]any{"app": "ghes", "owner": "corp", "repositories": "infra", "max_permissions": "contents=read,metadata=read"})
	if got := e.ok(logical.ReadOperation, "bounds/corp", nil).Data["app"]; got != "ghes" {
		t.Fatalf("bound app %v", got)
	}

	// No selector and no app: the bound's installation and App.
	e.writeRole("corp_web", map[string]any{"bound": "corp"})
	if got := e.ok(logical.ReadOperation, "roles/corp_web", nil).Data; got["app"] != "ghes" || got["owner"] != "corp" {
		t.Fatalf("role inside the bound %v", got)
	}
	tok := e.ok(logical.ReadOperation, "token/corp_web", nil)
	if _, ok := e.ghes.LookupToken(tok.Data["token"].(string)); !ok {
		t.Fatal("the role inside bound corp did not mint through App ghes")
	}
	check := e.ok(logical.ReadOperation, "roles/corp_web/check", map[string]any{"bound": "corp", "app": "ghes"})
	if !reflect.DeepEqual(check.Data["permissions"], map[string]string{"contents": "read", "metadata": "read"}) {
		t.Fatalf("check mints the bound's scope: %v", check.Data)
	}
	resp, err = e.req(logical.ReadOperation, "roles/corp_web/check", map[string]any{"bound": "other"})
	wantError(t, resp, err, "bound")

	// Another App inside the bound is refused, in either order of fields.
	for _, data := range []map[string]any{
		{"bound": "corp", "app": "default"},
		{"app": "default", "bound": "corp", "owner": "corp"},
	} {
		resp, err := e.req(logical.UpdateOperation, "roles/corp_other", data)
		wantError(t, resp, err, "app")
	}

	// Each App's ceiling applies to its own roles only.
	e.ok(logical.UpdateOperation, "apps/ghes", map[string]any{"max_permissions": "contents=read,metadata=read"})
	resp, err = e.req(logical.UpdateOperation, "roles/ghes-writer", map[string]any{"app": "ghes", "owner": "corp", "permissions": "contents=write"})
	wantError(t, resp, err, `max_permissions of App "ghes"`)
	e.writeRole("dotcom-writer", map[string]any{"owner": "acme", "permissions": "contents=write"})

	// The App cannot go while the bound uses it.
	e.ok(logical.DeleteOperation, "roles/corp_web", nil)
	resp, err = e.req(logical.DeleteOperation, "apps/ghes", nil)
	wantError(t, resp, err, `bound "corp"`)
	e.ok(logical.DeleteOperation, "bounds/corp", nil)
	e.ok(logical.DeleteOperation, "apps/ghes", nil)
}
