package backend

// What a role, a narrowing or an ad-hoc request may get is decided here,
// and only here, on one normalised form of the request:
//
//   - repository names compared case-insensitively (GitHub's rule), owner/name
//     resolved to the bare name with the owner checked against the
//     installation's account, repository ids resolved to names with GitHub
//     when a list of names limits them (or refused when they cannot be);
//   - permission names and levels folded to one spelling per Unicode case
//     class (so "Workflows" and "wor\u212aflows", with a Kelvin sign, are
//     "workflows");
//   - fields left out or empty resolved to what they mean: inside a bound,
//     empty repositories are the bound's repositories and empty permissions
//     its max_permissions; outside one, empty permissions are the config's
//     default_permissions (or max_permissions), and only when neither is
//     set everything the App was granted.
//
// Role writes, role reads (mint), narrowing writes and the ad-hoc token path
// all call scope, and a mint re-checks the stored role every time, so a
// bound or ceiling tightened later applies to the next mint.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// ceiling is an App's limit: its max_permissions (empty: everything the
// App was granted) and default_permissions.
type ceiling struct {
	max, defaults map[string]string
}

func (b *backend) ceiling(ctx context.Context, s logical.Storage, appName string) (ceiling, error) {
	_, _, cfg, err := b.clientFor(ctx, s, appName)
	if isNotConfigured(err) {
		return ceiling{}, nil
	}
	if err != nil {
		return ceiling{}, err
	}
	return ceiling{max: cfg.MaxPermissions, defaults: cfg.DefaultPermissions}, nil
}

// foldName maps s to one spelling per Unicode simple case-folding class:
// each rune becomes the lower case of the smallest rune it folds with. So
// "Workflows", "WORKFLOWS" and "wor\u212aflows" (Kelvin sign) are all
// "workflows", as strings.EqualFold would compare them.
func foldName(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < least {
				least = f
			}
		}
		return unicode.ToLower(least)
	}, s)
}

// foldPermissions returns perms with names and levels folded; a name that
// two entries fold to is refused.
func foldPermissions(field string, perms map[string]string) (map[string]string, string) {
	if len(perms) == 0 {
		return nil, ""
	}
	out := make(map[string]string, len(perms))
	for _, k := range sortedKeys(perms) {
		name, level := foldName(strings.TrimSpace(k)), foldName(strings.TrimSpace(perms[k]))
		if _, dup := out[name]; dup {
			return nil, fmt.Sprintf("%s: %s is given twice (names are compared case-insensitively)", field, quoted(name))
		}
		if permissionLevels[level] == 0 {
			return nil, fmt.Sprintf("%s: level %s for %s must be read, write or admin", field, quoted(level), quoted(name))
		}
		out[name] = level
	}
	return out, ""
}

// within refuses (403) any permission of perms that limit does not grant at
// that level. An empty limit grants everything.
func within(perms, limit map[string]string, limitName string) error {
	if len(limit) == 0 {
		return nil
	}
	for _, name := range sortedKeys(perms) {
		have, ok := limit[name]
		if !ok {
			return permissionDenied("permission %s is not in %s", quoted(name), limitName)
		}
		if permissionLevels[perms[name]] > permissionLevels[have] {
			return permissionDenied("permission %s=%s exceeds %s, which grants %s=%s", name, perms[name], limitName, name, have)
		}
	}
	return nil
}

func label(roleName string) string {
	if roleName == "" {
		return "the request"
	}
	return fmt.Sprintf("role %q", roleName)
}

// scope decides what r may mint, narrowed by the request d when d is not
// nil. It returns the role to mint with (repositories and permissions
// resolved as the package comment says), or a message for a 400, or an
// error: permissionDenied (403) naming the field, repository or
// permission that is out of bounds, or an internal error.
func (b *backend) scope(ctx context.Context, s logical.Storage, roleName string, r *role, d *framework.FieldData) (*role, string, error) {
	eff := *r
	perms, msg := foldPermissions("permissions", r.Permissions)
	if msg != "" {
		return nil, msg, nil
	}
	eff.Permissions = perms
	eff.Repositories = slices.Clone(r.Repositories)
	eff.RepositoryIDs = slices.Clone(r.RepositoryIDs)

	if r.Bound != "" {
		bd, err := b.getBound(ctx, s, r.Bound)
		if err != nil {
			return nil, "", err
		}
		if bd == nil {
			return nil, "", permissionDenied("bound: %s names bound %q, which does not exist", label(roleName), r.Bound)
		}
		if r.appName() != bd.appName() {
			return nil, "", permissionDenied("app: %s uses App %q, outside bound %q (App %q)", label(roleName), r.appName(), r.Bound, bd.appName())
		}
		if msg, err := b.inside(ctx, s, roleName, &eff, r.Bound, bd); msg != "" || err != nil {
			return nil, msg, err
		}
	}
	c, err := b.ceiling(ctx, s, r.appName())
	if err != nil {
		return nil, "", err
	}
	if len(eff.Permissions) == 0 {
		switch {
		case len(c.defaults) > 0:
			eff.Permissions = maps.Clone(c.defaults)
		case len(c.max) > 0:
			eff.Permissions = maps.Clone(c.max)
		}
	}
	if err := within(eff.Permissions, c.max, fmt.Sprintf("the max_permissions of App %q", r.appName())); err != nil {
		return nil, "", err
	}
	if d != nil {
		return b.narrowScope(ctx, s, roleName, &eff, d)
	}
	return &eff, "", nil
}

