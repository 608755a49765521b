//go:build acceptance

package acceptance

// The session write scope (issue 21, engine): branches on roles, bounds
// and narrowings, and the App's bot identity, through a real Vault: JSON
// over the HTTP API (lists, and numbers where strings belong) and the
// vault CLI (comma strings, key=value query parameters on a read).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github/branches"
)

// secretBranches is the branches of a token answer, or of a role or bound
// read; ok is false when the answer has no list there.
func secretBranches(s *api.Secret) ([]string, bool) {
	if s == nil {
		return nil, false
	}
	raw, ok := s.Data["branches"].([]any)
	if !ok {
		return nil, false
	}
	out := []string{}
	for _, e := range raw {
		str, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, str)
	}
	return out, true
}

// cliJSON runs the vault CLI with -format=json and decodes its answer.
func cliJSON(t *testing.T, v *vaultServer, args ...string) (*api.Secret, string, error) {
	t.Helper()
	full := append([]string{args[0], "-format=json"}, args[1:]...)
	out, err := v.cli(nil, full...)
	if err != nil {
		return nil, out, err
	}
	var s api.Secret
	if derr := json.Unmarshal([]byte(out), &s); derr != nil {
		t.Fatalf("vault %s: decoding %d bytes of output: %v", strings.Join(args, " "), len(out), derr)
	}
	return &s, out, nil
}

