package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

const (
	pathTokenHelpSyn  = "Mint a GitHub installation access token for a role."
	pathTokenHelpDesc = `
Reading token/<role> mints a fresh installation token with the role's scope,
as a lease that ends expiry_buffer before the token expires (or at the
role's ttl). The lease is not renewable; read again for a new token. When
Vault ends the lease (at its TTL or on a revoke), the engine revokes the
token at GitHub. Writing token/<role> with repositories, repository_ids,
permissions or branches narrows the token to a subset of the role; a read
with them as query parameters (token/<role>?repositories=web) narrows the
same way, it never ignores them. A narrowing parameter left out or empty
keeps the role's value; it never widens to the whole installation.

Besides the token the answer carries plain data for the session: branches,
the effective write scope github-token-proxy enforces ([] when unscoped),
and the App's bot identity for commits, bot_login (<slug>[bot]) and
bot_email (<id>+<slug>[bot]@users.noreply.github.com; the bot user's id is
looked up at GitHub once per App, and a failed lookup leaves bot_email out
with a warning rather than failing the mint).
`
	pathAdHocHelpSyn  = "Mint a GitHub installation access token with the scope given in the request (operators only)."
	pathAdHocHelpDesc = `
Writing token mints a token without a role: the request carries the role
fields (one of installation_id, owner or repository; repositories,
repository_ids, permissions, ttl, expiry_buffer, branches). The lease,
revocation and answer are as for token/<role>. Vault policies should keep this path from
workloads, which read token/<role> instead.
`
	// minLeaseTTL is the shortest lease handed out.
	minLeaseTTL = time.Second

	tokenPrefix = "token/"
)

func pathToken(b *backend) []*framework.Path {
	adhoc := roleFields()
	return []*framework.Path{
		b.parsedBy(narrowParser, &framework.Path{
			Pattern: tokenPrefix + namePattern,
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "token",
			},
			Fields: map[string]*framework.FieldSchema{
				"name": {
					Type:        framework.TypeString,
					Description: "Role to mint the token for (through the role's App).",
					Required:    true,
				},
				// Query: a read takes them as query parameters and narrows.
				"repositories":   narrowing(adhoc["repositories"], "Narrow the token to these repositories, each one the role covers (owner/name is accepted when the owner matches). Absent or empty: the role's."),
				"repository_ids": narrowing(adhoc["repository_ids"], "Narrow the token to these repository ids, each one the role covers. Absent or empty: the role's."),
				"permissions":    narrowing(adhoc["permissions"], "Narrow the token's permissions, name to level, each at most the role's level (e.g. contents=read). Absent or empty: the role's."),
				"branches": {
					Type:        framework.TypeCommaStringSlice,
					Description: narrowBranchesFieldHelp,
					Query:       true,
				},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathTokenRead,
					// A mint has a side effect outside Vault (a token at
					// GitHub) and creates a lease: a performance standby
					// forwards it to the active node.
					ForwardPerformanceStandby: true,
					Summary:                   "Mint a token with the role's scope.",
					DisplayAttrs:              &framework.DisplayAttributes{OperationVerb: "generate"},
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback:                  b.pathTokenNarrow,
					ForwardPerformanceStandby: true,
					Summary:                   "Mint a token narrowed to a subset of the role's repositories, permissions and branches.",
					DisplayAttrs:              &framework.DisplayAttributes{OperationVerb: "generate", OperationSuffix: "narrowed-token"},
				},
			},
			HelpSynopsis:    pathTokenHelpSyn,
			HelpDescription: pathTokenHelpDesc,
		}),
		b.parsedBy(roleParser, &framework.Path{
			Pattern: "token$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
			},
			Fields: adhoc,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:                  b.pathTokenAdHoc,
					ForwardPerformanceStandby: true,
					Summary:                   "Mint a token with role fields given inline (operators only).",
					DisplayAttrs:              &framework.DisplayAttributes{OperationVerb: "generate", OperationSuffix: "ad-hoc-token"},
				},
			},
			HelpSynopsis:    pathAdHocHelpSyn,
			HelpDescription: pathAdHocHelpDesc,
		}),
	}
}