// inside fits eff into bound bd (named boundName): same installation,
// repositories among the bound's (empty: the bound's own), permissions at
// or under max_permissions (empty: max_permissions), ttl at or under
// max_ttl (0: max_ttl).
func (b *backend) inside(ctx context.Context, s logical.Storage, roleName string, eff *role, boundName string, bd *bound) (string, error) {
	if msg, err := b.sameInstallation(ctx, s, roleName, eff, boundName, bd); msg != "" || err != nil {
		return msg, err
	}

	names := slices.Clone(eff.repositories())
	if len(eff.RepositoryIDs) > 0 {
		resolved, msg, err := b.resolveIDs(ctx, s, eff, eff.RepositoryIDs)
		if msg != "" || err != nil {
			return msg, err
		}
		names = append(names, resolved...)
		eff.RepositoryIDs = nil
	}
	var repos []string
	switch {
	case len(names) > 0:
		seen := map[string]bool{}
		for _, n := range names {
			spelled, ok := bd.allows(n)
			if !ok {
				return "", permissionDenied("repository %s is outside bound %q", quoted(n), boundName)
			}
			if key := strings.ToLower(spelled); !seen[key] {
				seen[key] = true
				repos = append(repos, spelled)
			}
		}
	case slices.Contains(bd.Repositories, "*"):
		repos = nil // every repository of the installation
	case bd.globs():
		return fmt.Sprintf("repositories: bound %q lists patterns (%s), so %s must name its repositories", boundName, strings.Join(bd.Repositories, ","), label(roleName)), nil
	default:
		repos = slices.Clone(bd.Repositories)
	}
	eff.Repositories = repos

	if len(eff.Permissions) == 0 {
		eff.Permissions = maps.Clone(bd.MaxPermissions)
	} else if err := within(eff.Permissions, bd.MaxPermissions, fmt.Sprintf("bound %q", boundName)); err != nil {
		return "", err
	}

	if bd.MaxTTL > 0 {
		switch {
		case eff.TTL == 0:
			eff.TTL = bd.MaxTTL
		case eff.TTL > bd.MaxTTL:
			return "", permissionDenied("ttl: %s of %s exceeds bound %q's max_ttl %s", eff.TTL, label(roleName), boundName, bd.MaxTTL)
		}
	}
	return "", nil
}

// sameInstallation refuses a role whose installation is not the bound's.
func (b *backend) sameInstallation(ctx context.Context, s logical.Storage, roleName string, r *role, boundName string, bd *bound) (string, error) {
	outside := func() (string, error) {
		return "", permissionDenied("installation: %s is for %s, outside bound %q (%s)", label(roleName), r.selector(), boundName, bd.selector())
	}
	if bd.Owner != "" {
		account := r.owner()
		if account == "" {
			var err error
			if account, err = b.installationAccount(s)(ctx, r.appName(), r.InstallationID); err != nil {
				return lookupFailure(b.githubFailure(r.appName(), fmt.Sprintf("to find installation %d", r.InstallationID), err))
			}
		}
		if !strings.EqualFold(account, bd.Owner) {
			return outside()
		}
		return "", nil
	}
	id := r.InstallationID
	if id == 0 {
		a, client, _, err := b.clientFor(ctx, s, r.appName())
		if err != nil {
			return notConfigured(err)
		}
		if id, _, err = a.installationID(ctx, client, r); err != nil {
			return lookupFailure(a.githubFailure("to find the installation for "+r.selector(), err))
		}
	}
	if id != bd.InstallationID {
		return outside()
	}
	return "", nil
}

