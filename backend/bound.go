package backend

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

const boundPrefix = "bounds/"

// bound is an operator's limit for a team or project. A role that names it
// (role.Bound) must lie inside it; scope.go decides what that means.
type bound struct {
	// Exactly one of InstallationID and Owner is set.
	InstallationID int64  `json:"installation_id,omitempty"`
	Owner          string `json:"owner,omitempty"`
	// Repositories are bare names or glob patterns (*, ?), never empty;
	// "*" is every repository of the installation.
	Repositories   []string          `json:"repositories"`
	MaxPermissions map[string]string `json:"max_permissions"`
	MaxTTL         time.Duration     `json:"max_ttl,omitempty"` // 0: a token's life
	// Branches are the most its roles' branches may name (branches.go);
	// empty: roles are free to name any, or none.
	Branches branchList `json:"branches,omitzero"`
	// App names the GitHub App (app.go) of the bound's installation; its
	// roles mint through it. Empty is "default".
	App string `json:"app,omitempty"`
}

// appName is the App the bound's roles mint through.
func (bd *bound) appName() string {
	if bd.App == "" {
		return defaultApp
	}
	return bd.App
}

func (bd *bound) selector() string {
	if bd.Owner != "" {
		return fmt.Sprintf("owner %q", bd.Owner)
	}
	return fmt.Sprintf("installation %d", bd.InstallationID)
}

// globs reports whether any repository entry is a pattern.
func (bd *bound) globs() bool {
	return slices.ContainsFunc(bd.Repositories, isGlob)
}

// allows returns the bound's spelling of repository name when the bound
// covers it: a literal entry matched case-insensitively, or a pattern.
func (bd *bound) allows(name string) (string, bool) {
	for _, e := range bd.Repositories {
		if !isGlob(e) && strings.EqualFold(e, name) {
			return e, true
		}
	}
	lower := strings.ToLower(name)
	for _, e := range bd.Repositories {
		if isGlob(e) {
			if ok, _ := path.Match(strings.ToLower(e), lower); ok {
				return name, true
			}
		}
	}
	return "", false
}

func (bd *bound) data() map[string]any {
	return map[string]any{
		"installation_id": bd.InstallationID,
		"owner":           bd.Owner,
		"repositories":    nonNil(bd.Repositories),
		"max_permissions": bd.MaxPermissions,
		"max_ttl":         bd.MaxTTL.String(),
		"app":             bd.appName(),
		"branches":        bd.Branches.Patterns(),
	}
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?") }

var repoGlobRe = regexp.MustCompile(`^[A-Za-z0-9._*?-]{1,100}$`)

// checkRepoGlob validates a bound's repository entry: a name, or a
// pattern of name characters with * and ?.
func checkRepoGlob(field, entry string) string {
	if !isGlob(entry) {
		return checkRepoName(field, entry)
	}
	if !repoGlobRe.MatchString(entry) {
		return fmt.Sprintf("%s: %s is not a repository name or pattern (letters, digits, '.', '_', '-', '*', '?')", field, quoted(entry))
	}
	return ""
}

// getBound returns a bound from the cache or storage; nil if there is none.
func (b *backend) getBound(ctx context.Context, s logical.Storage, name string) (*bound, error) {
	return b.bounds.load(ctx, s, name)
}

// rolesUsingBound lists the roles that name bound name, sorted.
func (b *backend) rolesUsingBound(ctx context.Context, s logical.Storage, name string) ([]string, error) {
	users, err := b.roles.where(ctx, s, func(r *role) bool { return r.Bound == name })
	if err != nil {
		return nil, err
	}
	slices.Sort(users)
	return users, nil
}
