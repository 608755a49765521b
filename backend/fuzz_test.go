package backend

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// These fuzz targets run their seed corpora with `go test`; fuzz them with
// `go test -run='^$' -fuzz='^FuzzX$' -fuzztime=20s ./backend/` (or make fuzz).

// fuzzPermEntry is one name=level pair as given, before validation.
type fuzzPermEntry struct{ name, level string }

func FuzzParsePermissions(f *testing.F) {
	for _, s := range []string{
		"contents=read",
		"contents=write,metadata=read,pull_requests=write",
		" Contents = WRITE , issues=Admin",
		"contents=read,contents=write",
		"contents=read,CONTENTS=admin",
		"contents=read, Contents =read",
		`{"contents":"read","issues":"write"}`,
		`{"contents":"read","Contents":"admin"}`,
		`{"contents":"read","CONTENTS":"read"}`,
		`{"contents":5}`, `{"contents":null}`, `{}`, `{"":"read"}`,
		"foo=read", "contents=none", "contents", "=read", "contents=", "", " ", ",", "=,=", "contents==read",
		"organization_administration=write;members=read",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// As a string: "a=b,c=d".
		checkPermissions(t, "string", s, stringEntries(strings.Split(s, ","), strings.TrimSpace(s) == ""))
		// As a list of pairs.
		var list []any
		var parts []string
		for p := range strings.SplitSeq(s, ";") {
			list = append(list, p)
			parts = append(parts, p)
		}
		checkPermissions(t, "list", list, stringEntries(parts, false))
		// As a JSON object, when s is one.
		var obj map[string]any
		if json.Unmarshal([]byte(s), &obj) == nil && obj != nil {
			var entries []fuzzPermEntry
			for k, v := range obj {
				lv, _ := v.(string)
				entries = append(entries, fuzzPermEntry{k, lv})
			}
			checkPermissions(t, "object", obj, entries)
		}
		// As a map[string]string of the comma-separated pairs.
		m := map[string]string{}
		for p := range strings.SplitSeq(s, ",") {
			k, v, _ := strings.Cut(p, "=")
			m[k] = v
		}
		var entries []fuzzPermEntry
		for k, v := range m {
			entries = append(entries, fuzzPermEntry{k, v})
		}
		checkPermissions(t, "map", m, entries)
	})
}

// stringEntries splits pairs as a user means them: trimmed, name=level.
func stringEntries(parts []string, empty bool) []fuzzPermEntry {
	if empty {
		return nil
	}
	var out []fuzzPermEntry
	for _, p := range parts {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		out = append(out, fuzzPermEntry{k, v})
	}
	return out
}

var fuzzLevels = map[string]bool{"read": true, "write": true, "admin": true}

// checkPermissions parses raw and checks an accepted result against the
// entries it was made from: only known names, only read/write/admin, each
// name given once (case-insensitively) and at the level given.
func checkPermissions(t *testing.T, form string, raw any, entries []fuzzPermEntry) {
	t.Helper()
	out, msg := parsePermissions("permissions", raw)
	if msg != "" {
		if out != nil {
			t.Fatalf("%s %q: output %v with message %q", form, raw, out, msg)
		}
		if !strings.HasPrefix(msg, "permissions: ") {
			t.Fatalf("%s %q: message %q does not name the field", form, raw, msg)
		}
		return
	}
	if len(out) == 0 && out != nil {
		t.Fatalf("%s %q: empty non-nil map", form, raw)
	}
	byName := map[string][]string{}
	for _, e := range entries {
		name := strings.ToLower(strings.TrimSpace(e.name))
		byName[name] = append(byName[name], strings.ToLower(strings.TrimSpace(e.level)))
	}
	for name, level := range out {
		if !permissionRe.MatchString(name) {
			t.Fatalf("%s %q: accepted unknown permission %q", form, raw, name)
		}
		if !fuzzLevels[level] {
			t.Fatalf("%s %q: accepted level %q for %q", form, raw, level, name)
		}
		given := byName[name]
		if len(given) != 1 {
			t.Fatalf("%s %q: %q given %d times (levels %q), accepted as %q", form, raw, name, len(given), given, level)
		}
		if given[0] != level {
			t.Fatalf("%s %q: %q given as %q, accepted as %q", form, raw, name, given[0], level)
		}
	}
	if len(out) != len(byName) {
		t.Fatalf("%s %q: accepted %d permissions from %d names", form, raw, len(out), len(byName))
	}
}

