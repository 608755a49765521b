package branches

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidBranchName(t *testing.T) {
	valid := []string{
		"main", "feature/x", "ambient/s-1/work", "a.b", "v1.2.3", "a/b.c/d",
		"release-2026", "naïve", "分支/実験", "emoji-😀", "a@b", "@x", "x@", "a{b}", "a.lock-not", "lock",
		"HEADS", "head", "a/HEAD", "x-", "_", "a+b", "%2F", "a#b", "a,b", "a'b\"c", "a=b", "a!b", "a$b", "a&b", "a|b", "a;b", "a<b>",
	}
	for _, n := range valid {
		if err := ValidBranchName(n); err != nil {
			t.Errorf("ValidBranchName(%q) = %v, want valid", n, err)
		}
	}
	invalid := map[string]string{
		"":                "empty",
		"HEAD":            "HEAD",
		"@":               `"@"`,
		"-x":              "'-'",
		"/main":           "starts with '/'",
		"main/":           "ends with '/'",
		"main.":           "ends with '.'",
		"a//b":            `"//"`,
		"../main":         `".."`,
		"a..b":            `".."`,
		"heads/../main":   `".."`,
		"main.lock":       `".lock"`,
		"a.lock/b":        `".lock"`,
		"a/b.lock":        `".lock"`,
		".hidden":         "starting with '.'",
		"a/.b":            "starting with '.'",
		"a/./b":           "starting with '.'",
		"a@{1}":           `"@{"`,
		"a b":             "space",
		"a\tb":            "control",
		"a\x00b":          "control",
		"a\nb":            "control",
		"a\x7fb":          "control",
		"a~1":             "'~'",
		"a^":              "'^'",
		"a:b":             "':'",
		"a?":              "'?'",
		"a*":              "'*'",
		"a[b":             "'['",
		"a\\b":            "'\\\\'",
		"refs/heads/../x": `".."`,
	}
	for n, why := range invalid {
		err := ValidBranchName(n)
		if err == nil {
			t.Errorf("ValidBranchName(%q) = nil, want an error about %s", n, why)
			continue
		}
		if !strings.Contains(err.Error(), why) {
			t.Errorf("ValidBranchName(%q) = %q, want it to mention %s", n, err, why)
		}
		if len(n) > 4 && strings.Contains(err.Error(), n) {
			t.Errorf("ValidBranchName(%q)'s error repeats the input: %q", n, err)
		}
	}
}

