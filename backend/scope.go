package backend

// What a role, a narrowing or an ad-hoc request may get is decided here,
// and only here, on the one typed form of the request that request.go
// parsed at the path handler (scope never sees raw request data):
//
//   - repository names compared case-insensitively (GitHub's rule), owner/name
//     resolved to the bare name with the owner checked against the
//     installation's account, repository ids resolved to names with GitHub
//     when a list of names limits them (or refused when they cannot be);
//   - permission names and levels lower-cased by parsePermissions (so
//     "Workflows" is "workflows"; a look-alike such as the Kelvin sign is
//     refused there by the name's shape);
//   - fields left out or empty resolved to what they mean: inside a bound,
//     empty repositories are the bound's repositories and empty permissions
//     its max_permissions; outside one, empty permissions are the config's
//     default_permissions (or max_permissions), and only when neither is
//     set everything the App was granted.
//
// Role writes, role reads (mint), narrowing writes, the ad-hoc token path and
// role checks all call scope, and a mint re-checks the stored role every
// time, so a bound or ceiling tightened later applies to the next mint.
//
// Decide once: scope returns its decision (the effective role, the App and
// client, the installation id, the token request), and a mint or a check
// acts on that value only. Nothing is looked up again after the decision,
// so a cache entry that ends or is dropped meanwhile, or an account
// reinstalled meanwhile, cannot put another installation under a decision
// taken for the first one.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

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

// scopeFor says what a decision is for.
type scopeFor int

const (
	// forWrite: a role write. GitHub is asked only what the decision
	// needs (an installation pin, repository ids, an account), and a role
	// of an App not yet configured may be written (as in v0.1.x).
	forWrite scopeFor = iota
	// forMint: a mint. The installation is resolved, through the App's
	// cache.
	forMint
	// forCheck: a role check. The installation is looked up at GitHub
	// anew (and cached for the mints after it), and GitHub's refusals of
	// that lookup are named by the role's field, as the check's are.
	forCheck
)

// decision is what scope decided: the one value a mint or a check acts on.
type decision struct {
	// role is the effective role: repositories, ids and permissions
	// resolved and narrowed, ttl and expiry_buffer as they apply.
	role *role
	// The App, its client and config the decision was taken with (nil for
	// a role write that did not need them).
	app    *app
	client *github.Client
	cfg    *appConfig
	// installationID is the installation the decision is for (0 for a
	// role write that did not need it); cached tells it came from the
	// App's cache, so GitHub's 404 for it may mean the cache is stale.
	installationID int64
	cached         bool
	// request is exactly what is asked of GitHub.
	request github.TokenRequest
}

// fail answers a GitHub error met while deciding: as a mint's failure, or
// for a check as the check names its refusals (field first).
func (d *decision) fail(p scopeFor, field, what string, err error) error {
	if p == forCheck {
		return d.app.checkRefusal(field, what, err, nil)
	}
	return d.app.githubFailure(what, err)
}

// resolve fills in the installation the role r is for: its own id, or the
// installation of its owner or repository through the App's cache (looked
// up anew for a check). It is resolved once per decision.
func (d *decision) resolve(ctx context.Context, p scopeFor, r *role) error {
	switch {
	case d.installationID != 0:
		return nil
	case r.InstallationID > 0:
		d.installationID = r.InstallationID
		return nil
	case d.client == nil:
		return appNotConfigured(r.appName())
	}
	if p == forCheck {
		d.app.lookups(d.client).drop(r.installKey())
	}
	id, hit, err := d.app.installationID(ctx, d.client, r)
	if err != nil {
		return d.fail(p, selectorField(r), "to find the installation for "+r.selector(), err)
	}
	d.installationID, d.cached = id, hit
	return nil
}