// narrowing is a role field as token/<role> takes it: also a query
// parameter of a read, and described as a narrowing of the role.
func narrowing(f *framework.FieldSchema, description string) *framework.FieldSchema {
	q := *f
	q.Query = true
	q.Description = description
	return &q
}

func (b *backend) roleForToken(ctx context.Context, req *logical.Request, d *framework.FieldData) (string, *role, error) {
	name := fieldString(d, "name")
	if err := invalid(checkRoleName(name)); err != nil {
		return "", nil, err
	}
	r, err := b.getRole(ctx, req.Storage, name)
	if err != nil {
		return "", nil, err
	}
	if r == nil {
		return "", nil, badRequest("role %q does not exist", name)
	}
	return name, r, nil
}

// pathTokenRead and pathTokenNarrow mint for the role: a read with
// narrowing query parameters (repositories, repository_ids, permissions)
// narrows exactly as a write with them does; nothing is ignored.
func (b *backend) pathTokenRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return b.pathTokenNarrow(ctx, req, d)
}

func (b *backend) pathTokenNarrow(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	q, err := requestOf[*scopeRequest](ctx)
	if err != nil {
		return nil, err
	}
	name, r, err := b.roleForToken(ctx, req, d)
	if err != nil {
		return nil, err
	}
	return b.scopedMint(ctx, req, name, r, nil, q)
}

func (b *backend) pathTokenAdHoc(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	q, err := requestOf[*scopeRequest](ctx)
	if err != nil {
		return nil, err
	}
	r := &role{}
	if err := b.mergeRequest(ctx, req.Storage, r, q); err != nil {
		return nil, err
	}
	return b.scopedMint(ctx, req, "", r, q.repoOwners, nil)
}

// errStaleInstallation is a mint GitHub answered 404 for an installation
// id the decision took from the cache: scopedMint decides again.
var errStaleInstallation = errors.New("the cached installation is gone")

// mint mints exactly what the decision d says, for the installation it
// names, and wraps the token in a lease whose TTL follows the token's
// expires_at minus the expiry buffer.
func (b *backend) mint(ctx context.Context, req *logical.Request, roleName string, d *decision) (*logical.Response, error) {
	a, client, cfg, r, id := d.app, d.client, d.cfg, d.role, d.installationID
	tok, err := a.createToken(ctx, client, id, d.request, "no_lease")
	switch {
	case err != nil && d.cached && github.IsNotFound(err):
		return nil, errStaleInstallation
	case err != nil && r.InstallationID > 0 && github.IsNotFound(err):
		a.metrics.failed("github_404")
		return nil, badRequest("installation_id: App %q has no installation %d (GitHub answered the mint with 404 Not Found)", a.name, id)
	}
	if err != nil {
		ferr := a.githubFailure(fmt.Sprintf("to mint a token for installation %d", id), err)
		if isBadRequest(ferr) && githubStatus(err) == http.StatusUnprocessableEntity {
			// GitHub's 422 does not say which permission or repository it
			// refused; say what was asked.
			ferr = badRequest("%s; the request asked for %s", ferr, describeScope(d.request))
		}
		return nil, ferr
	}

	// The bot identity, before the lease is timed: a first lookup of the
	// App's bot user takes a moment of the token's life.
	botLogin, botEmail, botWarning := a.botIdentity(ctx, client, cfg, tok.Token)

	buffer := cfg.ExpiryBuffer
	if r.ExpiryBuffer != nil {
		buffer = *r.ExpiryBuffer
	}
	life := tok.ExpiresAt.Sub(b.now())
	ttl := (life - buffer).Truncate(time.Second)
	if r.TTL > 0 && r.TTL < ttl {
		ttl = r.TTL
	}
	if ttl < minLeaseTTL {
		// Never hand out a token without a lease to revoke it.
		a.revokeDetached(ctx, client, tok.Token, "no_lease", id)
		a.metrics.failed("no_lease_time")
		return nil, badRequest("expiry_buffer: %s leaves no lease time: GitHub's token for installation %d expires in %s; lower the expiry_buffer of the App %q or of the role", buffer, id, life.Round(time.Second), a.name)
	}

	// The lease's end as Vault stores it (its expire_time): Vault caps the
	// TTL at the mount's tuned max_lease_ttl, or the system's, with
	// framework.CalculateTTL, called here as Vault calls it, with the
	// mount's max read from Vault after this request arrived (a read
	// shared with the other mints under way: freshread.go). Rounded down
	// to the second: never after the lease ends. Templates read it rather
	// than adding the lease duration to the time they render at.
	sys := maxLeaseTTLView{SystemView: b.System(), max: b.maxLeaseTTL.get(ctx)}
	leaseTTL, _, err := framework.CalculateTTL(sys, 0, ttl, 0, ttl, 0, time.Time{})
	if err != nil {
		a.revokeDetached(ctx, client, tok.Token, "no_lease", id)
		a.metrics.failed("internal")
		return nil, fmt.Errorf("computing the lease of installation %d's token: %w", id, err)
	}

	data := map[string]any{
		"token":                tok.Token,
		"expires_at":           tok.ExpiresAt.Format(time.RFC3339),
		"lease_expires_at":     b.now().Add(leaseTTL).UTC().Truncate(time.Second).Format(time.RFC3339),
		"installation_id":      id,
		"permissions":          tok.Permissions,
		"repositories":         nonNil(tok.Repositories),
		"repository_selection": tok.RepositorySelection,
		"hashed_token":         github.HashToken(tok.Token),
		"branches":             r.Branches.Patterns(),
	}
	if botLogin != "" {
		data["bot_login"] = botLogin
	}
	if botEmail != "" {
		data["bot_email"] = botEmail
	}
	// Revocation needs only what the lease keeps: the host and CA that
	// issued the token, even after the role, or the App itself, is gone.
	internal := map[string]any{
		"token":           tok.Token,
		"base_url":        client.BaseURL(),
		"installation_id": id,
		"role":            roleName,
		"app":             a.name,
	}
	if cfg.CACertificate != "" {
		internal["ca_certificate"] = cfg.CACertificate
	}
	resp := b.Secret(secretTokenType).Response(data, internal)
	resp.Warnings = permissionWarnings(r.Permissions)
	if botWarning != "" {
		resp.Warnings = append(resp.Warnings, botWarning)
	}
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = ttl
	resp.Secret.Renewable = false
	// No log line per mint (Vault's audit log records each one): the
	// plugin's logger writes every level to Vault, which parses each line
	// before it looks at its own log level (TestMintLogsNothing).
	a.metrics.minted()
	return resp, nil
}