// TestBranchesThroughVault: role and bound branches, and narrowing, as
// clients send them: a JSON list or the CLI's comma string; a JSON number
// (top level or in the list), a refs/heads/ prefix, "**" or a trailing
// slash is a 400 that names the field and the entry and stores nothing;
// reads show the list; the token answer (token/<role>, read or narrowed,
// and the ad-hoc token path) carries the effective branches ([] when
// unscoped), bot_login and bot_email; the bot user is looked up at
// GitHub once for all of it.
func TestBranchesThroughVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	c := v.Client
	c.SetMaxRetries(0)
	botEmail := fmt.Sprintf("%d+%s@users.noreply.github.com", d.BotUserID(), d.BotLogin())

	t.Run("refused over the HTTP API", func(t *testing.T) {
		for name, tc := range map[string]struct {
			value any
			says  string
		}{
			"a number":           {5, "branches: must be a list of branch patterns or a comma-separated string of them, got a number"},
			"a number in a list": {[]any{"ambient/s1/*", 7}, "branches: entry 2 is a number, want a branch pattern (a string)"},
			"an object":          {map[string]any{"a": "b"}, "branches: must be a list"},
			"refs/heads/":        {[]any{"refs/heads/main"}, `branches: "refs/heads/main" starts with "refs/": name the branch alone (without "refs/heads/")`},
			"double star":        {[]any{"ambient/**"}, `branches: "ambient/**" contains "**", which does not exist`},
			"trailing slash":     {"ambient/s1/", `branches: "ambient/s1/" ends with '/'`},
			"empty entry":        {[]any{"a", ""}, "branches: entry 2 is empty"},
		} {
			for _, w := range []struct{ path string }{{"github/roles/bad"}, {"github/bounds/bad"}, {"github/token"}} {
				data := map[string]any{"owner": "acme", "branches": tc.value}
				if w.path == "github/bounds/bad" {
					data["repositories"], data["max_permissions"] = "*", "contents=read"
				}
				before := len(d.Tokens())
				_, err := c.Logical().Write(w.path, data)
				if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.says) {
					t.Errorf("%s: %s: %v, want 400 saying %q", w.path, name, err, tc.says)
				}
				if len(d.Tokens()) != before {
					t.Errorf("%s: %s: a refused request minted", w.path, name)
				}
			}
		}
		for _, p := range []string{"github/roles/bad", "github/bounds/bad"} {
			if s, err := c.Logical().Read(p); err != nil || s != nil {
				t.Errorf("a refused write stored %s: %v %v", p, s, err)
			}
		}
	})

	t.Run("role, narrowing and answer over the HTTP API", func(t *testing.T) {
		v.writeRole(t, "github", "web", map[string]any{"owner": "acme", "repositories": []any{"widgets"}, "branches": []any{"ambient/s1/*", "docs-fix"}})
		s, err := c.Logical().Read("github/roles/web")
		if got, ok := secretBranches(s); err != nil || !ok || !slices.Equal(got, []string{"ambient/s1/*", "docs-fix"}) {
			t.Fatalf("roles/web reads branches %v (%v)", s, err)
		}
		s, err = c.Logical().Read("github/token/web")
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := secretBranches(s); !slices.Equal(got, []string{"ambient/s1/*", "docs-fix"}) || s.Data["bot_login"] != d.BotLogin() || s.Data["bot_email"] != botEmail {
			t.Fatalf("token/web answers branches %v, bot_login %v, bot_email %v", s.Data["branches"], s.Data["bot_login"], s.Data["bot_email"])
		}
		s, err = c.Logical().Write("github/token/web", map[string]any{"branches": []any{"ambient/s1/fix"}})
		if got, _ := secretBranches(s); err != nil || !slices.Equal(got, []string{"ambient/s1/fix"}) {
			t.Fatalf("narrowed to ambient/s1/fix: %v (%v)", s, err)
		}
		s, err = c.Logical().ReadWithData("github/token/web", map[string][]string{"branches": {"docs-fix"}})
		if got, _ := secretBranches(s); err != nil || !slices.Equal(got, []string{"docs-fix"}) {
			t.Fatalf("GET token/web?branches=docs-fix: %v (%v)", s, err)
		}
		for _, wider := range []any{[]any{"main"}, "ambient/*/x", []any{"docs-fix", "ambient/s2/x"}} {
			before := len(d.Tokens())
			_, err := c.Logical().Write("github/token/web", map[string]any{"branches": wider})
			if statusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), "branches: pattern ") || !strings.Contains(err.Error(), `is not within the branches of role "web"`) {
				t.Errorf("narrowing to %v: %v, want 403 naming the pattern", wider, err)
			}
			if len(d.Tokens()) != before {
				t.Errorf("narrowing to %v minted", wider)
			}
		}
		v.writeRole(t, "github", "open", map[string]any{"owner": "acme"})
		s, err = c.Logical().Read("github/token/open")
		if got, ok := secretBranches(s); err != nil || !ok || len(got) != 0 {
			t.Fatalf("an unscoped role answers branches %v (%v), want []", s.Data["branches"], err)
		}
		s, err = c.Logical().Write("github/token", map[string]any{"owner": "acme", "repositories": "gadgets", "branches": []any{"ambient/x/*"}})
		if got, _ := secretBranches(s); err != nil || !slices.Equal(got, []string{"ambient/x/*"}) || s.Data["bot_email"] != botEmail {
			t.Fatalf("ad-hoc token answers %v (%v)", s, err)
		}
	})

	t.Run("the CLI", func(t *testing.T) {
		if out, err := v.cli(nil, "write", "github/roles/cli", "owner=acme", "branches=ambient/s1/*, docs-fix"); err != nil {
			t.Fatalf("vault write roles/cli: %v\n%s", err, out)
		}
		s, _, err := cliJSON(t, v, "read", "github/roles/cli")
		if got, _ := secretBranches(s); err != nil || !slices.Equal(got, []string{"ambient/s1/*", "docs-fix"}) {
			t.Fatalf("vault read roles/cli: branches %v (%v)", got, err)
		}
		s, _, err = cliJSON(t, v, "write", "github/token/cli", "branches=ambient/s1/fix")
		if got, _ := secretBranches(s); err != nil || !slices.Equal(got, []string{"ambient/s1/fix"}) {
			t.Fatalf("vault write token/cli branches=ambient/s1/fix: %v (%v)", got, err)
		}
		s, _, err = cliJSON(t, v, "read", "github/token/cli", "branches=docs-fix")
		if got, _ := secretBranches(s); err != nil || !slices.Equal(got, []string{"docs-fix"}) || s.Data["bot_login"] != d.BotLogin() || s.Data["bot_email"] != botEmail {
			t.Fatalf("vault read token/cli branches=docs-fix: %v, bot %v %v (%v)", got, s.Data["bot_login"], s.Data["bot_email"], err)
		}
		for _, tc := range []struct {
			args []string
			says string
		}{
			{[]string{"read", "github/token/cli", "branches=main"}, `Code: 403. Errors:`},
			{[]string{"read", "github/token/cli", "branches=main"}, `branches: pattern "main" is not within the branches of role "cli"`},
			{[]string{"write", "github/roles/cli", "branches=refs/heads/main"}, `branches: "refs/heads/main" starts with "refs/"`},
			{[]string{"write", "github/roles/cli", "branches=a/**"}, `branches: "a/**" contains "**"`},
			{[]string{"write", "github/roles/cli", "branches=a,,b"}, "branches: entry 2 is empty"},
		} {
			out, err := v.cli(nil, tc.args...)
			if err == nil || !strings.Contains(out, tc.says) {
				t.Errorf("vault %s: %v, output %q; want it to say %q", strings.Join(tc.args, " "), err, out, tc.says)
			}
		}
		// A refused write left the role as it was; branches= resets it.
		s, _, err = cliJSON(t, v, "read", "github/roles/cli")
		if got, _ := secretBranches(s); err != nil || !slices.Equal(got, []string{"ambient/s1/*", "docs-fix"}) {
			t.Fatalf("after refused writes roles/cli reads %v (%v)", got, err)
		}
		if out, err := v.cli(nil, "write", "github/roles/cli", "branches="); err != nil {
			t.Fatalf("vault write roles/cli branches=: %v\n%s", err, out)
		}
		s, _, err = cliJSON(t, v, "read", "github/roles/cli")
		if got, ok := secretBranches(s); err != nil || !ok || len(got) != 0 {
			t.Fatalf("after branches= roles/cli reads %v (%v), want []", got, err)
		}
	})

	// All of the above looked the bot user up once.
	if n := d.CallCount(http.MethodGet, "/users/"+d.BotLogin()); n != 1 {
		t.Errorf("the bot user was looked up %d times, want once", n)
	}
}