func TestBranchOfRef(t *testing.T) {
	for ref, want := range map[string]string{
		"refs/heads/main":         "main",
		"refs/heads/feature/x":    "feature/x",
		"refs/heads/refs/heads/x": "refs/heads/x", // a branch may be named so; it is that name
	} {
		if got, ok := BranchOfRef(ref); !ok || got != want {
			t.Errorf("BranchOfRef(%q) = %q, %v; want %q", ref, got, ok, want)
		}
	}
	for _, ref := range []string{
		"main", "heads/main", "refs/tags/v1", "refs/heads/", "refs/heads//main", "refs/heads/../main",
		"refs/heads/main.lock", "refs/heads/HEAD", "HEAD", "refs/remotes/origin/main", "refs/pull/1/head",
		"Refs/heads/main", "refs/Heads/main", "REFS/HEADS/MAIN", " refs/heads/main", "refs/heads/main\n",
		"refs/heads/-x", "refs/notes/commits", "refs/heads/a@{1}",
	} {
		if got, ok := BranchOfRef(ref); ok {
			t.Errorf("BranchOfRef(%q) = %q, true; want not a branch", ref, got)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"main", "*", "ambient/*", "ambient/*/work", "agent-*", "*-fix", "a*b*c", "x/*/*", "naïve/*", "v1.*"} {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q) = %v", s, err)
		}
	}
	for s, why := range map[string]string{
		"":                              "empty",
		"refs/heads/main":               `"refs/"`,
		"refs/heads/*":                  `"refs/"`,
		"**":                            `"**"`,
		"a/**/b":                        `"**"`,
		"*.lock":                        `".lock"`,
		"a/*.lock":                      `".lock"`,
		".*":                            "starting with '.'",
		"*.":                            "ends with '.'",
		"a//*":                          `"//"`,
		"*..*":                          `".."`,
		"/*":                            "starts with '/'",
		"*/":                            "ends with '/'",
		"HEAD":                          "HEAD",
		"-*":                            "'-'",
		"*@{*":                          `"@{"`,
		"a b":                           "space",
		"a?":                            "'?'",
		strings.Repeat("a", 256):        "256 bytes",
		"a\x01":                         "control",
		"feature/[abc]":                 "'['",
		"ambient/*/" + "\u007f":         "control",
		"x~":                            "'~'",
		"a\xff*":                        "UTF-8",
		"x:y":                           "':'",
		"x^":                            "'^'",
		"a\\*":                          "'\\\\'",
		"a/*/" + ".hidden":              "starting with '.'",
		strings.Repeat("a/", 130) + "a": "bytes", // over 255 bytes
	} {
		_, err := Parse(s)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Parse(%.40q) = %v, want an error about %s", s, err, why)
		}
	}
	if _, err := Parse(strings.Repeat("a", 255)); err != nil {
		t.Errorf("a 255-byte pattern: %v", err)
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern string
		yes, no []string
	}{
		{"main", []string{"main"}, []string{"Main", "MAIN", "main2", "xmain", "main/x", "refs/heads/main", "heads/main", "main.lock", "main/"}},
		{"*", []string{"main", "a", "naïve", "分支", "x.y", "a@b"}, []string{"a/b", "", "HEAD", "-x", ".x", "x.lock", "a..b", "x.", "@"}},
		{"ambient/s1/*", []string{"ambient/s1/x", "ambient/s1/work-2", "ambient/s1/ü"}, []string{
			"ambient/s1", "ambient/s1/", "ambient/s1/a/b", "ambient/s2/x", "Ambient/s1/x", "ambient/S1/x",
			"ambient/s1//x", "ambient/s1/../../main", "ambient/s1/x.lock", "ambient/s1/.x", "refs/heads/ambient/s1/x",
			"ambient/s1/HEAD.lock", "ambient/s1/x@{1}", "ambient/s1/x\n",
		}},
		{"agent-*", []string{"agent-", "agent-1", "agent-a.b"}, []string{"agent", "agent-1/x", "xagent-1", "Agent-1"}},
		{"*-fix", []string{"a-fix", "a-fix-x-fix", "x-fix"}, []string{"-fix", "a-fix/b", "a-fixx"}},
		{"a*b*c", []string{"abc", "aXbYc", "abbc", "abcbc"}, []string{"ab", "acb", "a/b/c", "abcd"}},
		{"x/*/y", []string{"x/a/y", "x/any.thing/y"}, []string{"x/y", "x//y", "x/a/b/y", "x/a/y/z"}},
		{"*/*", []string{"a/b"}, []string{"a", "a/b/c", "/b", "a/"}},
	}
	for _, c := range cases {
		p, err := Parse(c.pattern)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.pattern, err)
		}
		for _, n := range c.yes {
			if !p.Match(n) {
				t.Errorf("%q should match %q", c.pattern, n)
			}
		}
		for _, n := range c.no {
			if p.Match(n) {
				t.Errorf("%q should not match %q", c.pattern, n)
			}
		}
	}
}

func TestCovers(t *testing.T) {
	cases := []struct {
		p, q string
		want bool
	}{
		{"*", "main", true},
		{"*", "*", true},
		{"*", "a*b", true},
		{"ambient/*", "ambient/s1", true},
		{"ambient/*", "ambient/s1*", true},
		{"ambient/*", "ambient/*", true},
		{"ambient/*", "ambient/s1/*", false}, // one segment cannot cover two
		{"ambient/*/*", "ambient/s1/*", true},
		{"ambient/s1/*", "ambient/*", false},
		{"main", "*", false},
		{"main", "main", true},
		{"main", "Main", false},
		{"a*", "a*b*", true},
		{"a*b", "a*", false},
		{"*-fix", "x-*", false},
		{"x-*", "x-*-y", true},
		{"*", "a/b", false},
		{"*/*", "a/*", true},
	}
	for _, c := range cases {
		p, q := mustParse(t, c.p), mustParse(t, c.q)
		if got := p.Covers(q); got != c.want {
			t.Errorf("%q.Covers(%q) = %v, want %v", c.p, c.q, got, c.want)
		}
	}
	var zero Pattern
	if zero.Covers(mustParse(t, "x")) || mustParse(t, "*").Covers(zero) || zero.Match("main") {
		t.Error("the zero Pattern covers or matches something")
	}
}

