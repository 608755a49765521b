//go:build acceptance

package acceptance

import (
	"net/http"
	"slices"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// policyCase is one request made with one identity, and whether policy
// must let it through.
type policyCase struct {
	what    string
	do      func(c *api.Client) error
	allowed bool
}

func readOp(path string) func(*api.Client) error {
	return func(c *api.Client) error { _, err := c.Logical().Read(path); return err }
}

func writeOp(path string, data map[string]any) func(*api.Client) error {
	return func(c *api.Client) error { _, err := c.Logical().Write(path, data); return err }
}

func listOp(path string) func(*api.Client) error {
	return func(c *api.Client) error { _, err := c.Logical().List(path); return err }
}

func deleteOp(path string) func(*api.Client) error {
	return func(c *api.Client) error { _, err := c.Logical().Delete(path); return err }
}

func revokePrefixOp(prefix string) func(*api.Client) error {
	return func(c *api.Client) error { return c.Sys().RevokePrefix(prefix) }
}

// checkPolicyCases runs the cases as c: an allowed request must succeed, a
// denied one must get 403 and mint nothing at the double.
func checkPolicyCases(t *testing.T, d *githubtest.Server, who string, c *api.Client, cases []policyCase) {
	t.Helper()
	c.SetMaxRetries(0)
	for _, pc := range cases {
		t.Run(who+" "+pc.what, func(t *testing.T) {
			before := len(d.Tokens())
			err := pc.do(c)
			switch {
			case pc.allowed && err != nil:
				t.Errorf("refused: %v", err)
			case !pc.allowed && statusOf(err) != http.StatusForbidden:
				t.Errorf("got %v, want 403 permission denied", err)
			}
			if !pc.allowed && len(d.Tokens()) != before {
				t.Error("a refused request minted a token")
			}
		})
	}
}

// approleLogin logs in with AppRole and returns a client with the token.
func approleLogin(t testing.TB, v *vaultServer, roleID, secretID string) *api.Client {
	t.Helper()
	s, err := v.newClient(t, "").Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil || s == nil || s.Auth == nil {
		t.Fatalf("approle login: %v", err)
	}
	return v.newClient(t, s.Auth.ClientToken)
}

// TestSessionPolicyTemplated: examples/policies/session-templated-approle.hcl
// as shipped, with its documented substitution (the AppRole mount's
// accessor), decides alone what a session's identity may do. Two sessions
// log in with AppRole roles named like their GitHub roles; each mints its
// own github/token/<session> (read and narrowing write) and gets 403 on the
// other's, on ambient-session-s10 (no prefix match), on github/roles/...,
// github/config, ad-hoc github/token, installations and metrics. An
// AppRole role whose name matches no GitHub role, and a token of another
// auth method holding the same policy, can mint nothing: the template
// resolves to a role that does not exist, or does not resolve at all.
func TestSessionPolicyTemplated(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	for _, r := range []struct{ name, repos string }{
		{"ambient-session-s1", "widgets"},
		{"ambient-session-s2", "gadgets"},
		{"ambient-session-s10", "tools"},
	} {
		v.writeRole(t, "github", r.name, map[string]any{"owner": "acme", "repositories": r.repos, "permissions": "contents=write,metadata=read"})
	}

	rid1, sid1 := v.approle(t, "ambient-session-s1", "github-session-approle")
	rid2, sid2 := v.approle(t, "ambient-session-s2", "github-session-approle")
	ridX, sidX := v.approle(t, "stray", "github-session-approle")
	putSessionPolicy(t, v)

	s1 := approleLogin(t, v, rid1, sid1)
	s2 := approleLogin(t, v, rid2, sid2)
	stray := approleLogin(t, v, ridX, sidX)
	tok, err := v.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"github-session-approle"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	noAlias := v.newClient(t, tok.Auth.ClientToken)

	// What each session's own token says about it.
	for name, c := range map[string]*api.Client{"ambient-session-s1": s1, "ambient-session-s2": s2} {
		self, err := c.Auth().Token().LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		if pols, _ := self.TokenPolicies(); !slices.Contains(pols, "github-session-approle") {
			t.Errorf("%s's token has policies %v", name, pols)
		}
		if meta, _ := self.TokenMetadata(); meta["role_name"] != name {
			t.Errorf("%s's token metadata role_name = %q", name, meta["role_name"])
		}
	}

	// Each session mints its own token, scoped to its own role.
	for name, c := range map[string]*api.Client{"ambient-session-s1": s1, "ambient-session-s2": s2} {
		m, err := tryMint(c, "github/token/"+name, nil)
		if err != nil {
			t.Fatalf("%s minting its own role: %v", name, err)
		}
		want := map[string][]string{"ambient-session-s1": {"widgets"}, "ambient-session-s2": {"gadgets"}}[name]
		if got := lookupToken(t, d, m.Data.Token).Repositories; !slices.Equal(got, want) {
			t.Errorf("%s's token covers %v, want %v", name, got, want)
		}
	}

	sessionCases := func(own, other string) []policyCase {
		role := map[string]any{"owner": "acme", "repositories": "widgets,gadgets,tools"}
		return []policyCase{
			{"read token/" + own, readOp("github/token/" + own), true},
			{"narrow token/" + own, writeOp("github/token/"+own, map[string]any{"permissions": "contents=read"}), true},
			{"read token/" + other, readOp("github/token/" + other), false},
			{"narrow token/" + other, writeOp("github/token/"+other, map[string]any{"permissions": "contents=read"}), false},
			{"read token/ambient-session-s10", readOp("github/token/ambient-session-s10"), false},
			{"read roles/" + own, readOp("github/roles/" + own), false},
			{"widen roles/" + own, writeOp("github/roles/"+own, role), false},
			{"delete roles/" + other, deleteOp("github/roles/" + other), false},
			{"list roles/", listOp("github/roles/"), false},
			{"read config", readOp("github/config"), false},
			{"write config", writeOp("github/config", map[string]any{"expiry_buffer": "1m"}), false},
			{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme"}), false},
			{"read installations", readOp("github/installations"), false},
			{"read metrics", readOp("github/metrics"), false},
			{"revoke-prefix token/" + other, revokePrefixOp("github/token/" + other), false},
		}
	}
	checkPolicyCases(t, d, "s1", s1, sessionCases("ambient-session-s1", "ambient-session-s2"))
	checkPolicyCases(t, d, "s2", s2, sessionCases("ambient-session-s2", "ambient-session-s1"))

	// An AppRole role that names no GitHub role: the path resolves to
	// github/token/stray, which does not exist; nothing else is allowed.
	checkPolicyCases(t, d, "stray", stray, []policyCase{
		{"read token/ambient-session-s1", readOp("github/token/ambient-session-s1"), false},
		{"read token/ambient-session-s2", readOp("github/token/ambient-session-s2"), false},
		{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme"}), false},
	})
	if _, err := stray.Logical().Read("github/token/stray"); statusOf(err) != http.StatusBadRequest {
		t.Errorf("stray reading github/token/stray: %v, want 400 (policy allows, no such role)", err)
	}
	// Same policy, no AppRole alias: the templated path drops out.
	checkPolicyCases(t, d, "no-alias", noAlias, []policyCase{
		{"read token/ambient-session-s1", readOp("github/token/ambient-session-s1"), false},
		{"read token/ambient-session-s2", readOp("github/token/ambient-session-s2"), false},
	})

	// All tokens minted belong to s1 and s2 (two reads and two narrowings
	// each above, one read each before).
	for _, tk := range d.Tokens() {
		if len(tk.Repositories) != 1 || (tk.Repositories[0] != "widgets" && tk.Repositories[0] != "gadgets") {
			t.Errorf("a token for %v was minted", tk.Repositories)
		}
	}
	if n := len(d.Tokens()); n != 6 {
		t.Errorf("%d tokens minted, want 6 (s1 and s2: a read, a read and a narrowing each in the cases)", n)
	}
}

// TestSessionPolicyShippedFiles loads team-a.hcl, team-a-admin.hcl,
// platform-backend.hcl and operator.hcl exactly as shipped and checks a
// few allowed and denied requests for each. A second installation
// ("other") makes the owner checks real: if policy let an other-owner
// role through, the engine would accept it.
func TestSessionPolicyShippedFiles(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	d.AddInstallation("other", "Organization", "secret-repo")
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "team-a-web", map[string]any{"owner": "acme", "repositories": "widgets"})
	v.writeRole(t, "github", "team-b-web", map[string]any{"owner": "acme", "repositories": "gadgets"})
	v.writeRole(t, "github", "ambient-session-s1", map[string]any{"owner": "acme", "repositories": "tools"})

	client := func(file string) *api.Client {
		name := file[:len(file)-len(".hcl")]
		return v.tokenWithPolicy(t, name, readExample(t, "policies", file))
	}

	checkPolicyCases(t, d, "team-a", client("team-a.hcl"), []policyCase{
		{"read token/team-a-web", readOp("github/token/team-a-web"), true},
		{"narrow token/team-a-web", writeOp("github/token/team-a-web", map[string]any{"permissions": "contents=read"}), true},
		{"read token/team-b-web", readOp("github/token/team-b-web"), false},
		{"read token/ambient-session-s1", readOp("github/token/ambient-session-s1"), false},
		{"read roles/team-a-web", readOp("github/roles/team-a-web"), false},
		{"write roles/team-a-new", writeOp("github/roles/team-a-new", map[string]any{"owner": "acme"}), false},
		{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme"}), false},
		{"read config", readOp("github/config"), false},
	})

	checkPolicyCases(t, d, "team-a-admin", client("team-a-admin.hcl"), []policyCase{
		{"write roles/team-a-new owner=acme", writeOp("github/roles/team-a-new", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read", "ttl": "30m"}), true},
		{"write roles/team-a-repo repository=acme/widgets", writeOp("github/roles/team-a-repo", map[string]any{"repository": "acme/widgets"}), true},
		{"read roles/team-a-new", readOp("github/roles/team-a-new"), true},
		{"delete roles/team-a-repo", deleteOp("github/roles/team-a-repo"), true},
		{"revoke-prefix token/team-a-web", revokePrefixOp("github/token/team-a-web"), true},
		{"write roles/team-a-evil owner=other", writeOp("github/roles/team-a-evil", map[string]any{"owner": "other"}), false},
		{"write roles/team-a-evil repository=other/secret-repo", writeOp("github/roles/team-a-evil", map[string]any{"repository": "other/secret-repo"}), false},
		{"write roles/team-a-evil installation_id", writeOp("github/roles/team-a-evil", map[string]any{"installation_id": 1}), false},
		{"write roles/team-b-new", writeOp("github/roles/team-b-new", map[string]any{"owner": "acme"}), false},
		{"list roles/", listOp("github/roles/"), false},
		{"read token/team-a-web", readOp("github/token/team-a-web"), false},
		{"revoke-prefix token/team-b-web", revokePrefixOp("github/token/team-b-web"), false},
		{"read config", readOp("github/config"), false},
	})
	if s, err := v.Client.Logical().Read("github/roles/team-a-evil"); err != nil || s != nil {
		t.Errorf("team-a-evil exists after refused writes (%v)", err)
	}

	checkPolicyCases(t, d, "platform-backend", client("platform-backend.hcl"), []policyCase{
		{"write roles/ambient-session-s9", writeOp("github/roles/ambient-session-s9", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=write"}), true},
		{"read roles/ambient-session-s9", readOp("github/roles/ambient-session-s9"), true},
		{"delete roles/ambient-session-s9", deleteOp("github/roles/ambient-session-s9"), true},
		{"revoke-prefix token/ambient-session-s1", revokePrefixOp("github/token/ambient-session-s1"), true},
		{"read token/ambient-session-s1", readOp("github/token/ambient-session-s1"), false},
		{"write roles/team-a-web", writeOp("github/roles/team-a-web", map[string]any{"owner": "acme"}), false},
		{"revoke-prefix token/team-a-web", revokePrefixOp("github/token/team-a-web"), false},
		{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme"}), false},
		{"read config", readOp("github/config"), false},
		{"list roles/", listOp("github/roles/"), false},
	})

	operator := client("operator.hcl")
	checkPolicyCases(t, d, "operator", operator, []policyCase{
		{"read config", readOp("github/config"), true},
		{"list roles/", listOp("github/roles/"), true},
		{"write roles/anything", writeOp("github/roles/ops-test", map[string]any{"owner": "other"}), true},
		{"read token/team-b-web", readOp("github/token/team-b-web"), true},
		{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme", "repositories": "widgets"}), true},
		{"read installations", readOp("github/installations"), true},
		{"read info", readOp("github/info"), true},
		{"read metrics", readOp("github/metrics"), true},
		{"list leases of team-a-web", listOp("sys/leases/lookup/github/token/team-a-web/"), true},
		{"revoke-prefix token/team-a-web", revokePrefixOp("github/token/team-a-web"), true},
		{"write a policy", func(c *api.Client) error {
			return c.Sys().PutPolicy("operator", `path "*" { capabilities = ["sudo"] }`)
		}, false},
		{"mount an engine", func(c *api.Client) error { return c.Sys().Mount("kv", &api.MountInput{Type: "kv"}) }, false},
		{"revoke-prefix auth/token/", revokePrefixOp("auth/token/"), false},
	})
	// The operator can look up a lease by id (vault lease lookup).
	m := mint(t, v.Client, "github/token/team-a-web")
	operator.SetMaxRetries(0)
	if _, err := operator.Sys().Lookup(m.LeaseID); err != nil {
		t.Errorf("operator looking up a lease: %v", err)
	}
}

// putSessionPolicy writes the shipped session-templated-approle.hcl, with
// the AppRole mount's accessor substituted as its header says, as the
// policy "github-session-approle".
func putSessionPolicy(t testing.TB, v *vaultServer) {
	t.Helper()
	auths, err := v.Client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	policy := substitute(t, "session-templated-approle.hcl", readExample(t, "policies", "session-templated-approle.hcl"),
		map[string]string{"<APPROLE_ACCESSOR>": auths["approle/"].Accessor})
	if err := v.Client.Sys().PutPolicy("github-session-approle", policy); err != nil {
		t.Fatal(err)
	}
}
