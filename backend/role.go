package backend

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

const rolePrefix = "roles/"

// role says which installation a token is for and what it may reach.
// Exactly one of InstallationID, Owner and Repository is set.
type role struct {
	InstallationID int64             `json:"installation_id,omitempty"`
	Owner          string            `json:"owner,omitempty"`
	Repository     string            `json:"repository,omitempty"` // owner/name
	Repositories   []string          `json:"repositories,omitempty"`
	RepositoryIDs  []int64           `json:"repository_ids,omitempty"`
	Permissions    map[string]string `json:"permissions,omitempty"`
	TTL            time.Duration     `json:"ttl,omitempty"`
	ExpiryBuffer   *time.Duration    `json:"expiry_buffer,omitempty"` // nil: the App's
	Bound          string            `json:"bound,omitempty"`         // scope.go: the role lies inside it
	// Branches are the branches its tokens may write (branches.go),
	// enforced by github-token-proxy; empty: unscoped.
	Branches branchList `json:"branches,omitzero"`
	// App names the GitHub App (app.go) the role mints through; empty (a
	// role written before there were several) is "default". Inside a bound
	// it is the bound's App.
	App string `json:"app,omitempty"`
}

// appName is the App the role mints through.
func (r *role) appName() string {
	if r.App == "" {
		return defaultApp
	}
	return r.App
}

// roleFields are the fields a role is written with; the ad-hoc token path
// takes them too.
func roleFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"app": {
			Type:        framework.TypeString,
			Description: "The App (apps/<name>) tokens are minted through; default \"default\", the App at config.",
		},
		"installation_id": {
			Type:        framework.TypeInt64,
			Description: "The installation to mint tokens for. Exactly one of installation_id, owner or repository.",
		},
		"owner": {
			Type:        framework.TypeString,
			Description: "The user or organization login the App is installed on (matched case-insensitively). Exactly one of installation_id, owner or repository.",
		},
		"repository": {
			Type:        framework.TypeString,
			Description: "owner/name of a repository; the installation that covers it is used, and tokens cover that repository unless repositories or repository_ids say otherwise. Exactly one of installation_id, owner or repository.",
		},
		"repositories": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Repository names the token covers (owner/name is accepted when the owner matches). Empty: every repository of the installation (inside a bound: the bound's). At most 500.",
		},
		"repository_ids": {
			Type:        framework.TypeCommaIntSlice,
			Description: "Repository ids the token covers.",
		},
		"permissions": {
			Type:        framework.TypeKVPairs,
			Description: "Permissions of the token, name to level (read, write, admin), e.g. contents=read,pull_requests=write. Empty: inside a bound, the bound's max_permissions; otherwise the App's default_permissions (or max_permissions), and when neither is set all the App was granted.",
		},
		"ttl": {
			Type:        framework.TypeDurationSecond,
			Description: "Lease TTL cap; 0 means the token's own life minus the expiry buffer. At most 1h. A shorter ttl cuts the token's life short: when Vault ends the lease, the engine revokes the token at GitHub.",
		},
		"expiry_buffer": {
			Type:        framework.TypeDurationSecond,
			Description: "Overrides the config's expiry_buffer for this role.",
		},
		"bound": {
			Type:        framework.TypeString,
			Description: "A bound (bounds/<name>) the role must lie inside; its empty repositories, permissions and branches are then the bound's. Without an installation selector the role uses the bound's.",
		},
		"branches": {
			Type:        framework.TypeCommaStringSlice,
			Description: branchesFieldHelp,
		},
	}
}

// installKey names the cached installation lookup the role depends on.
func (r *role) installKey() string {
	switch {
	case r.Owner != "":
		return "owner:" + strings.ToLower(r.Owner)
	case r.Repository != "":
		return "repo:" + strings.ToLower(r.Repository)
	}
	return ""
}

// owner is the account the role's repositories belong to, when known
// without asking GitHub.
func (r *role) owner() string {
	if r.Owner != "" {
		return r.Owner
	}
	owner, _, _ := strings.Cut(r.Repository, "/")
	return owner
}

func (r *role) selector() string {
	switch {
	case r.Owner != "":
		return fmt.Sprintf("owner %q", r.Owner)
	case r.Repository != "":
		return fmt.Sprintf("repository %q", r.Repository)
	}
	return fmt.Sprintf("installation %d", r.InstallationID)
}

// repositories is what the role's tokens cover: its list, or for a
// repository role without one, that repository.
func (r *role) repositories() []string {
	if len(r.Repositories) == 0 && len(r.RepositoryIDs) == 0 && r.Repository != "" {
		_, name, _ := strings.Cut(r.Repository, "/")
		return []string{name}
	}
	return r.Repositories
}

func (r *role) tokenRequest() github.TokenRequest {
	return github.TokenRequest{Repositories: r.repositories(), RepositoryIDs: r.RepositoryIDs, Permissions: r.Permissions}
}

func (r *role) data() map[string]any {
	d := map[string]any{
		"installation_id": r.InstallationID,
		"owner":           r.Owner,
		"repository":      r.Repository,
		"repositories":    nonNil(r.Repositories),
		"repository_ids":  nonNil(r.RepositoryIDs),
		"permissions":     r.Permissions,
		"ttl":             r.TTL.String(),
		"expiry_buffer":   nil, // the App's
		"bound":           r.Bound,
		"app":             r.appName(),
		"branches":        r.Branches.Patterns(),
	}
	if r.ExpiryBuffer != nil {
		d["expiry_buffer"] = r.ExpiryBuffer.String()
	}
	return d
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
