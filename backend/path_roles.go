package backend

import (
	"context"
	"fmt"

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
token/team-a_* cannot match another team's roles.

Writes merge: a field that is not sent keeps its value; a field sent empty
(permissions= or repositories= on the CLI, "" or [] over the API) is reset:
repositories and permissions to none (the installation's full scope), ttl to
0 (the token's life minus the buffer), expiry_buffer to the config's.
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
	return []*framework.Path{
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
		{
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
		},
	}
}

func (b *backend) roleExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name := d.Get("name").(string)
	if checkRoleName(name) != "" {
		return false, nil
	}
	r, err := b.getRole(ctx, req.Storage, name)
	return r != nil, err
}

// getRole returns a role from the cache, or storage; nil if there is none.
func (b *backend) getRole(ctx context.Context, s logical.Storage, name string) (*role, error) {
	cached, ok, gen := b.roles.get(name)
	if ok {
		return cached, nil
	}
	entry, err := s.Get(ctx, rolePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("reading role %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	r := &role{}
	if err := entry.DecodeJSON(r); err != nil {
		return nil, fmt.Errorf("decoding role %q: %w", name, err)
	}
	b.roles.putIf(name, r, gen)
	return r, nil
}

// forgetRole drops a role and the installation lookup it depends on.
func (b *backend) forgetRole(name string) {
	if r, ok, _ := b.roles.get(name); ok && r.installKey() != "" {
		b.installs.drop(r.installKey())
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
	name := d.Get("name").(string)
	if msg := checkRoleName(name); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	r, err := b.getRole(ctx, req.Storage, name)
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: r.data()}, nil
}

func (b *backend) pathRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if msg := checkRoleName(name); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	old, err := b.getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	r := &role{}
	if old != nil {
		copied := *old
		r = &copied
	}
	if msg, err := b.applyBound(ctx, req.Storage, r, d); msg != "" || err != nil {
		return errorOrMessage(msg, err)
	}
	msg, err := applyRoleFields(ctx, r, d, b.installationAccount(req.Storage))
	if err != nil {
		return nil, err
	}
	if msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	if r, msg, err = b.scopeForWrite(ctx, req.Storage, name, r); msg != "" || err != nil {
		return errorOrMessage(msg, err)
	}
	entry, err := logical.StorageEntryJSON(rolePrefix+name, r)
	if err != nil {
		return nil, fmt.Errorf("encoding role %q: %w", name, err)
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing role %q: %w", name, err)
	}
	b.forgetRole(name)
	if warnings := permissionWarnings(r.Permissions); len(warnings) > 0 {
		return &logical.Response{Warnings: warnings}, nil
	}
	return nil, nil
}

func (b *backend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if msg := checkRoleName(name); msg != "" {
		return logical.ErrorResponse(msg), nil
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

// installationAccount looks up the account login of an installation.
func (b *backend) installationAccount(s logical.Storage) ownerLookup {
	return func(ctx context.Context, id int64) (string, error) {
		client, _, err := b.getClient(ctx, s)
		if err != nil {
			return "", err
		}
		inst, err := client.Installation(ctx, id)
		if err != nil {
			return "", err
		}
		return inst.Account.Login, nil
	}
}