// installationID resolves the role's installation through the App's cache;
// hit reports a cached id.
func (a *app) installationID(ctx context.Context, client *github.Client, r *role) (id int64, hit bool, err error) {
	if r.InstallationID > 0 {
		return r.InstallationID, false, nil
	}
	id, hit, err = a.lookups(client).get(ctx, r.installKey(), a.b.now(), func(ctx context.Context) (resolved, error) {
		inst, err := lookupInstallation(ctx, client, r)
		if err != nil {
			return resolved{}, err
		}
		return resolved{id: inst.ID, account: inst.Account.Login}, nil
	})
	a.metrics.cache(hit)
	return id, hit, err
}

// lookupInstallation asks GitHub for the role's installation, by id, owner
// or repository, without any cache.
func lookupInstallation(ctx context.Context, client *github.Client, r *role) (*github.Installation, error) {
	var inst *github.Installation
	var err error
	switch {
	case r.InstallationID > 0:
		return client.Installation(ctx, r.InstallationID)
	case r.Owner != "":
		inst, err = client.OwnerInstallation(ctx, r.Owner)
	default:
		owner, repo, _ := strings.Cut(r.Repository, "/")
		inst, err = client.RepositoryInstallation(ctx, owner, repo)
	}
	if err != nil {
		return nil, err
	}
	// GitHub follows a renamed or transferred repository (301), and a
	// login can be renamed and taken by another account: the answer
	// must be the role owner's installation, or it is not used.
	if owner := r.owner(); !strings.EqualFold(inst.Account.Login, owner) {
		return nil, &movedError{role: r, account: inst.Account.Login, id: inst.ID}
	}
	return inst, nil
}

