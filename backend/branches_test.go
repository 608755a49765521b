package backend

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github/branches"
)

// tokenBranches is the branches of a token answer.
func tokenBranches(t *testing.T, resp *logical.Response) []string {
	t.Helper()
	got, ok := resp.Data["branches"].([]string)
	if !ok {
		t.Fatalf("the token answer's branches is %T %v, want a list", resp.Data["branches"], resp.Data["branches"])
	}
	return got
}

// TestBranchesValidation: every bad branches value, on every path that
// takes the field (role and bound writes, a narrowing write and read, an
// ad-hoc mint), is a 400 that names the field and quotes the bad entry
// (cut, or not shown when it holds control characters), and stores and
// mints nothing.
func TestBranchesValidation(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme", "branches": "ambient/s1/*"})
	long := strings.Repeat("a", 256)
	many := make([]any, branches.MaxPatterns+1)
	for i := range many {
		many[i] = fmt.Sprintf("b%d", i)
	}
	for name, tc := range map[string]struct {
		value any
		want  []string
	}{
		"refs/heads/ prefix":   {"refs/heads/main", []string{`branches: "refs/heads/main" starts with "refs/"`}},
		"double star":          {"ambient/**", []string{`branches: "ambient/**" contains "**"`}},
		"trailing slash":       {"main/", []string{`branches: "main/" ends with '/'`}},
		"leading slash":        {"/main", []string{`branches: "/main" starts with '/'`}},
		"double slash":         {"a//b", []string{`branches: "a//b" contains "//"`}},
		"dot dot":              {"a/../main", []string{`branches: "a/../main" contains ".."`}},
		"HEAD":                 {"HEAD", []string{`branches: "HEAD" is "HEAD"`}},
		"at":                   {"@", []string{`branches: "@" is "@"`}},
		"dash":                 {"-x", []string{`branches: "-x" starts with '-'`}},
		"space inside":         {"a b", []string{`branches: "a b" contains a space`}},
		"lock":                 {"x/main.lock", []string{`branches: "x/main.lock" has a '/'-separated part ending in ".lock"`}},
		"dot part":             {"a/.b", []string{`branches: "a/.b" has a '/'-separated part starting with '.'`}},
		"reflog":               {"a@{1}", []string{`branches: "a@{1}" contains "@{"`}},
		"tilde":                {"a~1", []string{`branches: "a~1" contains '~'`}},
		"colon":                {"a:b", []string{`branches: "a:b" contains ':'`}},
		"question":             {"a?", []string{`branches: "a?" contains '?'`}},
		"bracket":              {"a[b]", []string{`branches: "a[b]" contains '['`}},
		"backslash":            {`a\b`, []string{`branches: "a\\b" contains '\\'`}},
		"control":              {"a\nb", []string{"branches: (a value of 3 bytes with control characters, not shown) contains a control character"}},
		"too long":             {long, []string{`branches: "aaaa`, "(256 bytes) is 256 bytes long; at most 255"}},
		"second of a list":     {[]any{"ambient/s1/*", "refs/heads/x"}, []string{`branches: "refs/heads/x" starts with "refs/"`}},
		"empty entry (CLI)":    {"a,,b", []string{"branches: entry 2 is empty"}},
		"empty entry (JSON)":   {[]any{"a", " "}, []string{"branches: entry 2 is empty"}},
		"number":               {float64(5), []string{"branches: must be a list of branch patterns or a comma-separated string of them, got a number"}},
		"json.Number":          {json.Number("5"), []string{"branches: must be a list", "got a number"}},
		"number in a list":     {[]any{"a", float64(1)}, []string{"branches: entry 2 is a number, want a branch pattern (a string)"}},
		"bool in a list":       {[]any{true}, []string{"branches: entry 1 is true/false"}},
		"object":               {map[string]any{"a": "b"}, []string{"branches: must be a list", "got an object"}},
		"bool":                 {true, []string{"branches: must be a list", "got true/false"}},
		"101 patterns":         {many, []string{"branches: 101 patterns given; at most 100"}},
		"101 patterns (CLI)":   {strings.Repeat("a,", 100) + "b", []string{"branches: 101 patterns given; at most 100"}},
		"pattern is refs only": {"refs/*", []string{`branches: "refs/*" starts with "refs/"`}},
	} {
		t.Run(name, func(t *testing.T) {
			before, tokens := e.snapshot(), len(e.gh.Tokens())
			for _, w := range []struct {
				op   logical.Operation
				path string
				data map[string]any
			}{
				{logical.CreateOperation, "roles/new", map[string]any{"owner": "acme"}},
				{logical.UpdateOperation, "roles/r", map[string]any{}},
				{logical.CreateOperation, "bounds/b", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read"}},
				{logical.UpdateOperation, "token/r", map[string]any{}},
				{logical.ReadOperation, "token/r", map[string]any{}},
				{logical.UpdateOperation, "token", map[string]any{"owner": "acme"}},
			} {
				w.data["branches"] = tc.value
				resp, err := e.req(w.op, w.path, w.data)
				text := errText(resp, err)
				if status(resp, err) != http.StatusBadRequest {
					t.Errorf("%s %s: %d %q, want 400", w.op, w.path, status(resp, err), text)
					continue
				}
				for _, want := range tc.want {
					if !strings.Contains(text, want) {
						t.Errorf("%s %s: %q does not say %q", w.op, w.path, text, want)
					}
				}
				if strings.Contains(text, long) || strings.Contains(text, "\n") {
					t.Errorf("%s %s: the message echoes the value: %q", w.op, w.path, text)
				}
			}
			if after := e.snapshot(); !reflect.DeepEqual(after, before) {
				t.Error("a refused write changed storage")
			}
			if n := len(e.gh.Tokens()); n != tokens {
				t.Errorf("refused requests minted %d tokens", n-tokens)
			}
		})
	}

	// Good spellings: JSON lists, CLI comma strings with spaces, unicode,
	// exactly 100 patterns; exact duplicates are dropped.
	hundred := make([]any, branches.MaxPatterns)
	for i := range hundred {
		hundred[i] = fmt.Sprintf("b%d/*", i)
	}
	for name, tc := range map[string]struct {
		value any
		want  []string
	}{
		"CLI":          {" ambient/s1/* , docs-fix", []string{"ambient/s1/*", "docs-fix"}},
		"JSON":         {[]any{"ambient/s1/*", "docs-fix", "ambient/s1/*"}, []string{"ambient/s1/*", "docs-fix"}},
		"query list":   {[]string{"a/*", "b"}, []string{"a/*", "b"}},
		"unicode":      {"分支/*,naïve", []string{"分支/*", "naïve"}},
		"100 patterns": {hundred, nil},
		"reset":        {"", []string{}},
		"reset []":     {[]any{}, []string{}},
		"null":         {nil, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			e.writeRole("ok", map[string]any{"owner": "acme", "branches": tc.value})
			got := e.ok(logical.ReadOperation, "roles/ok", nil).Data["branches"]
			if tc.want == nil {
				if n := len(got.([]string)); n != branches.MaxPatterns {
					t.Fatalf("roles/ok reads %d patterns, want %d", n, branches.MaxPatterns)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("roles/ok reads branches %#v, want %#v", got, tc.want)
			}
			if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/ok", nil)); !slices.Equal(b, tc.want) {
				t.Fatalf("token/ok answers branches %v, want %v", b, tc.want)
			}
		})
	}
}

// TestBranchesWidening: a team admin's role writes that try to get out of
// the branches of bound team-a in every spelling are refused (403 naming
// the pattern, or 400 for what is not a pattern) and store nothing; those
// accepted mint tokens whose answered branches the bound covers.
func TestBranchesWidening(t *testing.T) {
	e, _ := boundEnv(t, nil)
	e.ok(logical.UpdateOperation, "bounds/team-a", map[string]any{"branches": []any{"ambient/s1/*", "release-notes"}})
	bound, err := branches.ParseScope([]string{"ambient/s1/*", "release-notes"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		value  any // nil: left out
		status int
		says   string
		want   []string // accepted: the token's branches
	}{
		{"case", "Ambient/s1/x", 403, `branches: pattern "Ambient/s1/x" of role "team-a_w0" is outside bound "team-a"`, nil},
		{"case of a literal", "Release-Notes", 403, `"Release-Notes"`, nil},
		{"trailing slash", "ambient/s1/x/", 400, `branches: "ambient/s1/x/" ends with '/'`, nil},
		{"refs/heads/ prefix", "refs/heads/ambient/s1/x", 400, `branches: "refs/heads/ambient/s1/x" starts with "refs/"`, nil},
		{"refs/heads/ literal", "refs/heads/release-notes", 400, `starts with "refs/"`, nil},
		{"double star", "ambient/**", 400, `branches: "ambient/**" contains "**"`, nil},
		{"double star in scope", "ambient/s1/**", 400, `contains "**"`, nil},
		{"star for a literal part", "ambient/*/x", 403, `"ambient/*/x"`, nil},
		{"star for the literal", "release-*", 403, `"release-*"`, nil},
		{"star alone", "*", 403, `"*"`, nil},
		{"star star parts", "*/*/*", 403, `"*/*/*"`, nil},
		{"fewer parts", "ambient/s1", 403, `"ambient/s1"`, nil},
		{"more parts", "ambient/s1/x/y", 403, `"ambient/s1/x/y"`, nil},
		{"another session", "ambient/s2/*", 403, `"ambient/s2/*"`, nil},
		{"main among good ones", []any{"ambient/s1/x", "main"}, 403, `"main"`, nil},
		{"main (CLI)", "ambient/s1/x,main", 403, `"main"`, nil},
		{"look-alike", "аmbient/s1/x", 403, `is outside bound`, nil}, // Cyrillic а
		{"percent-encoded slash", "ambient%2Fs1%2Fx", 403, `"ambient%2Fs1%2Fx"`, nil},
		{"dot dot", "ambient/s1/../../main", 400, `contains ".."`, nil},
		{"HEAD", "HEAD", 400, `is "HEAD"`, nil},
		{"number", []any{float64(1)}, 400, "branches: entry 1 is a number", nil},

		{"left out (bound's)", nil, 200, "", []string{"ambient/s1/*", "release-notes"}},
		{"empty list (bound's)", []any{}, 200, "", []string{"ambient/s1/*", "release-notes"}},
		{"empty string (bound's)", "", 200, "", []string{"ambient/s1/*", "release-notes"}},
		{"the bound's own", "ambient/s1/*,release-notes", 200, "", []string{"ambient/s1/*", "release-notes"}},
		{"narrower star", "ambient/s1/fix-*", 200, "", []string{"ambient/s1/fix-*"}},
		{"a branch", []any{" ambient/s1/x "}, 200, "", []string{"ambient/s1/x"}},
		{"a literal star", "ambient/s1/*-*", 200, "", []string{"ambient/s1/*-*"}},
		{"the literal", "release-notes", 200, "", []string{"release-notes"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("team-a_w%d", i)
			data := map[string]any{"bound": "team-a"}
			if tc.value != nil {
				data["branches"] = tc.value
			}
			resp, err := e.req(logical.CreateOperation, "roles/"+name, data)
			got := status(resp, err)
			if tc.status != 200 {
				says := strings.ReplaceAll(tc.says, "team-a_w0", name)
				if got != tc.status || !strings.Contains(errText(resp, err), says) {
					t.Fatalf("got %d %q, want %d saying %s", got, errText(resp, err), tc.status, says)
				}
				if r := e.ok(logical.ReadOperation, "roles/"+name, nil); r != nil {
					t.Fatalf("a refused write stored %v", r.Data)
				}
				return
			}
			if got != http.StatusOK {
				t.Fatalf("refused: %d %s", got, errText(resp, err))
			}
			b := tokenBranches(t, e.ok(logical.ReadOperation, "token/"+name, nil))
			if !slices.Equal(b, tc.want) {
				t.Fatalf("token branches %v, want %v", b, tc.want)
			}
			minted, err := branches.ParseScope(b)
			if err != nil || !bound.Covers(minted) {
				t.Fatalf("token branches %v are not covered by the bound (%v)", b, err)
			}
		})
	}

	// A bound without branches leaves roles free; an unscoped role answers [].
	e.ok(logical.CreateOperation, "bounds/free", map[string]any{"owner": "acme", "repositories": "*", "max_permissions": "contents=read"})
	e.writeRole("free_any", map[string]any{"bound": "free", "branches": "*,main"})
	e.writeRole("free_none", map[string]any{"bound": "free"})
	if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/free_any", nil)); !slices.Equal(b, []string{"*", "main"}) {
		t.Errorf("a role in a bound without branches mints branches %v, want its own", b)
	}
	if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/free_none", nil)); b == nil || len(b) != 0 {
		t.Errorf("an unscoped role mints branches %#v, want []", b)
	}
}

// TestBranchesTighteningAppliesAtNextMint: the bound's branches are
// checked at every mint, as its other fields are.
func TestBranchesTighteningAppliesAtNextMint(t *testing.T) {
	e, _ := boundEnv(t, nil)
	e.writeRole("team-a_own", map[string]any{"bound": "team-a", "branches": "ambient/s1/*"})
	e.writeRole("team-a_follow", map[string]any{"bound": "team-a"})
	// No branches on the bound yet: the role's own, and unscoped.
	if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/team-a_own", nil)); !slices.Equal(b, []string{"ambient/s1/*"}) {
		t.Fatalf("before: %v", b)
	}
	if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/team-a_follow", nil)); len(b) != 0 {
		t.Fatalf("before: %v", b)
	}
	// The bound gains branches that cover the role's: both follow.
	e.ok(logical.UpdateOperation, "bounds/team-a", map[string]any{"branches": "ambient/*/*"})
	if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/team-a_own", nil)); !slices.Equal(b, []string{"ambient/s1/*"}) {
		t.Fatalf("inside the bound: %v", b)
	}
	if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/team-a_follow", nil)); !slices.Equal(b, []string{"ambient/*/*"}) {
		t.Fatalf("following the bound: %v", b)
	}
	// Tightened under the role: its next mint is refused, naming the pattern.
	e.ok(logical.UpdateOperation, "bounds/team-a", map[string]any{"branches": []any{"ambient/s2/*"}})
	before := len(e.gh.Tokens())
	resp, err := e.req(logical.ReadOperation, "token/team-a_own", nil)
	if status(resp, err) != http.StatusForbidden || !strings.Contains(errText(resp, err), `branches: pattern "ambient/s1/*" of role "team-a_own" is outside bound "team-a"`) {
		t.Fatalf("after tightening: %d %q", status(resp, err), errText(resp, err))
	}
	if len(e.gh.Tokens()) != before {
		t.Fatal("a refused mint minted")
	}
	if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/team-a_follow", nil)); !slices.Equal(b, []string{"ambient/s2/*"}) {
		t.Fatalf("following the tightened bound: %v", b)
	}
	// A narrowing of the following role stays inside the bound.
	resp, err = e.req(logical.UpdateOperation, "token/team-a_follow", map[string]any{"branches": "ambient/s1/x"})
	if status(resp, err) != http.StatusForbidden || !strings.Contains(errText(resp, err), `"ambient/s1/x"`) {
		t.Fatalf("narrowing outside the bound's branches: %d %q", status(resp, err), errText(resp, err))
	}
	// The bound drops its branches: roles are free again.
	e.ok(logical.UpdateOperation, "bounds/team-a", map[string]any{"branches": ""})
	if b := tokenBranches(t, e.ok(logical.ReadOperation, "token/team-a_own", nil)); !slices.Equal(b, []string{"ambient/s1/*"}) {
		t.Fatalf("after the bound dropped its branches: %v", b)
	}
	if got := e.ok(logical.ReadOperation, "bounds/team-a", nil).Data["branches"]; !reflect.DeepEqual(got, []string{}) {
		t.Fatalf("bounds/team-a reads branches %#v, want []", got)
	}
}

// TestBranchesNarrowing: token/<role> takes branches on a write and as a
// query parameter on a read; each must be covered by the role's (any, for
// an unscoped role), and the answer carries the narrowed list. The ad-hoc
// token path answers the branches it was given.
func TestBranchesNarrowing(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("scoped", map[string]any{"owner": "acme", "branches": []any{"ambient/s1/*", "docs-fix"}})
	e.writeRole("open", map[string]any{"owner": "acme"})
	for _, tc := range []struct {
		role   string
		op     logical.Operation
		value  any
		status int
		want   []string // 200: the answer's branches; else what the refusal quotes
	}{
		{"scoped", logical.UpdateOperation, "ambient/s1/fix", 200, []string{"ambient/s1/fix"}},
		{"scoped", logical.ReadOperation, "ambient/s1/fix-*,docs-fix", 200, []string{"ambient/s1/fix-*", "docs-fix"}},
		{"scoped", logical.ReadOperation, []string{"docs-fix"}, 200, []string{"docs-fix"}},
		{"scoped", logical.UpdateOperation, "", 200, []string{"ambient/s1/*", "docs-fix"}},
		{"scoped", logical.UpdateOperation, []any{}, 200, []string{"ambient/s1/*", "docs-fix"}},
		{"scoped", logical.UpdateOperation, "ambient/s1/*", 200, []string{"ambient/s1/*"}},
		{"scoped", logical.UpdateOperation, "ambient/s2/x", 403, []string{`branches: pattern "ambient/s2/x" is not within the branches of role "scoped"`}},
		{"scoped", logical.ReadOperation, "main", 403, []string{`"main"`}},
		{"scoped", logical.UpdateOperation, []any{"docs-fix", "Docs-fix"}, 403, []string{`"Docs-fix"`}},
		{"scoped", logical.UpdateOperation, "ambient/*/x", 403, []string{`"ambient/*/x"`}},
		{"scoped", logical.UpdateOperation, "ambient/s1/x/y", 403, []string{`"ambient/s1/x/y"`}},
		{"scoped", logical.UpdateOperation, "refs/heads/docs-fix", 400, []string{`branches: "refs/heads/docs-fix" starts with "refs/"`}},
		{"open", logical.UpdateOperation, "anything/*,main", 200, []string{"anything/*", "main"}},
		{"open", logical.ReadOperation, "main", 200, []string{"main"}},
		{"open", logical.UpdateOperation, "", 200, []string{}},
	} {
		before := len(e.gh.Tokens())
		resp, err := e.req(tc.op, "token/"+tc.role, map[string]any{"branches": tc.value})
		got := status(resp, err)
		if tc.status == 200 {
			if got != 200 {
				t.Errorf("%s token/%s branches=%v: %d %q", tc.op, tc.role, tc.value, got, errText(resp, err))
				continue
			}
			if b := tokenBranches(t, resp); !slices.Equal(b, tc.want) || b == nil {
				t.Errorf("%s token/%s branches=%v answers %#v, want %v", tc.op, tc.role, tc.value, b, tc.want)
			}
			continue
		}
		if got != tc.status || !strings.Contains(errText(resp, err), tc.want[0]) {
			t.Errorf("%s token/%s branches=%v: %d %q, want %d saying %s", tc.op, tc.role, tc.value, got, errText(resp, err), tc.status, tc.want[0])
		}
		if len(e.gh.Tokens()) != before {
			t.Errorf("%s token/%s branches=%v: a refused narrowing minted", tc.op, tc.role, tc.value)
		}
	}

	// The ad-hoc path answers the branches it was given, or [].
	for _, tc := range []struct {
		value any
		want  []string
	}{{"ambient/s9/*", []string{"ambient/s9/*"}}, {nil, []string{}}} {
		data := map[string]any{"owner": "acme", "repositories": "widgets"}
		if tc.value != nil {
			data["branches"] = tc.value
		}
		if b := tokenBranches(t, e.ok(logical.UpdateOperation, "token", data)); !slices.Equal(b, tc.want) || b == nil {
			t.Errorf("ad-hoc token with branches %v answers %#v, want %v", tc.value, b, tc.want)
		}
	}
}

// TestBranchesStoredAsWritten: the stored role holds the patterns' text,
// and a stored list this release cannot parse is an error, never read as
// another scope (or none).
func TestBranchesStoredAsWritten(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme", "branches": "ambient/s1/*"})
	entry, err := e.storage.Get(t.Context(), rolePrefix+"r")
	if err != nil || entry == nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(entry.Value), `"branches":["ambient/s1/*"]`) {
		t.Fatalf("stored role %s", entry.Value)
	}
	e.writeRole("plain", map[string]any{"owner": "acme"})
	if entry, _ := e.storage.Get(t.Context(), rolePrefix+"plain"); strings.Contains(string(entry.Value), "branches") {
		t.Fatalf("an unscoped role stores branches: %s", entry.Value)
	}
	bad := strings.Replace(string(entry.Value), `"owner"`, `"branches":["refs/heads/x"],"owner"`, 1)
	if err := e.storage.Put(t.Context(), &logical.StorageEntry{Key: rolePrefix + "plain", Value: []byte(bad)}); err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(t.Context(), rolePrefix+"plain")
	resp, err := e.req(logical.ReadOperation, "token/plain", nil)
	if status(resp, err) != http.StatusInternalServerError || !strings.Contains(errText(resp, err), "branches") {
		t.Fatalf("minting a role with a stored pattern this release refuses: %d %q", status(resp, err), errText(resp, err))
	}
}

// FuzzParseBranches: any value either is refused with a message that
// names the field and echoes at most a cut quote of the input, or parses
// into at most MaxPatterns valid patterns, each an entry of the input
// trimmed, that survive storage (JSON) unchanged; a comma string and the
// JSON list of its parts parse alike.
func FuzzParseBranches(f *testing.F) {
	for _, s := range []string{
		"ambient/s1/*", "ambient/s1/*, docs-fix", "a,,b", "refs/heads/main", "a/**", "main/", "HEAD", "-x",
		"分支/*", "a\x00b", "a\nb", " ", "", ",", "a,a", strings.Repeat("a", 300), strings.Repeat("b,", 101),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := strings.Split(s, ",")
		list := make([]any, len(parts))
		for i, p := range parts {
			list[i] = p
		}
		fromString, msgString := parseBranches("branches", s)
		fromList, msgList := parseBranches("branches", list)
		if strings.TrimSpace(s) == "" {
			if msgString != "" || !fromString.IsZero() {
				t.Fatalf("blank %q: %v %q", s, fromString.Patterns(), msgString)
			}
		} else if (msgString == "") != (msgList == "") || !fromString.Equal(fromList.Scope) {
			t.Fatalf("%q: as a string %v %q, as a list %v %q", s, fromString.Patterns(), msgString, fromList.Patterns(), msgList)
		}
		for _, msg := range []string{msgString, msgList} {
			if msg == "" {
				continue
			}
			if !strings.HasPrefix(msg, "branches: ") || strings.ContainsAny(msg, "\n\r\x00") || len(msg) > 400 {
				t.Fatalf("message %q", msg)
			}
		}
		if msgString != "" {
			return
		}
		got := fromString.Patterns()
		if len(got) > branches.MaxPatterns {
			t.Fatalf("%d patterns", len(got))
		}
		for _, p := range got {
			if _, err := branches.Parse(p); err != nil || !slices.ContainsFunc(parts, func(e string) bool { return strings.TrimSpace(e) == p }) {
				t.Fatalf("pattern %q: %v", p, err)
			}
		}
		data, err := json.Marshal(fromString)
		if err != nil {
			t.Fatal(err)
		}
		var back branchList
		if err := json.Unmarshal(data, &back); err != nil || !back.Equal(fromString.Scope) {
			t.Fatalf("stored %s reads back %v (%v)", data, back.Patterns(), err)
		}
	})
}
