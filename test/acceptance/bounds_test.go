//go:build acceptance

package acceptance

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// boundsSetup is a Vault with the engine configured against a double that
// has the App installed on acme (widgets, gadgets, tools) and on other
// (widgets, secret), and the bounds the shipped policies pin, written by
// root as an operator would:
//
//	team-a            acme: widgets, gadgets; contents=write,metadata=read; max_ttl 30m
//	team-a-b          acme: tools; contents=write,metadata=read
//	ambient-sessions  acme: widgets, gadgets; contents=write,pull_requests=write,metadata=read
type boundsSetup struct {
	d           *githubtest.Server
	v           *vaultServer
	acme, other *githubtest.Installation
}

var boundDefs = map[string]map[string]any{
	"team-a":           {"owner": "acme", "repositories": "widgets,gadgets", "max_permissions": "contents=write,metadata=read", "max_ttl": "30m"},
	"team-a-b":         {"owner": "acme", "repositories": "tools", "max_permissions": "contents=write,metadata=read"},
	"ambient-sessions": {"owner": "acme", "repositories": []any{"widgets", "gadgets"}, "max_permissions": map[string]any{"contents": "write", "pull_requests": "write", "metadata": "read"}},
}

func newBoundsSetup(t *testing.T) *boundsSetup {
	t.Helper()
	d := githubtest.NewT(t)
	s := &boundsSetup{d: d}
	s.acme = d.AddInstallation("acme", "Organization", "widgets", "gadgets", "tools")
	s.other = d.AddInstallation("other", "Organization", "widgets", "secret")
	s.v = startVault(t, vaultOptions{})
	s.v.enableEngine(t, "github")
	s.v.configureEngine(t, "github", d, nil)
	for name, def := range boundDefs {
		if _, err := s.v.Client.Logical().Write("github/bounds/"+name, def); err != nil {
			t.Fatalf("writing bound %s: %v", name, err)
		}
	}
	return s
}

func repoID(t testing.TB, in *githubtest.Installation, name string) int64 {
	t.Helper()
	for _, r := range in.Repositories {
		if r.Name == name {
			return r.ID
		}
	}
	t.Fatalf("installation %s has no repository %s", in.Account, name)
	return 0
}

// shippedPolicy loads examples/policies/<file> with its placeholders
// substituted and returns a client holding a token with it.
func shippedPolicy(t *testing.T, v *vaultServer, file string, subst map[string]string) *api.Client {
	t.Helper()
	text := substitute(t, file, readExample(t, "policies", file), subst)
	c := v.tokenWithPolicy(t, strings.TrimSuffix(file, ".hcl"), text)
	c.SetMaxRetries(0)
	return c
}