// scope decides what r may mint, for p, and returns the decision
// (repositories and permissions resolved as the package comment says), or
// a coded error: a 400 naming the field, permissionDenied (403) naming the
// field, repository or permission that is out of bounds, or an internal
// error.
//
// owners are the accounts the request's owner/name repository entries named
// (a role write or an ad-hoc mint; a stored role keeps bare names). narrow,
// when not nil, is a narrowing (token/<role>) that cuts the result down.
//
// The order of the checks is the order of this function: first everything
// decided from storage alone (the bound and its App, the installation pin,
// the owners, repositories by name and by listed id, permissions, ttl, the
// App's ceiling, the narrowing), then what only GitHub can tell (an
// installation to resolve for the pin, an installation's account,
// repository ids to resolve to names, the installation a mint is for). So
// a request outside its bound makes no call to GitHub, and a refusal of a
// repository id names the id, never the name GitHub resolved it to.
func (b *backend) scope(ctx context.Context, s logical.Storage, p scopeFor, roleName string, r *role, owners []string, narrow *scopeRequest) (*decision, error) {
	eff := *r
	eff.Permissions = maps.Clone(r.Permissions)
	eff.Repositories = slices.Clone(r.Repositories)
	eff.RepositoryIDs = slices.Clone(r.RepositoryIDs)

	// The bound, its App and the installation pin, from storage.
	var bd *bound
	pinned := true // the installation pin is decided (or there is none)
	if r.Bound != "" {
		var err error
		if bd, err = b.getBound(ctx, s, r.Bound); err != nil {
			return nil, err
		}
		if bd == nil {
			return nil, permissionDenied("bound: %s names bound %q, which does not exist", label(roleName), r.Bound)
		}
		if r.appName() != bd.appName() {
			return nil, permissionDenied("app: %s uses App %q, outside bound %q (App %q)", label(roleName), r.appName(), r.Bound, bd.appName())
		}
		switch {
		case bd.Owner != "" && r.owner() != "":
			if !strings.EqualFold(r.owner(), bd.Owner) {
				return nil, outsideBound(roleName, r, bd)
			}
		case bd.InstallationID != 0 && r.InstallationID != 0:
			if r.InstallationID != bd.InstallationID {
				return nil, outsideBound(roleName, r, bd)
			}
		default:
			pinned = false
		}
	}

	// The owners of owner/name entries, against the account when it is
	// known without GitHub: the role's owner, or its owner bound's.
	account := r.owner()
	if account == "" && bd != nil {
		account = bd.Owner
	}
	var narrowOwners []string
	if narrow != nil {
		narrowOwners = narrow.repoOwners
	}
	if account != "" {
		for _, o := range owners {
			if !strings.EqualFold(o, account) {
				return nil, badRequest("repositories: owner %s is not %s's owner %q", quoted(o), label(roleName), account)
			}
		}
		for _, o := range narrowOwners {
			if !strings.EqualFold(o, account) {
				return nil, permissionDenied("repositories: owner %s is not %s's owner %q", quoted(o), label(roleName), account)
			}
		}
	}

	// Inside the bound: repositories by name (ids are resolved below),
	// permissions, ttl.
	if bd != nil {
		if err := fitBound(roleName, &eff, bd); err != nil {
			return nil, err
		}
	}

	// The App (its client is kept for all that follows) and its ceiling.
	d := &decision{}
	a, client, cfg, err := b.clientFor(ctx, s, r.appName())
	switch {
	case err == nil:
		d.app, d.client, d.cfg = a, client, cfg
	case isNotConfigured(err) && p == forWrite:
		// No ceiling; GitHub cannot be asked (resolve says so if needed).
	default:
		if p == forMint {
			reason := "internal"
			if isNotConfigured(err) {
				reason = "not_configured"
			}
			a.metrics.failed(reason)
		}
		return nil, err
	}
	var c ceiling
	if cfg != nil {
		c = ceiling{max: cfg.MaxPermissions, defaults: cfg.DefaultPermissions}
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
		return nil, err
	}

	// The narrowing, as far as the role's own lists decide it.
	out := eff
	var resolveNarrow []int64 // ids only GitHub can place among the role's names
	if narrow.narrows() {
		if resolveNarrow, err = narrowLocally(roleName, &eff, &out, narrow); err != nil {
			return nil, err
		}
	}

	// Only now GitHub: the pin, the account, repository ids.
	if !pinned {
		if err := b.sameInstallation(ctx, p, d, roleName, r, bd); err != nil {
			return nil, err
		}
	}
	if account == "" && r.InstallationID != 0 && len(owners)+len(narrowOwners) > 0 {
		if d.client == nil {
			return nil, appNotConfigured(r.appName())
		}
		inst, err := d.client.Installation(ctx, r.InstallationID)
		if err != nil {
			return nil, d.app.installationFailure(r.InstallationID, err)
		}
		login := inst.Account.Login
		for _, o := range owners {
			if !strings.EqualFold(o, login) {
				return nil, badRequest("repositories: owner %s is not the account of installation %d (%q)", quoted(o), r.InstallationID, login)
			}
		}
		for _, o := range narrowOwners {
			if !strings.EqualFold(o, login) {
				return nil, permissionDenied("repositories: owner %s is not the account of installation %d that %s is for", quoted(o), r.InstallationID, label(roleName))
			}
		}
	}
	if bd != nil && len(eff.RepositoryIDs) > 0 {
		byID, err := b.resolveIDs(ctx, p, d, r, eff.RepositoryIDs, fmt.Sprintf("outside bound %q", r.Bound))
		if err != nil {
			return nil, err
		}
		for _, id := range eff.RepositoryIDs {
			spelled, ok := bd.allows(byID[id])
			if !ok {
				return nil, permissionDenied("repository id %d is outside bound %q", id, r.Bound)
			}
			if !slices.ContainsFunc(eff.Repositories, func(n string) bool { return strings.EqualFold(n, spelled) }) {
				eff.Repositories = append(eff.Repositories, spelled)
			}
		}
		eff.RepositoryIDs = nil
		if narrow == nil || len(narrow.repositories)+len(narrow.repositoryIDs) == 0 {
			out.Repositories, out.RepositoryIDs = eff.Repositories, nil
		}
	}
	if len(resolveNarrow) > 0 {
		byID, err := b.resolveIDs(ctx, p, d, r, resolveNarrow, "not in "+label(roleName))
		if err != nil {
			return nil, err
		}
		for _, id := range resolveNarrow {
			if !slices.ContainsFunc(eff.repositories(), func(a string) bool { return strings.EqualFold(a, byID[id]) }) {
				return nil, permissionDenied("repository id %d is not in %s", id, label(roleName))
			}
			out.Repositories = append(out.Repositories, byID[id])
		}
	}
	// What a mint or a check is for: the installation, once.
	if p != forWrite {
		if err := d.resolve(ctx, p, r); err != nil {
			return nil, err
		}
	}
	d.role, d.request = &out, out.tokenRequest()
	return d, nil
}