// fuzzRepoRe is GitHub's repository name syntax, written out here
// independently of the code under test.
var fuzzRepoRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

func FuzzParseRepositories(f *testing.F) {
	many := func(n int, prefix string) string {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("%srepo-%d", prefix, i)
		}
		return strings.Join(names, ",")
	}
	for _, seed := range []struct{ list, owner string }{
		{"widgets", ""},
		{"widgets,gadgets", "acme"},
		{"acme/widgets,Widgets,ACME/WIDGETS", "acme"},
		{"acme/widgets,other/gadgets", ""},
		{"other/widgets", "acme"},
		{"a/b/c", ""}, {".", ""}, {"..", ""}, {"acme/..", ""}, {"acme/.", ""}, {"...", ""},
		{"x,,y", ""}, {"/widgets", ""}, {"acme/", ""}, {" widgets , gadgets ", ""},
		{"-acme/widgets", ""}, {"acme_corp/widgets", "ACME_CORP"},
		{strings.Repeat("a", 100), ""}, {strings.Repeat("a", 101), ""},
		{many(500, ""), ""}, {many(501, ""), ""}, {many(500, "") + "," + strings.ToUpper(many(500, "")), ""},
		{many(500, "acme/"), "acme"},
		{"", ""}, {" ", ""}, {",", ""},
	} {
		f.Add(seed.list, seed.owner)
	}
	f.Fuzz(func(t *testing.T, s, owner string) {
		checkRepositories(t, "string", s, owner, strings.Split(s, ","), true, strings.TrimSpace(s) == "")
		var list []any
		var raw []string
		for p := range strings.SplitSeq(s, ",") {
			list, raw = append(list, p), append(raw, p)
		}
		checkRepositories(t, "list", list, owner, raw, true, false)
		checkRepositories(t, "[]string", raw, owner, raw, false, false)
	})
}

func checkRepositories(t *testing.T, form string, raw any, owner string, entries []string, trimmed, empty bool) {
	t.Helper()
	names, owners, msg := parseRepositories(raw) // owners are checked by scope
	if msg != "" {
		if names != nil || owners != nil {
			t.Fatalf("%s: output %q %q with message %q", form, names, owners, msg)
		}
		if !strings.HasPrefix(msg, "repositories: ") {
			t.Fatalf("%s: message %q does not name the field", form, msg)
		}
		return
	}
	if len(names) > 500 {
		t.Fatalf("%s: accepted %d repositories, GitHub allows 500", form, len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !fuzzRepoRe.MatchString(n) || n == "." || n == ".." {
			t.Fatalf("%s: accepted repository name %q", form, n)
		}
		if strings.Contains(n, "/") {
			t.Fatalf("%s: name %q keeps its owner", form, n)
		}
		if key := strings.ToLower(n); seen[key] {
			t.Fatalf("%s: %q listed twice", form, n)
		} else {
			seen[key] = true
		}
	}
	// Every entry is accounted for: its bare name is in the output, and its
	// owner, if any, is among the owners.
	if empty {
		entries = nil
	}
	for _, e := range entries {
		if trimmed {
			e = strings.TrimSpace(e)
		}
		o, n, prefixed := strings.Cut(e, "/")
		if !prefixed {
			n = e
		}
		if !seen[strings.ToLower(n)] {
			t.Fatalf("%s: entry %q missing from %q", form, e, names)
		}
		if prefixed {
			found := false
			for _, x := range owners {
				found = found || strings.EqualFold(x, o)
			}
			if !found {
				t.Fatalf("%s: owner of %q missing from %q", form, e, owners)
			}
		}
	}
	if len(entries) == 0 && len(names) != 0 {
		t.Fatalf("%s: names %q from no entries", form, names)
	}
}