// TestBranchesWideningThroughVault: a team admin holding the shipped
// team-a-admin.hcl, inside bound team-a whose branches the operator set
// to team-a/*/* and release-notes, tries to write roles with wider
// branches in every spelling the other bound fields are tried with; each
// is refused with a 4xx and stores nothing. Those accepted are minted (as
// root) and their answered branches lie inside the bound. The bound
// tightened later refuses the next mint of a role now outside it, 403
// naming the pattern; a role that left its branches out follows the bound.
func TestBranchesWideningThroughVault(t *testing.T) {
	t.Parallel()
	s := newBoundsSetup(t)
	v := s.v
	if _, err := v.Client.Logical().Write("github/bounds/team-a", map[string]any{"branches": []any{"team-a/*/*", "release-notes"}}); err != nil {
		t.Fatal(err)
	}
	if b, err := v.Client.Logical().Read("github/bounds/team-a"); err != nil {
		t.Fatal(err)
	} else if got, _ := secretBranches(b); !slices.Equal(got, []string{"team-a/*/*", "release-notes"}) {
		t.Fatalf("bounds/team-a reads branches %v", got)
	}
	bound, err := branches.ParseScope([]string{"team-a/*/*", "release-notes"})
	if err != nil {
		t.Fatal(err)
	}
	admin := shippedPolicy(t, v, "team-a-admin.hcl", nil)
	cases := []struct {
		role   string
		value  any // nil: left out
		accept bool
		want   []string
	}{
		{"team-a_b1", "Team-a/s1/*", false, nil},
		{"team-a_b2", "Release-Notes", false, nil},
		{"team-a_b3", []any{"team-a/s1/x/"}, false, nil},
		{"team-a_b4", "refs/heads/release-notes", false, nil},
		{"team-a_b5", []any{"team-a/**"}, false, nil},
		{"team-a_b6", "team-a/*", false, nil},
		{"team-a_b7", "release-*", false, nil},
		{"team-a_b8", "*", false, nil},
		{"team-a_b9", []any{"team-a/s1/x", "main"}, false, nil},
		{"team-a_b10", "team-a/s1/x/y", false, nil},
		{"team-a_b11", "team-a/s1/x,main", false, nil},
		{"team-a_b12", []any{7}, false, nil},
		{"team-a_b13", 7, false, nil},
		{"team-a_b14", map[string]any{"team-a/s1/*": true}, false, nil},
		{"team-a_b15", "tеam-a/s1/x", false, nil}, // Cyrillic е
		{"team-a_b16", "team-a%2Fs1%2Fx", false, nil},
		{"team-a_ok1", nil, true, []string{"team-a/*/*", "release-notes"}},
		{"team-a_ok2", []any{}, true, []string{"team-a/*/*", "release-notes"}},
		{"team-a_ok3", "", true, []string{"team-a/*/*", "release-notes"}},
		{"team-a_ok4", "team-a/s1/*", true, []string{"team-a/s1/*"}},
		{"team-a_ok5", []any{"team-a/s1/fix-*", "release-notes"}, true, []string{"team-a/s1/fix-*", "release-notes"}},
	}
	refused := 0
	for _, tc := range cases {
		data := map[string]any{"bound": "team-a"}
		if tc.value != nil {
			data["branches"] = tc.value
		}
		before := len(s.d.Tokens())
		_, err := admin.Logical().Write("github/roles/"+tc.role, data)
		msg := ""
		if err != nil {
			msg = strings.Join(strings.Fields(err.Error()), " ")
			if i := strings.Index(msg, "Errors: "); i >= 0 {
				msg = msg[i+len("Errors: "):]
			}
		}
		t.Logf("team-a-admin roles/%-11s branches=%-36s -> %d %s", tc.role, fmt.Sprintf("%#v", tc.value), statusOf(err), msg)
		if !tc.accept {
			refused++
			if st := statusOf(err); st != http.StatusBadRequest && st != http.StatusForbidden || !strings.Contains(err.Error(), "branches") {
				t.Errorf("roles/%s branches=%v: %v, want a 400 or 403 naming branches", tc.role, tc.value, err)
			}
			if r, err := v.Client.Logical().Read("github/roles/" + tc.role); err != nil || r != nil {
				t.Errorf("a refused write stored roles/%s (%v)", tc.role, err)
			}
			if len(s.d.Tokens()) != before {
				t.Errorf("roles/%s: a refused write minted", tc.role)
			}
			continue
		}
		if err != nil {
			t.Errorf("roles/%s branches=%v: %v", tc.role, tc.value, err)
			continue
		}
		m, err := v.Client.Logical().Read("github/token/" + tc.role)
		if err != nil {
			t.Errorf("minting %s: %v", tc.role, err)
			continue
		}
		got, _ := secretBranches(m)
		minted, perr := branches.ParseScope(got)
		if !slices.Equal(got, tc.want) || perr != nil || !bound.Covers(minted) {
			t.Errorf("%s mints branches %v, want %v inside the bound", tc.role, got, tc.want)
		}
	}
	if refused < 15 {
		t.Errorf("only %d widening attempts", refused)
	}

	// The platform backend (platform-backend.hcl as shipped) inside the
	// project bound, whose ceiling is ambient/*/*: a session's own
	// ambient/<session>/* passes, anything wider does not.
	if _, err := v.Client.Logical().Write("github/bounds/ambient-sessions", map[string]any{"branches": "ambient/*/*"}); err != nil {
		t.Fatal(err)
	}
	backend := shippedPolicy(t, v, "platform-backend.hcl", map[string]string{"<project>": "ambient-sessions"})
	for _, tc := range []struct {
		value  any
		accept bool
	}{
		{"ambient/s1/*", true},
		{[]any{"ambient/s1/fix", "ambient/s1/docs-*"}, true},
		{"main", false},
		{"ambient/*", false},
		{"ambient/s1/*/x", false},
		{"ambient/**", false},
		{"refs/heads/ambient/s1/x", false},
		{[]any{"ambient/s1/x", "Ambient/s1/y"}, false},
	} {
		role := "session_ambient-sessions_ambient-session-b"
		_, err := backend.Logical().Write("github/roles/"+role, map[string]any{"bound": "ambient-sessions", "repositories": "widgets", "branches": tc.value})
		if tc.accept != (err == nil) {
			t.Errorf("platform-backend session role branches=%v: %v, want accepted %v", tc.value, err, tc.accept)
			continue
		}
		if err != nil {
			if st := statusOf(err); st != http.StatusBadRequest && st != http.StatusForbidden || !strings.Contains(err.Error(), "branches") {
				t.Errorf("platform-backend session role branches=%v: %v, want a 400 or 403 naming branches", tc.value, err)
			}
			continue
		}
		m, err := v.Client.Logical().Read("github/token/" + role)
		got, _ := secretBranches(m)
		minted, perr := branches.ParseScope(got)
		ceiling, _ := branches.ParseScope([]string{"ambient/*/*"})
		if err != nil || perr != nil || len(got) == 0 || !ceiling.Covers(minted) {
			t.Errorf("session role branches=%v mints %v (%v), want them inside ambient/*/*", tc.value, got, err)
		}
		if _, err := v.Client.Logical().Delete("github/roles/" + role); err != nil {
			t.Fatal(err)
		}
	}

	// Tightened: the next mint of a role now outside it is a 403 naming
	// the pattern, and mints nothing; one that left its branches out
	// follows.
	if _, err := v.Client.Logical().Write("github/bounds/team-a", map[string]any{"branches": "team-a/s2/*"}); err != nil {
		t.Fatal(err)
	}
	before := len(s.d.Tokens())
	_, err = v.Client.Logical().Read("github/token/team-a_ok4")
	if statusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), `branches: pattern "team-a/s1/*" of role "team-a_ok4" is outside bound "team-a"`) {
		t.Errorf("minting team-a_ok4 after the bound dropped team-a/s1/*: %v", err)
	}
	if len(s.d.Tokens()) != before {
		t.Error("a refused mint minted")
	}
	m, err := v.Client.Logical().Read("github/token/team-a_ok1")
	if got, _ := secretBranches(m); err != nil || !slices.Equal(got, []string{"team-a/s2/*"}) {
		t.Errorf("team-a_ok1 (branches left out) after tightening: %v (%v), want [team-a/s2/*]", got, err)
	}
}

