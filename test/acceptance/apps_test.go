//go:build acceptance

package acceptance

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// ghesDouble starts a double shaped like GitHub Enterprise Server: the API
// under /api/v3, over TLS with a certificate from a CA made for the test,
// which nothing trusts but the App's ca_certificate. Its App, ids and
// installation ("corp": infra, platform) are its own.
func ghesDouble(t *testing.T, opts ...githubtest.Option) (*githubtest.Server, *githubtest.TestCA, *githubtest.Installation) {
	t.Helper()
	ca, err := githubtest.NewTestCA("acceptance GHES CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]githubtest.Option{
		githubtest.WithTLS(cert), githubtest.WithPathPrefix("/api/v3"),
		githubtest.WithAppID(githubtest.DefaultAppID + 7), githubtest.WithSlug("ghes-app"),
		githubtest.WithFirstIDs(githubtest.FirstInstallationID+3_000_000, githubtest.FirstRepositoryID+3_000_000),
	}, opts...)
	d := githubtest.NewT(t, opts...)
	corp := d.AddInstallation("corp", "Organization", "infra", "platform")
	return d, ca, corp
}

// noCalls fails the test if d received any call.
func noCalls(t *testing.T, d *githubtest.Server, what string) {
	t.Helper()
	if calls := d.Calls(); len(calls) != 0 {
		t.Fatalf("%s reached the other App's GitHub: %d calls, first %s %s", what, len(calls), calls[0].Method, calls[0].Path)
	}
}

func dataInt(t *testing.T, v any) int64 {
	t.Helper()
	n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	if err != nil {
		t.Fatalf("%v is not an integer", v)
	}
	return n
}