// githubFailure turns a GitHub error into the engine's answer, counted
// under the App, one status per cause (README.md, Monitoring): GitHub's
// refusals (4xx) are the caller's to fix (400 with GitHub's message), a
// mint whose outcome is unknown, the App refused, a rate limit or any other
// failure of GitHub's is a 502, and no answer in time (GitHub's timeout or
// the request's deadline, or the caller gone) a 504.
func (a *app) githubFailure(what string, err error) error {
	b := a.b
	var moved *movedError
	if errors.As(err, &moved) {
		a.metrics.failed("installation_moved")
		return badRequest("%s", moved.Error())
	}
	if github.UnusableToken(err) != "" {
		// createToken revokes it: no lease could follow it.
		a.metrics.failed("mint_unusable")
		return badGateway("GitHub failed %s: %v; the token is being revoked", what, err)
	}
	if github.IsAmbiguousMint(err) {
		// GitHub may have created a token we never received: no lease can
		// revoke it, and it expires at GitHub within the hour.
		a.metrics.failed("mint_ambiguous")
		b.Logger().Warn("GitHub's answer to a mint was lost or a server error; a token may exist at GitHub without a lease until it expires", "what", what)
		return badGateway("GitHub failed %s: %v", what, err)
	}
	if github.IsAppRefused(err) {
		// GitHub refused the App itself: nothing the caller can fix.
		a.metrics.failed("app_refused")
		hint := "check that the App's key is still registered at GitHub, that Vault's clock is right, and that the installation is not suspended"
		if github.IsSuspended(err) {
			hint = "the installation is suspended: its owner must unsuspend the App in the account's settings"
		}
		return badGateway("GitHub refused the App's own credentials %s (HTTP %d): %s; %s", what, githubStatus(err), apiMessage(err), hint)
	}
	if wait, ok := github.IsRateLimited(err); ok {
		a.metrics.failed("rate_limited")
		return upstreamRateLimited(what, wait)
	}
	var apiErr *github.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode < 500 {
		a.metrics.failed(fmt.Sprintf("github_%d", apiErr.StatusCode))
		return badRequest("GitHub refused %s (HTTP %d): %s", what, apiErr.StatusCode, apiErr.Message)
	}
	if github.IsTimeout(err) {
		a.metrics.failed("timeout")
		return gatewayTimeout("GitHub did not answer in time %s: %v", what, err)
	}
	if errors.Is(err, context.Canceled) {
		a.metrics.failed("canceled")
		return gatewayTimeout("the request ended before GitHub answered %s: %v", what, err)
	}
	a.metrics.failed("upstream")
	return badGateway("GitHub failed %s: %v", what, err)
}

// movedError is an installation lookup that answered with another account's
// installation than the role's owner.
type movedError struct {
	role    *role
	account string
	id      int64
}

func (e *movedError) Error() string {
	if e.role.Repository != "" {
		return fmt.Sprintf("repository: GitHub answered the lookup of %q with installation %d of account %q: the repository now lives under %q (renamed or transferred); update the role", e.role.Repository, e.id, e.account, e.account)
	}
	return fmt.Sprintf("owner: GitHub answered the lookup of %q with installation %d of account %q; update the role", e.role.Owner, e.id, e.account)
}

// describeScope names what a token request asked for, for GitHub's 422s,
// which do not say which permission or repository they refused.
func describeScope(tr github.TokenRequest) string {
	var parts []string
	if len(tr.Permissions) > 0 {
		var ps []string
		for _, name := range sortedKeys(tr.Permissions) {
			ps = append(ps, name+"="+tr.Permissions[name])
		}
		p := "permissions " + strings.Join(ps, ",")
		if unknown := unknownPermissions(tr.Permissions); len(unknown) > 0 {
			p += " (not known to this engine: " + strings.Join(unknown, ",") + ")"
		}
		parts = append(parts, p)
	}
	if n := len(tr.Repositories) + len(tr.RepositoryIDs); n > 0 {
		parts = append(parts, fmt.Sprintf("%d repositories", n))
	}
	if len(parts) == 0 {
		return "the installation's full scope"
	}
	return strings.Join(parts, " and ")
}

// githubStatus is the HTTP status of GitHub's answer in err, or 0.
func githubStatus(err error) int {
	var apiErr *github.APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// apiMessage is GitHub's (scrubbed) message in err.
func apiMessage(err error) string {
	var apiErr *github.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Message
	}
	return ""
}