// TestRecipeScopeAndIdentity: the shipped agent-approle.hcl and templates,
// rendered by a real Vault Agent for a scoped and an unscoped role:
// credentials.json carries "branches" only for the scoped one (the proxy
// reads absence as unscoped), userName and email are the App's bot;
// gitconfig and branches.txt say the same. When GitHub fails the lookup of
// the bot user, the mint still succeeds, Agent still renders (the
// templates do not need bot_email, error_on_missing_key notwithstanding),
// and the email falls back to <slug>[bot]@users.noreply.github.com.
func TestRecipeScopeAndIdentity(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	var failing atomic.Bool
	target, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "[bot]") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, `{"message":"Server Error"}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, map[string]any{"base_url": front.URL})
	v.writeRole(t, "github", "scoped", map[string]any{"owner": "acme", "repositories": "widgets", "branches": "ambient/x/*,docs-fix"})
	v.writeRole(t, "github", "open", map[string]any{"owner": "acme", "repositories": "widgets"})

	render := func(role string) string {
		t.Helper()
		if err := v.Client.Sys().PutPolicy("recipe-"+role, fmt.Sprintf(`path "github/token/%s" { capabilities = ["read"] }`, role)); err != nil {
			t.Fatal(err)
		}
		roleID, secretID := v.approle(t, "recipe-"+role, "recipe-"+role)
		work := t.TempDir()
		for _, f := range append([]string{"agent-approle.hcl"}, runnerTemplates...) {
			copyExample(t, work, "runner", f)
		}
		for name, val := range map[string]string{"role-id": roleID, "secret-id": secretID} {
			if err := os.WriteFile(filepath.Join(work, name), []byte(val), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		runAgentOnce(t, work, vaultEnv(v, "", "GITHUB_ROLE="+role), "agent-approle.hcl")
		return work
	}
	credentials := func(work string) map[string]any {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(work, "github", "credentials.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("credentials.json is not JSON: %v", err)
		}
		return m
	}

	// Scoped, the lookup answered: the bot's id in the email, the scope
	// beside the token.
	work := render("scoped")
	creds := credentials(work)
	if got := fmt.Sprint(creds["branches"]); got != "[ambient/x/* docs-fix]" || creds["userName"] != d.BotLogin() || creds["email"] != botEmailOf(d) {
		t.Errorf("scoped: credentials.json branches %s, userName %v, email %v", got, creds["userName"], creds["email"])
	}
	checkSessionFiles(t, d, filepath.Join(work, "github-session"), 0o444, []string{"ambient/x/*", "docs-fix"})

	// The App's config written again (its bot user forgotten) and GitHub
	// failing the lookup: an unscoped role renders, with the fallback email
	// and no branches key.
	failing.Store(true)
	v.configureEngine(t, "github", d, map[string]any{"base_url": front.URL})
	before := d.CallCount(http.MethodGet, "/users/"+d.BotLogin())
	work = render("open")
	creds = credentials(work)
	fallback := d.BotLogin() + "@users.noreply.github.com"
	if _, has := creds["branches"]; has || creds["userName"] != d.BotLogin() || creds["email"] != fallback || creds["token"] == "" {
		t.Errorf("unscoped, lookup failed: credentials.json branches %v (present %v), userName %v, email %v", creds["branches"], has, creds["userName"], creds["email"])
	}
	if data, _ := os.ReadFile(filepath.Join(work, "github-session", "gitconfig")); string(data) != "[user]\n\tname = "+d.BotLogin()+"\n\temail = "+fallback+"\n" {
		t.Errorf("gitconfig after a failed lookup: %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(work, "github-session", "branches.txt")); !strings.HasPrefix(string(data), "This session's GitHub token has no branch scope") {
		t.Errorf("branches.txt for an unscoped role: %q", data)
	}
	if n := d.CallCount(http.MethodGet, "/users/"+d.BotLogin()); n != before {
		t.Errorf("the failed lookups reached the double %d times", n-before)
	}
}