// TestApps runs two Apps in one mount through a real Vault: a
// github.com-like double as "default" and a GHES-like double (under /api/v3,
// TLS, a private CA trusted only through ca_certificate) as "ghes".
func TestApps(t *testing.T) {
	t.Parallel()
	dotcom := newDouble(t)
	ghes, ca, corp := ghesDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", dotcom, nil)
	c := v.Client.Logical()

	// The GHES App: its certificate is trusted only through ca_certificate.
	ghesApp := map[string]any{"app_id": ghes.AppID, "private_key": string(ghes.KeyPEM()), "base_url": ghes.URL}
	if _, err := c.Write("github/apps/ghes", ghesApp); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an App behind an untrusted CA: %v, want a failure naming the certificate", err)
	}
	if s, err := c.Read("github/apps/ghes"); err != nil || s != nil {
		t.Fatalf("an App behind an untrusted CA was stored: %v %v", s, err)
	}
	ghesApp["ca_certificate"] = string(ca.CertPEM)
	ghesApp["app_id"] = strconv.FormatInt(ghes.AppID, 10) // as the CLI sends it
	if _, err := c.Write("github/apps/ghes", ghesApp); err != nil {
		t.Fatalf("writing apps/ghes: %v", err)
	}
	list, err := c.List("github/apps")
	if err != nil || fmt.Sprint(list.Data["keys"]) != "[default ghes]" {
		t.Fatalf("apps list %v %v", list, err)
	}
	read, err := c.Read("github/apps/ghes")
	if err != nil || read.Data["app_slug"] != "ghes-app" || read.Data["base_url"] != ghes.URL || read.Data["private_key"] != nil {
		t.Fatalf("apps/ghes read %v %v", read, err)
	}

	// Roles on each App; one per session, named as the runner names them.
	v.writeRole(t, "github", "sess-dotcom", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read"})
	v.writeRole(t, "github", "sess-ghes", map[string]any{"app": "ghes", "owner": "corp", "repositories": "infra", "permissions": "contents=read"})
	v.writeRole(t, "github", "ghes-by-id", map[string]any{"app": "ghes", "installation_id": corp.ID})
	if _, err := c.Write("github/roles/nowhere", map[string]any{"app": "nope", "owner": "acme"}); statusOf(err) != 400 || !strings.Contains(err.Error(), "app") {
		t.Fatalf("a role on a missing App: %v", err)
	}

	// Each role mints from its own App's GitHub, and never reaches the
	// other; the session reads github/token/<session> the same way.
	type minted struct {
		tok  mintedToken
		keys []string
	}
	got := map[string]minted{}
	for _, tc := range []struct {
		role      string
		own, othr *githubtest.Server
		inst      int64
	}{
		{"sess-dotcom", dotcom, ghes, githubtest.FirstInstallationID},
		{"sess-ghes", ghes, dotcom, corp.ID},
		{"ghes-by-id", ghes, dotcom, corp.ID},
	} {
		dotcom.ResetCalls()
		ghes.ResetCalls()
		s, err := c.Read("github/token/" + tc.role)
		if err != nil {
			t.Fatalf("token/%s: %v", tc.role, err)
		}
		tok := mint(t, v.Client, "github/token/"+tc.role)
		if lookupToken(t, tc.own, tok.Data.Token).InstallationID != tc.inst || tok.Data.InstallationID != tc.inst {
			t.Fatalf("token/%s: installation %d, want %d", tc.role, tok.Data.InstallationID, tc.inst)
		}
		noCalls(t, tc.othr, "token/"+tc.role)
		got[tc.role] = minted{tok, slices.Sorted(maps.Keys(s.Data))}
		if err := v.Client.Sys().Revoke(s.LeaseID); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got["sess-dotcom"].keys, got["sess-ghes"].keys) {
		t.Fatalf("token answers differ by App: %v vs %v", got["sess-dotcom"].keys, got["sess-ghes"].keys)
	}
	if !slices.Equal(got["sess-ghes"].tok.Data.Repositories, []string{"infra"}) || got["sess-ghes"].tok.LeaseTTL <= 0 {
		t.Fatalf("sess-ghes token %+v", got["sess-ghes"].tok)
	}

	// installations and the ad-hoc token path choose an App too.
	inst, err := v.Client.Logical().ReadWithData("github/installations", map[string][]string{"app": {"ghes"}})
	if err != nil || fmt.Sprint(inst.Data["installations"]) != fmt.Sprintf("map[corp:%d]", corp.ID) {
		t.Fatalf("installations?app=ghes %v %v", inst, err)
	}
	ghes.ResetCalls()
	dotcom.ResetCalls()
	adhoc, err := c.Write("github/token", map[string]any{"app": "ghes", "repository": "corp/platform"})
	if err != nil {
		t.Fatal(err)
	}
	lookupToken(t, ghes, adhoc.Data["token"].(string))
	noCalls(t, dotcom, "the ad-hoc token with app=ghes")

	// Role checks, through the role's App.
	v.writeRole(t, "github", "typo", map[string]any{"app": "ghes", "owner": "corp", "repositories": "infar"})
	v.writeRole(t, "github", "lacks", map[string]any{"app": "ghes", "installation_id": corp.ID, "permissions": "administration=write"})
	ghes.ResetCalls()
	dotcom.ResetCalls()
	liveBefore := len(ghes.LiveTokens())
	check, err := c.Read("github/roles/sess-ghes/check")
	if err != nil {
		t.Fatal(err)
	}
	repos := check.Data["repositories"].([]any)
	infra := corp.Repositories[0]
	if check.Data["account"] != "corp" || check.Data["account_type"] != "Organization" || dataInt(t, check.Data["installation_id"]) != corp.ID ||
		len(repos) != 1 || repos[0].(map[string]any)["name"] != "infra" || dataInt(t, repos[0].(map[string]any)["id"]) != infra.ID ||
		check.Data["repository_selection"] != "selected" || check.LeaseID != "" {
		t.Fatalf("check of sess-ghes: %v (lease %q)", check.Data, check.LeaseID)
	}
	if n := len(ghes.LiveTokens()); n != liveBefore || ghes.CallCount("POST", fmt.Sprintf("/app/installations/%d/access_tokens", corp.ID)) != 1 {
		t.Fatalf("the check left a live token or did not mint: %d live, %d before", n, liveBefore)
	}
	noCalls(t, dotcom, "the check of a ghes role")
	for role, want := range map[string]string{"typo": "repositories: ", "lacks": "permissions: "} {
		_, err := c.Read("github/roles/" + role + "/check")
		if statusOf(err) != 400 || !strings.Contains(err.Error(), want) {
			t.Fatalf("check of %s: %v, want 400 with %q", role, err, want)
		}
	}
	// check=true stores nothing on a refusal.
	if _, err := c.Write("github/roles/typo2", map[string]any{"app": "ghes", "owner": "corp", "repositories": "infar", "check": true}); statusOf(err) != 400 {
		t.Fatalf("check=true with a mistyped repository: %v", err)
	}
	if s, err := c.Read("github/roles/typo2"); err != nil || s != nil {
		t.Fatalf("a refused check stored the role: %v %v", s, err)
	}
	rejectedKeyCheck(t, v)
	teamAdminOfOneApp(t, v)

	// Deleting the App: refused while roles use it, then its leases still
	// revoke at its GitHub with its CA.
	lease := mint(t, v.Client, "github/token/sess-ghes")
	_, err = c.Delete("github/apps/ghes")
	if statusOf(err) != 400 || !strings.Contains(err.Error(), `"sess-ghes"`) || !strings.Contains(err.Error(), `"ghes-by-id"`) {
		t.Fatalf("deleting a used App: %v", err)
	}
	for _, r := range []string{"sess-ghes", "ghes-by-id", "typo", "lacks", "team-c_x"} {
		if _, err := c.Delete("github/roles/" + r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Delete("github/bounds/team-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete("github/apps/ghes"); err != nil {
		t.Fatalf("deleting the unused App: %v", err)
	}
	if s, _ := c.Read("github/apps/ghes"); s != nil {
		t.Fatal("deleted App still readable")
	}
	dotcom.ResetCalls()
	if err := v.Client.Sys().Revoke(lease.LeaseID); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, ghes, lease.Data.Token, time.Now().Add(10*time.Second))
	noCalls(t, dotcom, "revoking a deleted App's lease")
	t.Logf("two Apps: roles minted from their own double; checks, deletion and revocation after deletion as expected")
}

// rejectedKeyCheck: App "rotated" was written while its GitHub knew its
// key; then its GitHub (a new double on the same address) knows another
// key. The check answers GitHub's refusal, naming the App.
func rejectedKeyCheck(t *testing.T, v *vaultServer) {
	t.Helper()
	first, err := githubtest.New(githubtest.WithAppID(4242))
	if err != nil {
		t.Fatal(err)
	}
	first.AddInstallation("acme", "Organization", "widgets")
	u, _ := url.Parse(first.URL)
	if _, err := v.Client.Logical().Write("github/apps/rotated", map[string]any{"app_id": first.AppID, "private_key": string(first.KeyPEM()), "base_url": first.URL}); err != nil {
		first.Close()
		t.Fatal(err)
	}
	first.Close()
	second := githubtest.NewT(t, githubtest.WithAppID(4242), githubtest.WithAddr(u.Host))
	second.AddInstallation("acme", "Organization", "widgets")
	v.writeRole(t, "github", "rotated", map[string]any{"app": "rotated", "owner": "acme"})
	_, err = v.Client.Logical().Read("github/roles/rotated/check")
	if statusOf(err) != 400 || !strings.Contains(err.Error(), `app: GitHub refused the credentials of App "rotated"`) {
		t.Fatalf("check with a key GitHub rejects: %v", err)
	}
	if _, err := v.Client.Logical().Delete("github/roles/rotated"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().Delete("github/apps/rotated"); err != nil {
		t.Fatal(err)
	}
}

// teamAdminOfOneApp loads the shipped team-admin-app.hcl for team-c on App
// ghes: inside the bound team-c (App ghes, org corp), the admin writes and
// checks team-c_ roles on ghes only.
func teamAdminOfOneApp(t *testing.T, v *vaultServer) {
	t.Helper()
	if _, err := v.Client.Logical().Write("github/bounds/team-c", map[string]any{
		"app": "ghes", "owner": "corp", "repositories": "infra", "max_permissions": "contents=read,metadata=read",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().Write("github/bounds/team-x", map[string]any{"app": "nope", "owner": "corp", "repositories": "infra", "max_permissions": "contents=read"}); statusOf(err) != 400 || !strings.Contains(err.Error(), "app") {
		t.Fatalf("a bound on a missing App: %v", err)
	}
	policy := substitute(t, "team-admin-app.hcl", readExample(t, "policies", "team-admin-app.hcl"),
		map[string]string{"<team>": "team-c", "<app>": "ghes"})
	admin := v.tokenWithPolicy(t, "team-c-admin", policy)
	admin.SetMaxRetries(0)
	write := func(path string, data map[string]any) error { _, err := admin.Logical().Write(path, data); return err }
	read := func(path string, params map[string][]string) error {
		_, err := admin.Logical().ReadWithData(path, params)
		return err
	}
	pinned := map[string][]string{"app": {"ghes"}, "bound": {"team-c"}}
	for _, c := range []struct {
		what    string
		err     error
		allowed bool
	}{
		{"write team-c_x on ghes", write("github/roles/team-c_x", map[string]any{"bound": "team-c", "app": "ghes", "repositories": "infra"}), true},
		{"check team-c_x", read("github/roles/team-c_x/check", pinned), true},
		{"read team-c_x", read("github/roles/team-c_x", pinned), true},
		{"read apps/ghes", read("github/apps/ghes", nil), true},
		{"read team-c_x without app", read("github/roles/team-c_x", map[string][]string{"bound": {"team-c"}}), false},
		{"write team-c_y on default", write("github/roles/team-c_y", map[string]any{"bound": "team-c", "app": "default"}), false},
		{"update team-c_x without app", write("github/roles/team-c_x", map[string]any{"bound": "team-c", "ttl": "10m"}), false},
		{"write team-d_x", write("github/roles/team-d_x", map[string]any{"bound": "team-c", "app": "ghes"}), false},
		{"write apps/ghes", write("github/apps/ghes", map[string]any{"expiry_buffer": "1m"}), false},
		{"read apps/default", read("github/apps/default", nil), false},
		{"read config", read("github/config", nil), false},
		{"check sess-ghes", read("github/roles/sess-ghes/check", pinned), false},
	} {
		if c.allowed && c.err != nil {
			t.Errorf("team-admin-app: %s refused: %v", c.what, c.err)
		}
		if !c.allowed && statusOf(c.err) != 403 {
			t.Errorf("team-admin-app: %s: %v, want 403", c.what, c.err)
		}
	}
	s, err := v.Client.Logical().Read("github/roles/team-c_x")
	if err != nil || s == nil || s.Data["app"] != "ghes" || s.Data["bound"] != "team-c" || s.Data["ttl"] != "0s" {
		t.Fatalf("team-c_x after the admin's writes: %v %v", s, err)
	}
	// A role inside the bound mints through the bound's App; another App
	// is refused by the engine too (root sends it).
	if _, err := v.Client.Logical().Write("github/roles/team-c_z", map[string]any{"bound": "team-c", "app": "default"}); statusOf(err) != 403 || !strings.Contains(err.Error(), "app") {
		t.Fatalf("a role inside bound team-c on App default: %v", err)
	}
	if _, err := v.Client.Logical().Delete("github/apps/ghes"); statusOf(err) != 400 || !strings.Contains(err.Error(), `bound "team-c"`) {
		t.Fatalf("deleting an App a bound uses: %v", err)
	}
}