// TestBoundsWideningTable: a team admin (team-a-admin.hcl as shipped) and
// a platform backend (platform-backend.hcl for project ambient-sessions)
// try to get out of their bounds in every spelling the issue lists, through
// Vault's HTTP API (JSON strings, numbers, arrays and objects). Each
// widening attempt is refused with a 4xx and stores nothing; each write
// the table accepts is minted (as root) and the double confirms the
// token's installation, repositories and permissions lie inside the bound.
// Then a tightened bound makes the next mint of a role now outside it fail
// with 403 naming the repository.
func TestBoundsWideningTable(t *testing.T) {
	t.Parallel()
	s := newBoundsSetup(t)
	v, d := s.v, s.d
	v.writeRole(t, "github", "team-a-b_web", map[string]any{"bound": "team-a-b"})
	admin := shippedPolicy(t, v, "team-a-admin.hcl", nil)
	backend := shippedPolicy(t, v, "platform-backend.hcl", map[string]string{"<project>": "ambient-sessions"})

	tools, widgets, gadgets := repoID(t, s.acme, "tools"), repoID(t, s.acme, "widgets"), repoID(t, s.acme, "gadgets")
	secret := repoID(t, s.other, "secret")
	ta := func(kv ...any) map[string]any {
		m := map[string]any{"bound": "team-a"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	as := func(kv ...any) map[string]any {
		m := map[string]any{"bound": "ambient-sessions"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	type attempt struct {
		who    string
		role   string
		data   map[string]any
		accept bool
	}
	cases := []attempt{
		// team admin: repositories in other spellings
		{"team-a-admin", "team-a_r1", ta("repositories", "Tools"), false},
		{"team-a-admin", "team-a_r2", ta("repositories", "acme/tools"), false},
		{"team-a-admin", "team-a_r3", ta("repositories", []any{"widgets", "ACME/Tools"}), false},
		{"team-a-admin", "team-a_r4", ta("repository_ids", []any{tools}), false},
		{"team-a-admin", "team-a_r5", ta("repository_ids", fmt.Sprint(tools)), false},
		{"team-a-admin", "team-a_r6", ta("repository_ids", []any{widgets, tools}), false},
		{"team-a-admin", "team-a_r7", ta("repository", "acme/tools"), false},
		{"team-a-admin", "team-a_r8", ta("repositories", "widgets,tools"), false},
		{"team-a-admin", "team-a_r9", ta("repositories", map[string]any{"tools": true}), false},
		{"team-a-admin", "team-a_r10", ta("repositories", "*"), false},
		// ids outside the bound and outside the installation
		{"team-a-admin", "team-a_r11", ta("repository_ids", []any{secret}), false},
		{"team-a-admin", "team-a_r12", ta("repository_ids", "999999999999"), false},
		// permissions in other spellings
		{"team-a-admin", "team-a_r13", ta("permissions", map[string]any{"workflows": "write"}), false},
		{"team-a-admin", "team-a_r14", ta("permissions", "Workflows=write"), false},
		{"team-a-admin", "team-a_r15", ta("permissions", "wor\u212aflows=write"), false},
		{"team-a-admin", "team-a_r16", ta("permissions", []any{"workflows=write"}), false},
		{"team-a-admin", "team-a_r17", ta("permissions", "contents=admin"), false},
		{"team-a-admin", "team-a_r18", ta("permissions", "METADATA=WRITE"), false},
		{"team-a-admin", "team-a_r19", ta("permissions", map[string]any{"Contents": "write", "pull_requests": "read"}), false},
		// another owner or installation
		{"team-a-admin", "team-a_r20", ta("owner", "other"), false},
		{"team-a-admin", "team-a_r21", ta("installation_id", s.other.ID), false},
		{"team-a-admin", "team-a_r22", ta("installation_id", fmt.Sprint(s.other.ID)), false},
		{"team-a-admin", "team-a_r23", ta("repository", "other/widgets"), false},
		// the bound itself
		{"team-a-admin", "team-a_r24", ta("bound", "team-a-b"), false},
		{"team-a-admin", "team-a_r25", ta("bound", ""), false},
		{"team-a-admin", "team-a_r26", map[string]any{"repositories": "widgets"}, false},
		{"team-a-admin", "team-a_r27", ta("bound", []any{"team-a"}), false},
		{"team-a-admin", "team-a_r28", ta("bound", map[string]any{"name": "team-a"}), false},
		{"team-a-admin", "team-a_r29", ta("bound", "Team-A"), false},
		{"team-a-admin", "team-a_r30", ta("bound", []any{"team-a", "team-a-b"}), false},
		// ttl and other teams' names
		{"team-a-admin", "team-a_r31", ta("ttl", "45m"), false},
		{"team-a-admin", "team-a-b_x", ta(), false},
		{"team-a-admin", "team-a-b_web", ta("repositories", "widgets"), false},
		// accepted: inside the bound, in any spelling
		{"team-a-admin", "team-a_ok1", ta(), true},
		{"team-a-admin", "team-a_ok2", ta("repositories", []any{}, "permissions", []any{}), true},
		{"team-a-admin", "team-a_ok3", ta("repositories", ""), true},
		{"team-a-admin", "team-a_ok4", ta("repositories", "Widgets", "permissions", "Contents=READ"), true},
		{"team-a-admin", "team-a_ok5", ta("owner", "ACME", "repositories", "acme/gadgets", "ttl", "10m"), true},
		{"team-a-admin", "team-a_ok6", ta("repository_ids", []any{widgets, gadgets}), true},
		{"team-a-admin", "team-a_ok7", ta("installation_id", s.acme.ID, "repositories", "gadgets", "permissions", map[string]any{"metadata": "read"}), true},

		// platform backend
		{"platform-backend", "session_ambient-sessions_s1", as("owner", "other"), false},
		{"platform-backend", "session_ambient-sessions_s2", as("installation_id", s.other.ID), false},
		{"platform-backend", "session_ambient-sessions_s3", as("repository", "other/secret"), false},
		{"platform-backend", "session_ambient-sessions_s4", as("repositories", "acme/tools"), false},
		{"platform-backend", "session_ambient-sessions_s5", as("repository_ids", []any{tools}), false},
		{"platform-backend", "session_ambient-sessions_s6", as("permissions", "administration=write"), false},
		{"platform-backend", "session_ambient-sessions_s7", as("permissions", "wor\u212aflows=write"), false},
		{"platform-backend", "session_ambient-sessions_s8", as("bound", "team-a"), false},
		{"platform-backend", "session_ambient-sessions_s9", as("bound", ""), false},
		{"platform-backend", "session_ambient-sessions_s10", map[string]any{"owner": "acme", "repositories": "tools"}, false},
		{"platform-backend", "team-a_web", as("repositories", "widgets"), false},
		{"platform-backend", "session_other-project_s1", as(), false},
		{"platform-backend", "other-project_s1", as(), false},
		{"platform-backend", "session_ambient-sessions_ok1", as("repositories", "acme/widgets,acme/gadgets", "permissions", "contents=write,pull_requests=write,metadata=read"), true},
		{"platform-backend", "session_ambient-sessions_ok2", as(), true},
	}
	clients := map[string]*api.Client{"team-a-admin": admin, "platform-backend": backend}
	refused := 0
	for _, c := range cases {
		tokens := len(d.Tokens())
		_, err := clients[c.who].Logical().Write("github/roles/"+c.role, c.data)
		status := statusOf(err)
		if err == nil {
			status = http.StatusNoContent
		}
		msg := ""
		if err != nil {
			msg = strings.Join(strings.Fields(err.Error()), " ")
			if i := strings.Index(msg, "Errors: "); i >= 0 {
				msg = msg[i+len("Errors: "):]
			}
		}
		t.Logf("%-16s roles/%-22s %-70s -> %d %s", c.who, c.role, fmt.Sprint(c.data), status, msg)
		if !c.accept {
			refused++
			if status < 400 || status >= 500 {
				t.Errorf("%s writing roles/%s %v: got %d %v, want a 4xx", c.who, c.role, c.data, status, err)
			}
			if c.role != "team-a-b_web" {
				if s, err := v.Client.Logical().Read("github/roles/" + c.role); err != nil || s != nil {
					t.Errorf("a refused write stored roles/%s (%v)", c.role, err)
				}
			}
			// Only the probe that resolves ids may mint, and it is
			// revoked (in the background: the write does not wait).
			for _, tk := range d.Tokens()[tokens:] {
				if !maps.Equal(tk.Permissions, map[string]string{"metadata": "read"}) {
					t.Errorf("a refused write minted a token for %v %v", tk.Repositories, tk.Permissions)
					continue
				}
				waitRevoked(t, d, tk.Value, time.Now().Add(10*time.Second))
			}
			continue
		}
		if err != nil {
			t.Errorf("%s writing roles/%s %v: %v", c.who, c.role, c.data, err)
			continue
		}
		bound := "team-a"
		if c.who == "platform-backend" {
			bound = "ambient-sessions"
		}
		checkInsideBound(t, s, c.role, bound)
	}
	t.Logf("%d widening attempts refused, %d writes accepted and minted inside their bound", refused, len(cases)-refused)
	if refused < 30 {
		t.Errorf("only %d widening attempts", refused)
	}
	// team-a-b's role is untouched.
	if s, err := v.Client.Logical().Read("github/roles/team-a-b_web"); err != nil || s == nil || s.Data["bound"] != "team-a-b" {
		t.Errorf("team-a-b_web after team-a's attempts: %v (%v)", s, err)
	}

	// Tightening team-a's bound: the next mint of a role now outside it is
	// refused with 403 naming the repository; one that left its
	// repositories out follows the bound.
	if _, err := v.Client.Logical().Write("github/bounds/team-a", map[string]any{"repositories": "gadgets"}); err != nil {
		t.Fatal(err)
	}
	v.Client.SetMaxRetries(0)
	before := len(d.Tokens())
	_, err := v.Client.Logical().Read("github/token/team-a_ok4")
	if statusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), `repository "Widgets"`) && !strings.Contains(err.Error(), `repository "widgets"`) {
		t.Errorf("minting team-a_ok4 (widgets) after the bound dropped widgets: %v, want 403 naming the repository", err)
	}
	if len(d.Tokens()) != before {
		t.Error("a refused mint minted")
	}
	t.Logf("after tightening bound team-a to gadgets: token/team-a_ok4 -> %d %v", statusOf(err), err)
	m := mint(t, v.Client, "github/token/team-a_ok1")
	if got := lookupToken(t, d, m.Data.Token).Repositories; !slices.Equal(got, []string{"gadgets"}) {
		t.Errorf("team-a_ok1 (repositories left out) after tightening covers %v, want [gadgets]", got)
	}
	// A bound in use cannot be deleted; the error names its roles.
	_, err = v.Client.Logical().Delete("github/bounds/team-a")
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "team-a_ok1") {
		t.Errorf("deleting a bound in use: %v, want 400 naming its roles", err)
	}
}

// checkInsideBound mints role as root and checks at the double that the
// token is for the bound's installation, covers some of its repositories
// and no other, and has at most its permissions.
func checkInsideBound(t *testing.T, s *boundsSetup, role, bound string) {
	t.Helper()
	m, err := tryMint(s.v.Client, "github/token/"+role, nil)
	if err != nil {
		t.Errorf("minting accepted role %s: %v", role, err)
		return
	}
	tok := lookupToken(t, s.d, m.Data.Token)
	def := boundDefs[bound]
	var repos []string
	switch r := def["repositories"].(type) {
	case string:
		repos = strings.Split(r, ",")
	case []any:
		for _, e := range r {
			repos = append(repos, e.(string))
		}
	}
	maxPerms := map[string]string{}
	switch p := def["max_permissions"].(type) {
	case string:
		for _, kv := range strings.Split(p, ",") {
			k, lv, _ := strings.Cut(kv, "=")
			maxPerms[k] = lv
		}
	case map[string]any:
		for k, lv := range p {
			maxPerms[k] = lv.(string)
		}
	}
	levels := map[string]int{"read": 1, "write": 2, "admin": 3}
	ok := tok.InstallationID == s.acme.ID && len(tok.Repositories) > 0 && len(tok.Permissions) > 0
	for _, r := range tok.Repositories {
		ok = ok && slices.Contains(repos, r)
	}
	for k, lv := range tok.Permissions {
		ok = ok && levels[lv] <= levels[maxPerms[k]] && maxPerms[k] != ""
	}
	if !ok {
		t.Errorf("role %s minted a token outside bound %s: installation %d, repositories %v, permissions %v", role, bound, tok.InstallationID, tok.Repositories, tok.Permissions)
	}
	t.Logf("minted %-22s installation %d repositories %v permissions %v lease %s", role, tok.InstallationID, tok.Repositories, tok.Permissions, m.LeaseTTL)
}

// TestBoundsTeamPrefixes: with '_' as the separator, team-a's shipped
// policies (team-a.hcl, team-a-admin.hcl) reach none of team team-a-b's
// roles: no mint, no narrowing, no role read or write, no revoke-prefix.
// An installation-scoped role cannot be narrowed to another owner's
// repository.
func TestBoundsTeamPrefixes(t *testing.T) {
	t.Parallel()
	s := newBoundsSetup(t)
	v, d := s.v, s.d
	v.writeRole(t, "github", "team-a_web", map[string]any{"bound": "team-a", "repositories": "widgets"})
	v.writeRole(t, "github", "team-a-b_web", map[string]any{"bound": "team-a-b"})
	v.writeRole(t, "github", "inst", map[string]any{"installation_id": s.acme.ID})
	teamA := shippedPolicy(t, v, "team-a.hcl", nil)
	admin := shippedPolicy(t, v, "team-a-admin.hcl", nil)
	other := mint(t, v.Client, "github/token/team-a-b_web")

	checkPolicyCases(t, d, "team-a", teamA, []policyCase{
		{"read token/team-a_web", readOp("github/token/team-a_web"), true},
		{"narrow token/team-a_web", writeOp("github/token/team-a_web", map[string]any{"permissions": "contents=read"}), true},
		{"read token/team-a-b_web", readOp("github/token/team-a-b_web"), false},
		{"narrow token/team-a-b_web", writeOp("github/token/team-a-b_web", map[string]any{"permissions": "contents=read"}), false},
		{"revoke-prefix token/team-a-b_web", revokePrefixOp("github/token/team-a-b_web"), false},
		{"read roles/team-a-b_web", readOp("github/roles/team-a-b_web"), false},
	})
	checkPolicyCases(t, d, "team-a-admin", admin, []policyCase{
		{"read roles/team-a_web bound=team-a", func(c *api.Client) error {
			_, err := c.Logical().ReadWithData("github/roles/team-a_web", map[string][]string{"bound": {"team-a"}})
			return err
		}, true},
		{"revoke-prefix token/team-a_web", revokePrefixOp("github/token/team-a_web"), true},
		{"read roles/team-a-b_web", readOp("github/roles/team-a-b_web"), false},
		{"read roles/team-a-b_web bound=team-a", func(c *api.Client) error {
			_, err := c.Logical().ReadWithData("github/roles/team-a-b_web", map[string][]string{"bound": {"team-a"}})
			return err
		}, false},
		{"write roles/team-a-b_web", writeOp("github/roles/team-a-b_web", map[string]any{"bound": "team-a"}), false},
		{"delete roles/team-a-b_web", deleteOp("github/roles/team-a-b_web"), false},
		{"revoke-prefix token/team-a-b_web", revokePrefixOp("github/token/team-a-b_web"), false},
		{"read token/team-a-b_web", readOp("github/token/team-a-b_web"), false},
		{"read bounds/team-a", readOp("github/bounds/team-a"), false},
		{"write bounds/team-a", writeOp("github/bounds/team-a", map[string]any{"repositories": "*"}), false},
	})
	if !lookupToken(t, d, other.Data.Token).Live(time.Now()) || !v.leaseExists(t, other.LeaseID) {
		t.Error("team-a's requests revoked team-a-b's token")
	}

	// An installation-scoped role narrowed to other-owner/name.
	v.Client.SetMaxRetries(0)
	for _, repo := range []string{"other/widgets", "other/secret", "OTHER/widgets"} {
		before := len(d.Tokens())
		_, err := v.Client.Logical().Write("github/token/inst", map[string]any{"repositories": repo})
		t.Logf("narrow token/inst (installation %d) to %s -> %d %v", s.acme.ID, repo, statusOf(err), err)
		if statusOf(err) != http.StatusForbidden {
			t.Errorf("narrowing an installation role to %s: %v, want 403", repo, err)
		}
		if len(d.Tokens()) != before {
			t.Errorf("narrowing to %s minted", repo)
		}
	}
	m, err := tryMint(v.Client, "github/token/inst", map[string]any{"repositories": "ACME/widgets"})
	if err != nil {
		t.Fatalf("narrowing the installation role to ACME/widgets: %v", err)
	}
	if got := lookupToken(t, d, m.Data.Token).Repositories; !slices.Equal(got, []string{"widgets"}) {
		t.Errorf("narrowed to ACME/widgets, token covers %v", got)
	}
}

// TestBoundsSessionNamespace: session-templated.hcl as shipped (loaded by
// examples/runner/vault-k8s-auth.sh, with Kubernetes auth against the fake
// TokenReview API) binds the namespace as well as the service account:
// with the auth role accepting two namespaces, service account
// ambient-session-s1 of namespace "other" cannot mint the role of
// ambient-session-s1 in ambient-sessions, and the reverse.
func TestBoundsSessionNamespace(t *testing.T) {
	t.Parallel()
	s := newBoundsSetup(t)
	v, d := s.v, s.d
	k := newFakeKube(t)
	env := vaultEnv(v, v.RootToken, "K8S_HOST="+k.URL, "K8S_CA_CERT="+k.CAFile, "SESSION_NAMESPACES=ambient-sessions,other")
	if out, errOut, err := runExampleScript(t, env, "", examplePath("runner", "vault-k8s-auth.sh")); err != nil {
		t.Fatalf("vault-k8s-auth.sh: %v\n%s%s", err, out, errOut)
	}
	// The policy names the accessor twice on one line: substitute every
	// occurrence (sed needs the g flag), as its header says.
	auths, err := v.Client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	policy := substitute(t, "session-templated.hcl", readExample(t, "policies", "session-templated.hcl"),
		map[string]string{"<KUBERNETES_ACCESSOR>": auths["kubernetes/"].Accessor})
	if err := v.Client.Sys().PutPolicy("github-session", policy); err != nil {
		t.Fatal(err)
	}
	v.writeRole(t, "github", "session_ambient-sessions_ambient-session-s1", map[string]any{"bound": "ambient-sessions", "repositories": "widgets"})
	v.writeRole(t, "github", "session_other_ambient-session-s1", map[string]any{"owner": "acme", "repositories": "gadgets"})

	login := func(sa kubeSA) *api.Client {
		lc := v.newClient(t, "")
		lc.SetMaxRetries(0)
		sec, err := lc.Logical().Write("auth/kubernetes/login", map[string]any{"role": "ambient-session", "jwt": k.issue(t, sa, "vault")})
		if err != nil || sec == nil || sec.Auth == nil {
			t.Fatalf("login as %s/%s: %v", sa.Namespace, sa.Name, err)
		}
		c := v.newClient(t, sec.Auth.ClientToken)
		c.SetMaxRetries(0)
		return c
	}
	own := login(kubeSA{"ambient-sessions", "ambient-session-s1", "2b9a6c0e-4a1f-4a56-9d7e-000000000001"})
	impostor := login(kubeSA{"other", "ambient-session-s1", "2b9a6c0e-4a1f-4a56-9d7e-000000000002"})
	checkPolicyCases(t, d, "ambient-sessions/ambient-session-s1", own, []policyCase{
		{"read its own role", readOp("github/token/session_ambient-sessions_ambient-session-s1"), true},
		{"narrow its own role", writeOp("github/token/session_ambient-sessions_ambient-session-s1", map[string]any{"permissions": "contents=read"}), true},
		{"read other's same-named role", readOp("github/token/session_other_ambient-session-s1"), false},
		{"read the bare service account name", readOp("github/token/ambient-session-s1"), false},
	})
	checkPolicyCases(t, d, "other/ambient-session-s1", impostor, []policyCase{
		{"read ambient-sessions' same-named role", readOp("github/token/session_ambient-sessions_ambient-session-s1"), false},
		{"narrow ambient-sessions' same-named role", writeOp("github/token/session_ambient-sessions_ambient-session-s1", map[string]any{"repositories": "widgets"}), false},
		{"read its own namespace's role", readOp("github/token/session_other_ambient-session-s1"), true},
	})
	for _, tk := range d.Tokens() {
		if slices.Contains(tk.Repositories, "widgets") && tk.InstallationID != s.acme.ID {
			t.Errorf("a token for widgets of installation %d", tk.InstallationID)
		}
	}
}
