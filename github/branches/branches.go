// Package branches is the pattern language of a session's write scope:
// which branches a role's token may create, update and delete.
//
// A pattern is a branch name (without "refs/heads/") in which '*' may
// appear. '*' matches any run of zero or more bytes other than '/', so it
// never crosses a '/'; "**" does not exist and is refused. A pattern must
// be a valid branch name once each '*' is read as a letter. Matching is
// byte for byte and case-sensitive, as git refs on GitHub are, and a name
// that is not a valid branch name matches nothing.
//
// The package knows nothing of Vault or the proxy; errors say what is
// wrong without repeating the input (callers quote values themselves).
package branches

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on a scope.
const (
	MaxPatterns   = 100
	MaxPatternLen = 255
)

// Pattern is one parsed branch pattern.
type Pattern struct {
	text string
}

// Parse parses one pattern.
func Parse(s string) (Pattern, error) {
	switch {
	case s == "":
		return Pattern{}, errors.New("is empty")
	case len(s) > MaxPatternLen:
		return Pattern{}, fmt.Errorf("is %d bytes long; at most %d", len(s), MaxPatternLen)
	case strings.HasPrefix(s, "refs/"):
		return Pattern{}, errors.New(`starts with "refs/": name the branch alone (without "refs/heads/")`)
	case strings.Contains(s, "**"):
		return Pattern{}, errors.New(`contains "**", which does not exist: '*' matches within one '/'-separated segment`)
	case !utf8.ValidString(s):
		return Pattern{}, errors.New("is not valid UTF-8")
	}
	if err := ValidBranchName(strings.ReplaceAll(s, "*", "a")); err != nil {
		return Pattern{}, err
	}
	return Pattern{text: s}, nil
}

// String is the pattern as written.
func (p Pattern) String() string { return p.text }

// Match reports whether branch (a name without "refs/heads/") is one the
// pattern names. An invalid branch name matches nothing.
func (p Pattern) Match(branch string) bool {
	if p.text == "" || ValidBranchName(branch) != nil {
		return false
	}
	return match(p.text, branch)
}

// Covers reports whether every branch q matches is matched by p. The
// rule: p covers q when p matches q's text with each '*' of q read as a
// literal byte. It is sound: a branch name never holds '*', so in any
// name q matches, each '*' of q became a '/'-free run; p's literal bytes
// (never '*') met only q's literal bytes, so every '*' of q was consumed
// by a '*' of p, which consumes that '/'-free run just as well. It is not
// complete: a containment that holds only because some names q spells
// are invalid, or only through several patterns of a scope together, is
// refused. A cover it reports always holds.
func (p Pattern) Covers(q Pattern) bool {
	if p.text == "" || q.text == "" {
		return false
	}
	return match(p.text, q.text)
}

// match is glob matching of name against pattern where '*' matches any
// run of bytes other than '/'. Segment counts must agree, since neither
// '*' nor any other byte of pattern matches a '/' but '/' itself.
func match(pattern, name string) bool {
	if strings.Count(pattern, "/") != strings.Count(name, "/") {
		return false
	}
	for {
		ps, prest, pmore := strings.Cut(pattern, "/")
		ns, nrest, _ := strings.Cut(name, "/")
		if !matchSegment(ps, ns) {
			return false
		}
		if !pmore {
			return true
		}
		pattern, name = prest, nrest
	}
}

// matchSegment matches one '/'-free segment: '*' matches any run of
// bytes. Linear backtracking over the last star (both are short).
func matchSegment(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// Scope is a list of patterns: the branches a session may write.
type Scope struct {
	patterns []Pattern
}

// ParseScope parses a list of patterns. An empty list is a scope that
// allows no branch. Errors name the entry by its index.
func ParseScope(list []string) (Scope, error) {
	if len(list) > MaxPatterns {
		return Scope{}, fmt.Errorf("%d patterns; at most %d", len(list), MaxPatterns)
	}
	s := Scope{patterns: make([]Pattern, 0, len(list))}
	for i, text := range list {
		p, err := Parse(text)
		if err != nil {
			return Scope{}, fmt.Errorf("pattern %d %v", i, err)
		}
		s.patterns = append(s.patterns, p)
	}
	return s, nil
}

// Allows reports whether the scope names branch.
func (s Scope) Allows(branch string) bool {
	for _, p := range s.patterns {
		if p.Match(branch) {
			return true
		}
	}
	return false
}

// Covers reports whether each of q's patterns is covered by one of s's
// (sound, not complete: see Pattern.Covers).
func (s Scope) Covers(q Scope) bool {
	for _, qp := range q.patterns {
		covered := false
		for _, sp := range s.patterns {
			if sp.Covers(qp) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// Patterns are the scope's patterns as written.
func (s Scope) Patterns() []string {
	out := make([]string, len(s.patterns))
	for i, p := range s.patterns {
		out[i] = p.text
	}
	return out
}

// Equal reports whether two scopes hold the same patterns in the same
// order.
func (s Scope) Equal(o Scope) bool {
	if len(s.patterns) != len(o.patterns) {
		return false
	}
	for i := range s.patterns {
		if s.patterns[i] != o.patterns[i] {
			return false
		}
	}
	return true
}

// ValidBranchName checks name against git check-ref-format's rules for
// "refs/heads/<name>" and git branch's own (not "HEAD", not starting with
// '-'). The error says which rule, never the name.
func ValidBranchName(name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case name == "HEAD":
		return errors.New(`is "HEAD", which is not a branch name`)
	case name == "@":
		return errors.New(`is "@", which git reads as HEAD`)
	case name[0] == '-':
		return errors.New("starts with '-'")
	case name[0] == '/':
		return errors.New("starts with '/'")
	case name[len(name)-1] == '/':
		return errors.New("ends with '/'")
	case name[len(name)-1] == '.':
		return errors.New("ends with '.'")
	case strings.Contains(name, "//"):
		return errors.New(`contains "//"`)
	case strings.Contains(name, ".."):
		return errors.New(`contains ".."`)
	case strings.Contains(name, "@{"):
		return errors.New(`contains "@{"`)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c < 0x20 || c == 0x7f:
			return errors.New("contains a control character")
		case c == ' ':
			return errors.New("contains a space")
		case strings.IndexByte("~^:?*[\\", c) >= 0:
			return fmt.Errorf("contains %q, which git does not allow in a branch name", rune(c))
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg[0] == '.' {
			return errors.New("has a '/'-separated part starting with '.'")
		}
		if strings.HasSuffix(seg, ".lock") {
			return errors.New(`has a '/'-separated part ending in ".lock"`)
		}
	}
	return nil
}

// BranchOfRef returns the branch a full ref names: ok only for
// "refs/heads/<branch>" with a valid branch name.
func BranchOfRef(ref string) (branch string, ok bool) {
	b, found := strings.CutPrefix(ref, "refs/heads/")
	if !found || ValidBranchName(b) != nil {
		return "", false
	}
	return b, true
}