func TestScope(t *testing.T) {
	s, err := ParseScope([]string{"ambient/s1/*", "docs-fix"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"ambient/s1/x", "docs-fix"} {
		if !s.Allows(b) {
			t.Errorf("scope should allow %q", b)
		}
	}
	for _, b := range []string{"main", "ambient/s2/x", "docs-fix/x", "refs/heads/docs-fix"} {
		if s.Allows(b) {
			t.Errorf("scope should not allow %q", b)
		}
	}
	empty, err := ParseScope([]string{})
	if err != nil {
		t.Fatal(err)
	}
	if empty.Allows("main") || empty.Allows("x") {
		t.Error("an empty scope allows a branch")
	}
	if !s.Covers(empty) || empty.Covers(s) {
		t.Error("covers with the empty scope")
	}
	narrower, _ := ParseScope([]string{"ambient/s1/fix-*", "docs-fix"})
	if !s.Covers(narrower) || narrower.Covers(s) {
		t.Error("covers with a narrower scope")
	}
	if _, err := ParseScope(make([]string, 101)); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Errorf("101 patterns: %v", err)
	}
	_, err = ParseScope([]string{"ok", "refs/heads/x"})
	if err == nil || !strings.HasPrefix(err.Error(), "pattern 1 starts with \"refs/\"") {
		t.Errorf("a bad second pattern: %v", err)
	}
	if got := strings.Join(s.Patterns(), ","); got != "ambient/s1/*,docs-fix" {
		t.Errorf("Patterns() = %q", got)
	}
	same, _ := ParseScope([]string{"ambient/s1/*", "docs-fix"})
	if !s.Equal(same) || s.Equal(narrower) || s.Equal(empty) {
		t.Error("Equal")
	}
}

func mustParse(t testing.TB, s string) Pattern {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return p
}

// reference is Match written another way: a regular expression in which
// '*' is [^/]*, with the name's validity checked first.
func reference(pattern, name string) bool {
	if ValidBranchName(name) != nil {
		return false
	}
	parts := strings.Split(pattern, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile(`^` + strings.Join(parts, `[^/]*`) + `$`).MatchString(name)
}

// FuzzMatch: Match agrees with a regular expression.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"*", "main"}, {"a*b*c", "aXbYc"}, {"x/*/y", "x/a/y"}, {"ambient/*", "ambient/a/b"}, {"*-fix", "a-fix"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		p, err := Parse(pattern)
		if err != nil {
			return
		}
		if !utf8.ValidString(name) {
			return // the reference reads invalid bytes as U+FFFD
		}
		if got, want := p.Match(name), reference(pattern, name); got != want {
			t.Errorf("%q.Match(%q) = %v, the reference says %v", pattern, name, got, want)
		}
	})
}

// FuzzCovers: Covers is sound. When p covers q, every name q matches
// is matched by p: names made from q by filling each '*' with a
// '/'-free run taken from fill, and fill itself.
func FuzzCovers(f *testing.F) {
	for _, s := range [][3]string{{"*", "a*b", "xyz"}, {"ambient/*/*", "ambient/s1/*", "w-1"}, {"a*", "a*b*", "q"}, {"x-*", "x-*-y", "../"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, ptext, qtext, fill string) {
		p, err := Parse(ptext)
		if err != nil {
			return
		}
		q, err := Parse(qtext)
		if err != nil || !p.Covers(q) {
			return
		}
		runs := strings.Split(fill, "/")
		i := 0
		name := []byte{}
		for j := 0; j < len(qtext); j++ {
			if qtext[j] == '*' {
				name = append(name, runs[i%len(runs)]...)
				i++
				continue
			}
			name = append(name, qtext[j])
		}
		for _, n := range []string{string(name), fill} {
			if q.Match(n) && !p.Match(n) {
				t.Errorf("%q covers %q, and %q matches %q but %q does not", ptext, qtext, qtext, n, ptext)
			}
		}
	})
}
