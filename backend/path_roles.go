package backend

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	pathRolesHelpSyn  = "Manage roles: which installation, repositories and permissions a token gets."
	pathRolesHelpDesc = `
A role names one installation (installation_id, owner or repository) and
optionally narrows its tokens to repositories and permissions. Reading
token/<role> mints a token with that scope.

Names: letters, digits, '-' and '_', starting and ending with a letter,
digit or '_', at most 128 characters. Use '_' to separate a team or
namespace from the rest (team-a_web), so that a policy glob such as
token/team-a_* cannot match another team's roles. Name roles that a
templated policy reaches in lower case: AppRole lower-cases its role names
(and Kubernetes names are lower case), so a session role with capitals is
never reached through them. Capitals are not refused, since roles reached
by plain paths may use them.

Writes merge: a field that is not sent keeps its value; a field sent empty
(permissions= or repositories= on the CLI, "" or [] over the API) is reset:
repositories and permissions to none (the installation's full scope), ttl to
0 (the token's life minus the buffer), expiry_buffer to the config's.
`
	pathRoleCheckHelpDesc = `
Reading roles/<name>/check resolves the role's installation without the
cache, reads what the installation was granted, mints a token with exactly
the role's scope through the role's App and revokes it at once; no lease is
made. It reports the installation id, account and account type, the
repositories (name and id) and permissions granted, the repository selection,
and warnings: a permission the role asks for that the installation lacks, or
at a level above the installation's. When GitHub refuses, the answer is a 400
with GitHub's message and the field it concerns; when it refuses the
repositories, the check lists what the installation reaches (with a
metadata=read token of its own, revoked at once) and names the repositories
and ids it cannot reach. The check's tokens are revoked even if the caller
has gone; "revoked" is false when GitHub did not confirm the revocation (the
token then lives until it expires).
`
	// namePattern matches any name so that a bad one gets a 400 naming the
	// field rather than Vault's "unsupported path".
	namePattern = `(?P<name>.+)`
)

func pathRoles(b *backend) []*framework.Path {
	fields := roleFields()
	fields["name"] = &framework.FieldSchema{
		Type:        framework.TypeString,
		Description: "Role name: letters, digits, '-' and '_', starting and ending with a letter, digit or '_', at most 128 characters.",
		Required:    true,
	}
	fields["check"] = &framework.FieldSchema{
		Type:        framework.TypeBool,
		Description: "Check the role with GitHub before storing it (as roles/<name>/check does); nothing is stored if GitHub refuses.",
	}
	return []*framework.Path{
		{
			// Before roles/<name>, whose pattern would take it.
			Pattern: rolePrefix + `(?P<name>[^/]+)/check$`,
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "role",
			},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Description: "Role to check.", Required: true},
				"app": {
					Type:        framework.TypeString,
					Description: "When given, the App the role must use (a policy may require app on reads); a role of another App is a 400.",
					Query:       true,
				},
				"bound": {
					Type:        framework.TypeString,
					Description: "When given, the bound the role must lie inside (a policy may require bound on reads); a role of another bound is a 400.",
					Query:       true,
				},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathRoleCheck,
					// It mints (and revokes) a token at GitHub: the active
					// node does it.
					ForwardPerformanceStandby: true,
					Summary:                   "Check a role with GitHub: resolve its installation afresh, mint a token with exactly its scope and revoke it at once. No lease.",
					DisplayAttrs:              &framework.DisplayAttributes{OperationVerb: "check"},
				},
			},
			HelpSynopsis:    "Check a role with GitHub before a session needs it.",
			HelpDescription: pathRoleCheckHelpDesc,
		},
		{
			Pattern: rolePrefix + "?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "roles",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     b.pathRolesList,
					Summary:      "List roles.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
				},
			},
			HelpSynopsis:    pathRolesHelpSyn,
			HelpDescription: pathRolesHelpDesc,
		},
		b.parsedBy(roleParser, &framework.Path{
			Pattern: rolePrefix + namePattern,
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "role",
			},
			Fields:         fields,
			ExistenceCheck: b.roleExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:     b.pathRoleRead,
					Summary:      "Read a role.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
				},
				logical.CreateOperation: &framework.PathOperation{
					Callback:     b.pathRoleWrite,
					Summary:      "Create a role.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "write"},
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback:     b.pathRoleWrite,
					Summary:      "Update a role; fields not sent keep their values.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "write"},
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback:     b.pathRoleDelete,
					Summary:      "Delete a role. Its leases are still revoked at GitHub when they end.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "delete"},
				},
			},
			HelpSynopsis:    pathRolesHelpSyn,
			HelpDescription: pathRolesHelpDesc,
		}),
	}
}

func (b *backend) roleExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name := fieldString(d, "name")
	if checkRoleName(name) != "" {
		return false, nil
	}
	r, err := b.getRole(ctx, req.Storage, name)
	return r != nil, err
}

// getRole returns a role from the cache, or storage; nil if there is none.
func (b *backend) getRole(ctx context.Context, s logical.Storage, name string) (*role, error) {
	return b.roles.load(ctx, s, name)
}