func outsideBound(roleName string, r *role, bd *bound) error {
	return permissionDenied("installation: %s is for %s, outside bound %q (%s)", label(roleName), r.selector(), r.Bound, bd.selector())
}

// fitBound fits eff into its bound bd, from storage alone: repositories
// among the bound's (empty: the bound's own; ids are left to scope, which
// resolves them), permissions at or under max_permissions (empty:
// max_permissions), ttl at or under max_ttl (0: max_ttl).
func fitBound(roleName string, eff *role, bd *bound) error {
	names := eff.repositories()
	var repos []string
	switch {
	case len(names) > 0:
		seen := map[string]bool{}
		for _, n := range names {
			spelled, ok := bd.allows(n)
			if !ok {
				return permissionDenied("repository %s is outside bound %q", quoted(n), eff.Bound)
			}
			if key := strings.ToLower(spelled); !seen[key] {
				seen[key] = true
				repos = append(repos, spelled)
			}
		}
	case len(eff.RepositoryIDs) > 0:
		// Resolved with GitHub once everything local is decided.
	case slices.Contains(bd.Repositories, "*"):
		repos = nil // every repository of the installation
	case bd.globs():
		return badRequest("repositories: bound %q lists patterns (%s), so %s must name its repositories", eff.Bound, strings.Join(bd.Repositories, ","), label(roleName))
	default:
		repos = slices.Clone(bd.Repositories)
	}
	eff.Repositories = repos

	if len(eff.Permissions) == 0 {
		eff.Permissions = maps.Clone(bd.MaxPermissions)
	} else if err := within(eff.Permissions, bd.MaxPermissions, fmt.Sprintf("bound %q", eff.Bound)); err != nil {
		return err
	}

	if bd.MaxTTL > 0 {
		switch {
		case eff.TTL == 0:
			eff.TTL = bd.MaxTTL
		case eff.TTL > bd.MaxTTL:
			return permissionDenied("ttl: %s of %s exceeds bound %q's max_ttl %s", eff.TTL, label(roleName), eff.Bound, bd.MaxTTL)
		}
	}
	return nil
}

