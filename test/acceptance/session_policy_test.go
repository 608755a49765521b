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
// other's, on session_ambient-sessions_s10 (no prefix match), on github/roles/...,
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
		{"session_ambient-sessions_s1", "widgets"},
		{"session_ambient-sessions_s2", "gadgets"},
		{"session_ambient-sessions_s10", "tools"},
	} {
		v.writeRole(t, "github", r.name, map[string]any{"owner": "acme", "repositories": r.repos, "permissions": "contents=write,metadata=read"})
	}

	rid1, sid1 := v.approle(t, "ambient-sessions_s1", "github-session-approle")
	rid2, sid2 := v.approle(t, "ambient-sessions_s2", "github-session-approle")
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
	for name, c := range map[string]*api.Client{"ambient-sessions_s1": s1, "ambient-sessions_s2": s2} {
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
	for name, c := range map[string]*api.Client{"ambient-sessions_s1": s1, "ambient-sessions_s2": s2} {
		m, err := tryMint(c, "github/token/session_"+name, nil)
		if err != nil {
			t.Fatalf("%s minting its own role: %v", name, err)
		}
		want := map[string][]string{"ambient-sessions_s1": {"widgets"}, "ambient-sessions_s2": {"gadgets"}}[name]
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
			{"read token/session_ambient-sessions_s10", readOp("github/token/session_ambient-sessions_s10"), false},
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
	checkPolicyCases(t, d, "s1", s1, sessionCases("session_ambient-sessions_s1", "session_ambient-sessions_s2"))
	checkPolicyCases(t, d, "s2", s2, sessionCases("session_ambient-sessions_s2", "session_ambient-sessions_s1"))

	// An AppRole role that names no GitHub role: the path resolves to
	// github/token/session_stray, which does not exist; nothing else is
	// allowed.
	checkPolicyCases(t, d, "stray", stray, []policyCase{
		{"read token/session_ambient-sessions_s1", readOp("github/token/session_ambient-sessions_s1"), false},
		{"read token/session_ambient-sessions_s2", readOp("github/token/session_ambient-sessions_s2"), false},
		{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme"}), false},
	})
	if _, err := stray.Logical().Read("github/token/session_stray"); statusOf(err) != http.StatusBadRequest {
		t.Errorf("stray reading github/token/session_stray: %v, want 400 (policy allows, no such role)", err)
	}
	// Same policy, no AppRole alias: the templated path drops out.
	checkPolicyCases(t, d, "no-alias", noAlias, []policyCase{
		{"read token/session_ambient-sessions_s1", readOp("github/token/session_ambient-sessions_s1"), false},
		{"read token/session_ambient-sessions_s2", readOp("github/token/session_ambient-sessions_s2"), false},
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
// platform-backend.hcl (for project ambient-sessions), metrics.hcl and operator.hcl as
// shipped and checks what Vault's ACL allows and denies (403) for each.
// The bounds the policies pin are those of newBoundsSetup; what the engine
// refuses inside an allowed path is TestBoundsWideningTable's.
func TestSessionPolicyShippedFiles(t *testing.T) {
	t.Parallel()
	s := newBoundsSetup(t)
	v, d := s.v, s.d
	v.writeRole(t, "github", "team-a_web", map[string]any{"bound": "team-a", "repositories": "widgets"})
	v.writeRole(t, "github", "team-b_web", map[string]any{"owner": "acme", "repositories": "gadgets"})
	v.writeRole(t, "github", "session_ambient-sessions_s1", map[string]any{"bound": "ambient-sessions", "repositories": "widgets"})

	client := func(file string, subst map[string]string) *api.Client {
		return shippedPolicy(t, v, file, subst)
	}
	readBound := func(path, bound string) func(*api.Client) error {
		return func(c *api.Client) error {
			_, err := c.Logical().ReadWithData(path, map[string][]string{"bound": {bound}})
			return err
		}
	}

	checkPolicyCases(t, d, "team-a", client("team-a.hcl", nil), []policyCase{
		{"read token/team-a_web", readOp("github/token/team-a_web"), true},
		{"narrow token/team-a_web", writeOp("github/token/team-a_web", map[string]any{"permissions": "contents=read"}), true},
		{"read token/team-b_web", readOp("github/token/team-b_web"), false},
		{"read token/session_ambient-sessions_s1", readOp("github/token/session_ambient-sessions_s1"), false},
		{"read roles/team-a_web", readOp("github/roles/team-a_web"), false},
		{"write roles/team-a_new", writeOp("github/roles/team-a_new", map[string]any{"bound": "team-a"}), false},
		{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme"}), false},
		{"read config", readOp("github/config"), false},
		{"read bounds/team-a", readOp("github/bounds/team-a"), false},
	})

	checkPolicyCases(t, d, "team-a-admin", client("team-a-admin.hcl", nil), []policyCase{
		{"write roles/team-a_new bound=team-a", writeOp("github/roles/team-a_new", map[string]any{"bound": "team-a", "repositories": "widgets", "permissions": "contents=read", "ttl": "20m"}), true},
		{"write roles/team-a_repo repository=acme/widgets", writeOp("github/roles/team-a_repo", map[string]any{"bound": "team-a", "repository": "acme/widgets"}), true},
		{"read roles/team-a_new bound=team-a", readBound("github/roles/team-a_new", "team-a"), true},
		{"delete roles/team-a_repo", deleteOp("github/roles/team-a_repo"), true},
		{"revoke-prefix token/team-a_web", revokePrefixOp("github/token/team-a_web"), true},
		{"write roles/team-a_evil without bound", writeOp("github/roles/team-a_evil", map[string]any{"owner": "acme"}), false},
		{"write roles/team-a_evil bound=team-a-b", writeOp("github/roles/team-a_evil", map[string]any{"bound": "team-a-b"}), false},
		{"write roles/team-a_evil bound=ambient-sessions", writeOp("github/roles/team-a_evil", map[string]any{"bound": "ambient-sessions"}), false},
		{"write roles/team-b_new", writeOp("github/roles/team-b_new", map[string]any{"bound": "team-a"}), false},
		{"list roles/", listOp("github/roles/"), false},
		{"read token/team-a_web", readOp("github/token/team-a_web"), false},
		{"revoke-prefix token/team-b_web", revokePrefixOp("github/token/team-b_web"), false},
		{"read config", readOp("github/config"), false},
		{"write bounds/team-a", writeOp("github/bounds/team-a", map[string]any{"repositories": "*"}), false},
		{"ad-hoc token", writeOp("github/token", map[string]any{"bound": "team-a"}), false},
	})
	if s, err := v.Client.Logical().Read("github/roles/team-a_evil"); err != nil || s != nil {
		t.Errorf("team-a_evil exists after refused writes (%v)", err)
	}

	checkPolicyCases(t, d, "platform-backend", client("platform-backend.hcl", map[string]string{"<project>": "ambient-sessions"}), []policyCase{
		{"write roles/session_ambient-sessions_s9", writeOp("github/roles/session_ambient-sessions_s9", map[string]any{"bound": "ambient-sessions", "repositories": "acme/widgets", "permissions": "contents=write"}), true},
		{"read roles/session_ambient-sessions_s9 bound=ambient-sessions", readBound("github/roles/session_ambient-sessions_s9", "ambient-sessions"), true},
		{"delete roles/session_ambient-sessions_s9", deleteOp("github/roles/session_ambient-sessions_s9"), true},
		{"revoke-prefix token/session_ambient-sessions_s1", revokePrefixOp("github/token/session_ambient-sessions_s1"), true},
		{"write roles/session_ambient-sessions_s9 without bound", writeOp("github/roles/session_ambient-sessions_s9", map[string]any{"owner": "acme"}), false},
		{"write roles/session_ambient-sessions_s9 bound=team-a", writeOp("github/roles/session_ambient-sessions_s9", map[string]any{"bound": "team-a"}), false},
		{"read token/session_ambient-sessions_s1", readOp("github/token/session_ambient-sessions_s1"), false},
		{"write roles/team-a_web", writeOp("github/roles/team-a_web", map[string]any{"bound": "ambient-sessions"}), false},
		{"write roles/other_s1", writeOp("github/roles/other_s1", map[string]any{"bound": "ambient-sessions"}), false},
		{"revoke-prefix token/team-a_web", revokePrefixOp("github/token/team-a_web"), false},
		{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme"}), false},
		{"read config", readOp("github/config"), false},
		{"list roles/", listOp("github/roles/"), false},
		{"write bounds/ambient-sessions", writeOp("github/bounds/ambient-sessions", map[string]any{"repositories": "*"}), false},
	})

	operator := client("operator.hcl", nil)
	checkPolicyCases(t, d, "operator", operator, []policyCase{
		{"read config", readOp("github/config"), true},
		{"list roles/", listOp("github/roles/"), true},
		{"write roles/anything", writeOp("github/roles/ops-test", map[string]any{"owner": "other"}), true},
		{"list bounds/", listOp("github/bounds/"), true},
		{"read bounds/team-a", readOp("github/bounds/team-a"), true},
		{"write bounds/ops", writeOp("github/bounds/ops", map[string]any{"owner": "other", "repositories": "*", "max_permissions": "contents=read"}), true},
		{"delete bounds/ops", deleteOp("github/bounds/ops"), true},
		{"read token/team-b_web", readOp("github/token/team-b_web"), true},
		{"ad-hoc token", writeOp("github/token", map[string]any{"owner": "acme", "repositories": "widgets"}), true},
		{"read installations", readOp("github/installations"), true},
		{"read info", readOp("github/info"), true},
		{"read metrics", readOp("github/metrics"), true},
		{"list leases of team-a_web", listOp("sys/leases/lookup/github/token/team-a_web/"), true},
		{"revoke-prefix token/team-a_web", revokePrefixOp("github/token/team-a_web"), true},
		{"write a policy", func(c *api.Client) error {
			return c.Sys().PutPolicy("operator", `path "*" { capabilities = ["sudo"] }`)
		}, false},
		{"mount an engine", func(c *api.Client) error { return c.Sys().Mount("kv", &api.MountInput{Type: "kv"}) }, false},
		{"revoke-prefix auth/token/", revokePrefixOp("auth/token/"), false},
	})
	checkPolicyCases(t, d, "metrics", client("metrics.hcl", nil), []policyCase{
		{"read metrics", readOp("github/metrics"), true},
		{"read token/team-a_web", readOp("github/token/team-a_web"), false},
		{"read roles/team-a_web", readOp("github/roles/team-a_web"), false},
		{"list roles/", listOp("github/roles/"), false},
		{"read config", readOp("github/config"), false},
		{"read installations", readOp("github/installations"), false},
		{"read info", readOp("github/info"), false},
		{"read bounds/team-a", readOp("github/bounds/team-a"), false},
	})

	// The operator can look up a lease by id (vault lease lookup).
	m := mint(t, v.Client, "github/token/team-a_web")
	if _, err := operator.Sys().Lookup(m.LeaseID); err != nil {
		t.Errorf("operator looking up a lease: %v", err)
	}
	// ... of this mount's tokens only.
	if _, err := operator.Sys().Lookup("auth/token/create/0123456789abcdef"); statusOf(err) != http.StatusForbidden {
		t.Errorf("operator looking up a lease outside github/token/: %v, want 403", err)
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

// TestSessionTeamNamesDisjoint: sessions and teams have disjoint role
// names. A team role team-a_web exists; an identity named like it (namespace
// team-a with service account web, or an AppRole role team-a_web) holding
// the shipped session policy gets 403 on github/token/team-a_web and mints
// from session_team-a_web only; team-a's policy does not reach
// session_team-a_web. Kubernetes auth (vault-k8s-auth.sh's role, and a
// wider auth role accepting every service account of team-a) and AppRole
// both. AppRole lower-cases role names: an AppRole role written with
// capitals logs in with its lower-case name, so a session role with
// capitals is never reachable.
func TestSessionTeamNamesDisjoint(t *testing.T) {
	t.Parallel()
	s := newBoundsSetup(t)
	v, d := s.v, s.d
	for name, repo := range map[string]string{
		"team-a_web": "widgets", "team-a_ambient-session-web": "widgets",
		"session_team-a_web": "gadgets", "session_team-a_ambient-session-web": "gadgets",
		"session_ambient-sessions_S3": "widgets", "session_ambient-sessions_s3": "gadgets",
	} {
		v.writeRole(t, "github", name, map[string]any{"owner": "acme", "repositories": repo})
	}
	sessionOnly := func(own string, teamRoles ...string) []policyCase {
		cases := []policyCase{{"read token/" + own, readOp("github/token/" + own), true}}
		for _, r := range teamRoles {
			cases = append(cases,
				policyCase{"read token/" + r, readOp("github/token/" + r), false},
				policyCase{"narrow token/" + r, writeOp("github/token/"+r, map[string]any{"repositories": "widgets"}), false})
		}
		return cases
	}
	gadgetsOnly := func(who string) {
		t.Helper()
		for _, tk := range d.Tokens() {
			if slices.Contains(tk.Repositories, "widgets") {
				t.Errorf("%s: a token for widgets (a team-a role's) was minted", who)
			}
		}
	}

	// Kubernetes: the shipped script and policy, team-a among the session
	// namespaces.
	k := newFakeKube(t)
	env := vaultEnv(v, v.RootToken, "K8S_HOST="+k.URL, "K8S_CA_CERT="+k.CAFile, "SESSION_NAMESPACES=ambient-sessions,team-a")
	if out, errOut, err := runExampleScript(t, env, "", examplePath("runner", "vault-k8s-auth.sh")); err != nil {
		t.Fatalf("vault-k8s-auth.sh: %v\n%s%s", err, out, errOut)
	}
	// An operator's wider auth role: every service account of team-a.
	if _, err := v.Client.Logical().Write("auth/kubernetes/role/wide", map[string]any{
		"bound_service_account_names": "*", "bound_service_account_namespaces": "team-a",
		"audience": "vault", "token_policies": "github-session",
	}); err != nil {
		t.Fatal(err)
	}
	login := func(role string, sa kubeSA) *api.Client {
		lc := v.newClient(t, "")
		lc.SetMaxRetries(0)
		sec, err := lc.Logical().Write("auth/kubernetes/login", map[string]any{"role": role, "jwt": k.issue(t, sa, "vault")})
		if err != nil || sec == nil || sec.Auth == nil {
			t.Fatalf("login as %s/%s with role %s: %v", sa.Namespace, sa.Name, role, err)
		}
		return v.newClient(t, sec.Auth.ClientToken)
	}
	checkPolicyCases(t, d, "k8s team-a/ambient-session-web", login("ambient-session", kubeSA{"team-a", "ambient-session-web", "2b9a6c0e-4a1f-4a56-9d7e-0000000000a1"}),
		sessionOnly("session_team-a_ambient-session-web", "team-a_ambient-session-web", "team-a_web"))
	checkPolicyCases(t, d, "k8s team-a/web", login("wide", kubeSA{"team-a", "web", "2b9a6c0e-4a1f-4a56-9d7e-0000000000a2"}),
		sessionOnly("session_team-a_web", "team-a_web", "team-a_ambient-session-web"))
	gadgetsOnly("kubernetes")

	// AppRole: an AppRole role named like the team's role.
	ridT, sidT := v.approle(t, "team-a_web", "github-session-approle")
	ridC, sidC := v.approle(t, "ambient-sessions_S3", "github-session-approle")
	putSessionPolicy(t, v)
	checkPolicyCases(t, d, "approle team-a_web", approleLogin(t, v, ridT, sidT),
		sessionOnly("session_team-a_web", "team-a_web", "team-a_ambient-session-web"))
	gadgetsOnly("approle")

	// Capitals: the AppRole role ambient-sessions_S3 is ambient-sessions_s3.
	capital := approleLogin(t, v, ridC, sidC)
	self, err := capital.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if meta, _ := self.TokenMetadata(); meta["role_name"] != "ambient-sessions_s3" {
		t.Errorf("AppRole role ambient-sessions_S3 logs in with role_name %q, want ambient-sessions_s3", meta["role_name"])
	}
	checkPolicyCases(t, d, "approle ambient-sessions_S3", capital, []policyCase{
		{"read token/session_ambient-sessions_s3", readOp("github/token/session_ambient-sessions_s3"), true},
		{"read token/session_ambient-sessions_S3", readOp("github/token/session_ambient-sessions_S3"), false},
	})
	gadgetsOnly("approle capitals")

	// And the team's own policy does not reach the sessions' roles.
	checkPolicyCases(t, d, "team-a", shippedPolicy(t, v, "team-a.hcl", nil), []policyCase{
		{"read token/team-a_web", readOp("github/token/team-a_web"), true},
		{"read token/session_team-a_web", readOp("github/token/session_team-a_web"), false},
	})
}