// forgetRole drops a role and the installation lookup it depends on (in
// its App's cache).
func (b *backend) forgetRole(name string) {
	if r, ok := b.roles.peek(name); ok && r.installKey() != "" {
		if a := b.existingApp(r.appName()); a != nil {
			a.currentLookups().drop(r.installKey())
		}
	}
	b.roles.drop(name)
}

func (b *backend) pathRolesList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing roles: %w", err)
	}
	return logical.ListResponse(names), nil
}

func (b *backend) pathRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := fieldString(d, "name")
	if err := invalid(checkRoleName(name)); err != nil {
		return nil, err
	}
	r, err := b.getRole(ctx, req.Storage, name)
	if err != nil || r == nil {
		return nil, err
	}
	data := r.data()
	if a := b.existingApp(r.appName()); a != nil && r.installKey() != "" {
		if res, ok := a.currentLookups().peek(r.installKey(), b.now()); ok {
			data["installation_id_resolved"] = res.id
			data["account"] = res.account
		}
	}
	return &logical.Response{Data: data}, nil
}

func (b *backend) pathRoleCheck(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := fieldString(d, "name")
	if err := invalid(checkRoleName(name)); err != nil {
		return nil, err
	}
	r, err := b.getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, badRequest("role %q does not exist", name)
	}
	if app := strings.TrimSpace(fieldString(d, "app")); app != "" && app != r.appName() {
		return nil, badRequest("app: role %q uses App %q, not %q", name, r.appName(), app)
	}
	if _, sent := d.GetOk("bound"); sent && fieldString(d, "bound") != r.Bound {
		return nil, badRequest("bound: role %q lies inside bound %q, not %q", name, r.Bound, fieldString(d, "bound"))
	}
	data, err := b.checkRole(ctx, req.Storage, name, r)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: data}, nil
}

func (b *backend) pathRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := fieldString(d, "name")
	if err := invalid(checkRoleName(name)); err != nil {
		return nil, err
	}
	q, err := requestOf[*scopeRequest](ctx)
	if err != nil {
		return nil, err
	}
	// Against the App as it is stored: no App change meanwhile.
	b.identity.RLock()
	defer b.identity.RUnlock()
	old, err := b.getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	r := &role{}
	if old != nil {
		copied := *old
		r = &copied
	}
	if err := b.mergeRequest(ctx, req.Storage, r, q); err != nil {
		return nil, err
	}
	if r, err = b.scopeForWrite(ctx, req.Storage, name, r, q.repoOwners); err != nil {
		return nil, err
	}
	var checked map[string]any
	var warnings []string
	if check, _ := d.Get("check").(bool); check {
		data, err := b.checkRole(ctx, req.Storage, name, r)
		if isBadRequest(err) {
			return nil, badRequest("check: the role was not stored: %s", err)
		}
		if err != nil {
			return nil, err
		}
		checked = data
		ws, _ := data["warnings"].([]string)
		for _, w := range ws {
			warnings = append(warnings, "check: "+w)
		}
	}
	entry, err := logical.StorageEntryJSON(rolePrefix+name, r)
	if err != nil {
		return nil, fmt.Errorf("encoding role %q: %w", name, err)
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing role %q: %w", name, err)
	}
	b.forgetRole(name)
	warnings = append(permissionWarnings(r.Permissions), warnings...)
	if checked != nil {
		return &logical.Response{Data: map[string]any{"check": checked}, Warnings: warnings}, nil
	}
	if len(warnings) > 0 {
		return &logical.Response{Warnings: warnings}, nil
	}
	return nil, nil
}

func (b *backend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := fieldString(d, "name")
	if err := invalid(checkRoleName(name)); err != nil {
		return nil, err
	}
	// Load it so forgetRole can drop its installation lookup too.
	if _, err := b.getRole(ctx, req.Storage, name); err != nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, rolePrefix+name); err != nil {
		return nil, fmt.Errorf("deleting role %q: %w", name, err)
	}
	b.forgetRole(name)
	return nil, nil
}

// mergeRequest merges the parsed request q into r (a role being written, or
// an ad-hoc one), from storage alone: the bound it names must exist, and
// the App it names (or the role's, when not "default") must be stored. An
// App that does not exist is a 400 naming app, and leaves no trace: no App
// record, no metrics.
func (b *backend) mergeRequest(ctx context.Context, s logical.Storage, r *role, q *scopeRequest) error {
	var bd *bound
	if q.boundSent {
		var err error
		if bd, err = b.getBound(ctx, s, q.bound); err != nil {
			return err
		}
		if bd == nil {
			return badRequest("bound: no bound named %q", q.bound)
		}
	}
	if err := invalid(q.applyTo(r, bd)); err != nil {
		return err
	}
	if q.appSent || r.appName() != defaultApp {
		// An implicit "default" stays allowed before config is written,
		// as in v0.1.x.
		ok, err := appExists(ctx, s, r.appName())
		if err != nil {
			return err
		}
		if !ok {
			return badRequest("app: the engine has no App %q; write apps/%s first", r.appName(), r.appName())
		}
	}
	return nil
}