// narrowLocally cuts eff (inside its bound and the ceiling) down to what the
// narrowing q asks for, into out; asking for more is a 403 naming what was
// asked. Empty values ask for nothing less: the role's scope. Ids the role
// lists are decided here; ids of a role that lists names can only be placed
// by resolving them with GitHub: they are returned for scope to resolve.
func narrowLocally(roleName string, eff, out *role, q *scopeRequest) ([]int64, error) {
	var resolve []int64
	if q.reposSent || q.idsSent {
		allowed := eff.repositories()
		limited := len(allowed) > 0 || len(eff.RepositoryIDs) > 0
		for _, n := range q.repositories {
			if limited && !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, n) }) {
				return nil, permissionDenied("repository %s is not in %s", quoted(n), label(roleName))
			}
		}
		var ids []int64
		for _, id := range q.repositoryIDs {
			switch {
			case !limited || slices.Contains(eff.RepositoryIDs, id):
				ids = append(ids, id)
			case len(allowed) == 0:
				return nil, permissionDenied("repository id %d is not in %s", id, label(roleName))
			default:
				resolve = append(resolve, id)
			}
		}
		if len(q.repositories)+len(q.repositoryIDs) > 0 {
			out.Repositories, out.RepositoryIDs = slices.Clone(q.repositories), ids
		}
	}
	if q.permsSent {
		if err := within(q.permissions, eff.Permissions, label(roleName)); err != nil {
			return nil, err
		}
		if len(q.permissions) > 0 {
			out.Permissions = q.permissions
		}
	}
	return resolve, nil
}

// sameInstallation is the installation pin that storage alone cannot
// decide. A role given by owner or repository inside an installation_id
// bound resolves its installation (the decision's: it is not resolved
// again); a role given by installation_id inside an owner bound resolves
// the bound's owner. Both go through the App's installation cache, so a
// mint makes no extra call while it is warm.
func (b *backend) sameInstallation(ctx context.Context, p scopeFor, d *decision, roleName string, r *role, bd *bound) error {
	if d.client == nil {
		return appNotConfigured(r.appName())
	}
	var id, want int64
	if bd.Owner != "" {
		owner := &role{Owner: bd.Owner, App: bd.App}
		var err error
		if want, _, err = d.app.installationID(ctx, d.client, owner); err != nil {
			return d.app.githubFailure(fmt.Sprintf("to find the installation of bound %q's owner %q", r.Bound, bd.Owner), err)
		}
		id = r.InstallationID
	} else {
		if err := d.resolve(ctx, p, r); err != nil {
			return err
		}
		id, want = d.installationID, bd.InstallationID
	}
	if id != want {
		return outsideBound(roleName, r, bd)
	}
	return nil
}