// resolveIDs turns repository ids into names by asking GitHub: it mints a
// metadata=read token for exactly those ids, reads the names GitHub
// answers with and revokes the token at once. Ids GitHub does not resolve
// in the role's installation are refused.
func (b *backend) resolveIDs(ctx context.Context, s logical.Storage, r *role, ids []int64) ([]string, string, error) {
	a, client, _, err := b.clientFor(ctx, s, r.appName())
	if err != nil {
		msg, err := notConfigured(err)
		return nil, msg, err
	}
	id, _, err := a.installationID(ctx, client, r)
	if err != nil {
		msg, err := lookupFailure(a.githubFailure("to find the installation for "+r.selector(), err))
		return nil, msg, err
	}
	tok, err := client.CreateToken(ctx, id, github.TokenRequest{RepositoryIDs: ids, Permissions: map[string]string{"metadata": "read"}})
	if err != nil {
		var apiErr *github.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode < 500 {
			return nil, "", permissionDenied("repository_ids: GitHub does not resolve %v to repositories of installation %d (HTTP %d)", ids, id, apiErr.StatusCode)
		}
		msg, err := lookupFailure(a.githubFailure(fmt.Sprintf("to resolve repository ids in installation %d", id), err))
		return nil, msg, err
	}
	if rerr := client.RevokeToken(ctx, tok.Token); rerr != nil {
		b.Logger().Warn("revoking the token that resolved repository ids failed", "installation_id", id, "hashed_token", github.HashToken(tok.Token), "error", rerr)
	}
	if len(tok.Repositories) != len(ids) {
		return nil, "", permissionDenied("repository_ids: GitHub resolved %d of the %d ids %v in installation %d", len(tok.Repositories), len(ids), ids, id)
	}
	return tok.Repositories, "", nil
}

// narrowScope cuts eff (already inside its bound and the ceiling) down to
// what the narrowing request d asks for; asking for more is a 403 naming
// what was asked. Empty values ask for nothing less: the role's scope.
func (b *backend) narrowScope(ctx context.Context, s logical.Storage, roleName string, eff *role, d *framework.FieldData) (*role, string, error) {
	out := *eff
	repoRaw, hasRepos := d.Raw["repositories"]
	idRaw, hasIDs := d.Raw["repository_ids"]
	if hasRepos || hasIDs {
		names, owners, msg := parseRepositories(repoRaw, eff.owner())
		if msg != "" {
			return nil, msg, nil
		}
		if len(owners) > 0 && eff.owner() == "" {
			account, err := b.installationAccount(s)(ctx, eff.appName(), eff.InstallationID)
			if err != nil {
				msg, err := lookupFailure(b.githubFailure(eff.appName(), fmt.Sprintf("to find installation %d", eff.InstallationID), err))
				return nil, msg, err
			}
			for _, o := range owners {
				if !strings.EqualFold(o, account) {
					return nil, "", permissionDenied("repositories: owner %s is not the account of installation %d that %s is for", quoted(o), eff.InstallationID, label(roleName))
				}
			}
		}
		ids, msg := parseRepositoryIDs(idRaw)
		if msg != "" {
			return nil, msg, nil
		}
		allowed := eff.repositories()
		if len(ids) > 0 && len(allowed) > 0 {
			// The role is a list of names: compare names.
			resolved, msg, err := b.resolveIDs(ctx, s, eff, ids)
			if msg != "" || err != nil {
				return nil, msg, err
			}
			names, ids = append(names, resolved...), nil
		}
		limited := len(allowed) > 0 || len(eff.RepositoryIDs) > 0
		for _, n := range names {
			if limited && !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, n) }) {
				return nil, "", permissionDenied("repository %s is not in %s", quoted(n), label(roleName))
			}
		}
		for _, id := range ids {
			if limited && !slices.Contains(eff.RepositoryIDs, id) {
				return nil, "", permissionDenied("repository id %d is not in %s", id, label(roleName))
			}
		}
		if len(names)+len(ids) > 0 {
			out.Repositories, out.RepositoryIDs = names, ids
		}
	}
	if raw, ok := d.Raw["permissions"]; ok {
		parsed, msg := parsePermissions(raw)
		if msg != "" {
			return nil, msg, nil
		}
		perms, msg := foldPermissions("permissions", parsed)
		if msg != "" {
			return nil, msg, nil
		}
		if err := within(perms, eff.Permissions, label(roleName)); err != nil {
			return nil, "", err
		}
		if len(perms) > 0 {
			out.Permissions = perms
		}
	}
	return &out, "", nil
}

// scopeForWrite checks a role about to be stored (the same decision a mint
// makes) and returns what to store: permissions folded, and inside a bound
// repository ids resolved to the names they were checked as.
func (b *backend) scopeForWrite(ctx context.Context, s logical.Storage, roleName string, r *role) (*role, string, error) {
	eff, msg, err := b.scope(ctx, s, roleName, r, nil)
	if msg != "" || err != nil {
		return nil, msg, err
	}
	out := *r
	out.Permissions, _ = foldPermissions("permissions", r.Permissions)
	if r.Bound != "" && len(r.RepositoryIDs) > 0 {
		out.Repositories, out.RepositoryIDs = eff.Repositories, nil
	}
	return &out, "", nil
}

