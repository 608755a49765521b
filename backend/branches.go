package backend

// A session's write scope: which branches its token may create, update and
// delete. The engine does not enforce it (GitHub cannot: no App permission
// names a branch); it keeps it on roles and bounds, decides it in scope.go
// like every other field (a bound's branches are a ceiling, a narrowing
// can only take patterns away), and hands the effective list out with the
// token, plain data, for github-token-proxy to enforce. The pattern
// language is github/branches: branch names without "refs/heads/", '*'
// within one '/'-separated part, "**" refused, case-sensitive.
//
// Containment (a role inside its bound, a narrowing inside its role) is
// branches.Scope.Covers: each pattern must be covered by one pattern of
// the wider list, where p covers q when p matches q's text with q's '*'
// read as a literal character. It is sound (a cover it reports always
// holds: no branch name holds '*') and not complete: a pattern covered
// only by several patterns together, or only because some names it spells
// are invalid, is refused.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ambient-code/vault-plugin-github-app/github/branches"
)

// branchList is the branches of a role, a bound or a narrowing: parsed
// when read from a request or from storage, stored as the patterns'
// text. The zero value (no patterns) is "not set": an unscoped role, a
// bound that leaves its roles free, a narrowing that keeps the role's.
type branchList struct {
	branches.Scope
}

// IsZero reports an empty list (for omitzero).
func (l branchList) IsZero() bool { return len(l.Patterns()) == 0 }

// MarshalJSON writes the patterns as written.
func (l branchList) MarshalJSON() ([]byte, error) {
	return json.Marshal(l.Patterns())
}

// UnmarshalJSON parses stored patterns; a stored list this release cannot
// parse is an error rather than a scope read some other way.
func (l *branchList) UnmarshalJSON(data []byte) error {
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("branches: %w", err)
	}
	s, err := branches.ParseScope(list)
	if err != nil {
		return fmt.Errorf("branches: stored %w", err)
	}
	l.Scope = s
	return nil
}

// parseBranches reads a branches field as clients send it: a JSON list of
// strings, or a comma-separated string (the CLI); "", [] and null are the
// empty list. Entries are trimmed and must each be a pattern; an exact
// duplicate is dropped. It returns a message naming the field and the
// first bad entry.
func parseBranches(field string, raw any) (branchList, string) {
	var list []string
	switch v := raw.(type) {
	case nil:
		return branchList{}, ""
	case string:
		if strings.TrimSpace(v) == "" {
			return branchList{}, ""
		}
		list = strings.Split(v, ",")
	case []string:
		list = slices.Clone(v)
	case []any:
		list = make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return branchList{}, fmt.Sprintf("%s: entry %d is %s, want a branch pattern (a string)", field, i+1, jsonKind(e))
			}
			list[i] = s
		}
	default:
		return branchList{}, fmt.Sprintf("%s: must be a list of branch patterns or a comma-separated string of them, got %s", field, jsonKind(raw))
	}
	if len(list) > branches.MaxPatterns {
		return branchList{}, fmt.Sprintf("%s: %d patterns given; at most %d", field, len(list), branches.MaxPatterns)
	}
	var texts []string
	for i, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			return branchList{}, fmt.Sprintf("%s: entry %d is empty", field, i+1)
		}
		if !slices.Contains(texts, s) {
			texts = append(texts, s)
		}
	}
	scope, err := branches.ParseScope(texts)
	if err != nil {
		// Name the entry: the package's message says what is wrong, never
		// the value.
		for _, s := range texts {
			if _, perr := branches.Parse(s); perr != nil {
				return branchList{}, fmt.Sprintf("%s: %s %v", field, quoted(s), perr)
			}
		}
		return branchList{}, fmt.Sprintf("%s: %v", field, err)
	}
	return branchList{scope}, ""
}

// fitBranches fits a role's branches into its bound's: none means the
// bound's; otherwise every pattern must be covered by one of the bound's
// (403 naming the first that is not). A bound without branches leaves the
// role's as they are.
func fitBranches(roleName string, eff *role, bd *bound) error {
	if bd.Branches.IsZero() {
		return nil
	}
	if eff.Branches.IsZero() {
		eff.Branches = bd.Branches
		return nil
	}
	if p, out := bd.Branches.Uncovered(eff.Branches.Scope); out {
		return permissionDenied("branches: pattern %s of %s is outside bound %q", quoted(p.String()), label(roleName), eff.Bound)
	}
	return nil
}

// narrowBranches cuts the effective branches of eff down to the narrowing
// q's, into out: each of q's patterns must be covered by one of eff's
// (any, when eff is unscoped), or it is a 403 naming the first that is
// not. A narrowing without branches keeps eff's.
func narrowBranches(roleName string, eff, out *role, q *scopeRequest) error {
	if !q.branchesSent || q.branches.IsZero() {
		return nil
	}
	if !eff.Branches.IsZero() {
		if p, more := eff.Branches.Uncovered(q.branches.Scope); more {
			return permissionDenied("branches: pattern %s is not within the branches of %s", quoted(p.String()), label(roleName))
		}
	}
	out.Branches = q.branches
	return nil
}

const (
	branchesFieldHelp       = `The branches the role's tokens may create, update and delete (its write scope, enforced by github-token-proxy): patterns that are branch names without "refs/heads/", where '*' matches within one '/'-separated part, e.g. ambient/s1/*; "**" does not exist; case-sensitive; at most 100. Empty: unscoped. Inside a bound with branches each must be covered by one of the bound's, and empty means the bound's.`
	boundBranchesFieldHelp  = `The most its roles' branches may name: each pattern a role names must be covered by one of these (p covers q when p matches q with q's '*' read as a literal character), and a role that names none gets these. Same pattern language as a role's branches. Empty: roles are free.`
	narrowBranchesFieldHelp = `Narrow the token's write scope to these branch patterns; each must be covered by one of the role's branches (any, when the role is unscoped).`
)