// installationFailure answers a failed read of installation id: GitHub's
// 404 names the field and the App.
func (a *app) installationFailure(id int64, err error) error {
	if github.IsNotFound(err) {
		return badRequest("installation_id: App %q has no installation %d", a.name, id)
	}
	return a.githubFailure(fmt.Sprintf("to read installation %d", id), err)
}

// resolveIDs turns repository ids into names by asking GitHub, the only
// one that knows them: an App's JWT can find the installation of a
// repository id, but only an installation token can read its name. So it
// mints a metadata=read token for exactly those ids, reads the names GitHub
// answers with and revokes the token in the background (revokeDetached).
// The names are for the decision only and never reach a message: ids GitHub
// does not resolve in the role's installation are refused by id, in the
// same words as ids it resolves outside the role or bound (where says
// which), so a refusal does not even tell whether an id exists.
func (b *backend) resolveIDs(ctx context.Context, p scopeFor, d *decision, r *role, ids []int64, where string) (map[int64]string, error) {
	if err := d.resolve(ctx, p, r); err != nil {
		return nil, err
	}
	id := d.installationID
	refused := func() error {
		if len(ids) == 1 {
			return permissionDenied("repository id %d is %s", ids[0], where)
		}
		return permissionDenied("repository ids %s: at least one is %s", joinIDs(ids), where)
	}
	tok, err := d.app.createToken(ctx, d.client, id, github.TokenRequest{RepositoryIDs: ids, Permissions: map[string]string{"metadata": "read"}}, "resolve_ids")
	if err != nil {
		var apiErr *github.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode < 500 {
			return nil, refused()
		}
		return nil, d.app.githubFailure(fmt.Sprintf("to resolve repository ids in installation %d", id), err)
	}
	d.app.revokeDetached(ctx, d.client, tok.Token, "resolve_ids", id)
	byID := make(map[int64]string, len(tok.Repositories))
	for i, name := range tok.Repositories {
		if i < len(tok.RepositoryIDs) {
			byID[tok.RepositoryIDs[i]] = name
		}
	}
	for _, want := range ids {
		if _, ok := byID[want]; !ok {
			return nil, refused()
		}
	}
	return byID, nil
}

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ", ")
}

// scopeForWrite checks a role about to be stored (the same decision a mint
// makes) and returns what to store: inside a bound, repository ids resolved
// to the names they were checked as.
func (b *backend) scopeForWrite(ctx context.Context, s logical.Storage, roleName string, r *role, owners []string) (*role, error) {
	d, err := b.scope(ctx, s, forWrite, roleName, r, owners, nil)
	if err != nil {
		return nil, err
	}
	out := *r
	if r.Bound != "" && len(r.RepositoryIDs) > 0 {
		out.Repositories, out.RepositoryIDs = d.role.Repositories, nil
	}
	return &out, nil
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

// scopedMint is every mint: scope decides what r (narrowed by narrow, if
// not nil) may get, then exactly that is minted. When GitHub answers 404
// for an installation id the decision took from the cache (the App was
// reinstalled), the lookup is dropped and the whole decision taken again,
// so that the new installation is checked against the role's bound (its
// installation, its owner) before anything is minted for it. A 404 minted
// nothing, and the second decision's installation is looked up anew, so
// this mints at most once.
func (b *backend) scopedMint(ctx context.Context, req *logical.Request, roleName string, r *role, owners []string, narrow *scopeRequest) (*logical.Response, error) {
	for again := false; ; again = true {
		d, err := b.scope(ctx, req.Storage, forMint, roleName, r, owners, narrow)
		if err != nil {
			if errors.Is(err, logical.ErrPermissionDenied) {
				b.metrics.forApp(r.appName()).failed("denied")
			}
			return nil, err
		}
		if again {
			d.cached = false // looked up after the drop: a 404 is GitHub's answer
		}
		resp, err := b.mint(ctx, req, roleName, d)
		if errors.Is(err, errStaleInstallation) {
			d.app.lookups(d.client).drop(r.installKey())
			continue
		}
		return resp, err
	}
}