// applyBound reads the request's bound field into r. A role names a bound
// by its exact name; an empty value is refused (a role's bound is removed
// by deleting the role). A role given no installation selector, now or
// before, takes the bound's.
func (b *backend) applyBound(ctx context.Context, s logical.Storage, r *role, d *framework.FieldData) (string, error) {
	raw, ok := d.Raw["bound"]
	if !ok {
		return "", nil
	}
	name, isString := raw.(string)
	if !isString {
		return fmt.Sprintf("bound: want the name of a bound, got %s", jsonKind(raw)), nil
	}
	if name == "" {
		return "bound: is empty; a role's bound cannot be removed by a write (an operator deletes the role and writes it again)", nil
	}
	if msg := checkBoundName("bound", name); msg != "" {
		return msg, nil
	}
	bd, err := b.getBound(ctx, s, name)
	if err != nil {
		return "", err
	}
	if bd == nil {
		return fmt.Sprintf("bound: no bound named %q", name), nil
	}
	r.Bound = name
	r.App = bd.App // a role inside a bound uses the bound's App
	sent := false
	for _, f := range []string{"installation_id", "owner", "repository"} {
		if _, ok := d.Raw[f]; ok {
			sent = true
		}
	}
	if !sent && r.InstallationID == 0 && r.Owner == "" && r.Repository == "" {
		r.InstallationID, r.Owner = bd.InstallationID, bd.Owner
	}
	return "", nil
}

// githubFailure answers a GitHub error met on behalf of the App called
// appName, counted under that App.
func (b *backend) githubFailure(appName, what string, err error) (*logical.Response, error) {
	return (&app{name: appName, b: b, metrics: b.metrics.forApp(appName)}).githubFailure(what, err)
}

// lookupFailure turns githubFailure's answer into scope's (msg, err).
func lookupFailure(resp *logical.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return resp.Error().Error(), nil
}

func notConfigured(err error) (string, error) {
	if isNotConfigured(err) {
		return err.Error(), nil
	}
	return "", err
}

// ceilingFields are an App's fields for its ceiling (config and apps/<name>).
func ceilingFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"max_permissions": {
			Type:        framework.TypeKVPairs,
			Description: "The most any role, bound, narrowing or ad-hoc mint of this mount may ask for, name to level. Empty: everything the App was granted.",
		},
		"default_permissions": {
			Type:        framework.TypeKVPairs,
			Description: "What a role that names no permissions and no bound gets; at or under max_permissions. Empty: max_permissions, or when that is empty too, everything the App was granted.",
		},
	}
}

// mergeCeiling applies the request's ceiling fields to cfg; an empty value
// resets a field. It returns a message naming the bad field, or "".
func mergeCeiling(cfg *appConfig, d *framework.FieldData) string {
	for _, f := range []struct {
		name string
		dst  *map[string]string
	}{{"max_permissions", &cfg.MaxPermissions}, {"default_permissions", &cfg.DefaultPermissions}} {
		raw, ok := d.Raw[f.name]
		if !ok {
			continue
		}
		parsed, msg := parsePermissions(raw)
		if msg != "" {
			return strings.Replace(msg, "permissions:", f.name+":", 1)
		}
		perms, msg := foldPermissions(f.name, parsed)
		if msg != "" {
			return msg
		}
		*f.dst = perms
	}
	if err := within(cfg.DefaultPermissions, cfg.MaxPermissions, "max_permissions"); err != nil {
		return "default_permissions: " + strings.TrimPrefix(err.Error(), logical.ErrPermissionDenied.Error()+": ")
	}
	return ""
}

// ceilingData adds the ceiling to a config read.
func ceilingData(cfg *appConfig, data map[string]any) {
	data["max_permissions"] = nonNilMap(cfg.MaxPermissions)
	data["default_permissions"] = nonNilMap(cfg.DefaultPermissions)
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// scopedMint is every mint: scope decides what r (narrowed by d, if not
// nil) may get, then that is minted.
func (b *backend) scopedMint(ctx context.Context, req *logical.Request, roleName string, r *role, d *framework.FieldData) (*logical.Response, error) {
	eff, msg, err := b.scope(ctx, req.Storage, roleName, r, d)
	if err != nil {
		if errors.Is(err, logical.ErrPermissionDenied) {
			b.metrics.forApp(r.appName()).failed("denied")
		}
		return nil, err
	}
	if msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	return b.mint(ctx, req, roleName, eff)
}

func errorOrMessage(msg string, err error) (*logical.Response, error) {
	if err != nil {
		return nil, err
	}
	return logical.ErrorResponse(msg), nil
}
