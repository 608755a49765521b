package backend

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

const (
	pathBoundsHelpSyn  = "Manage bounds: the most a team's or project's roles may reach."
	pathBoundsHelpDesc = `
A bound is an operator's limit for a team or project: one installation
(owner or installation_id), the repositories (names, or patterns such as
web-*; "*" for all), max_permissions and max_ttl. A role that names it
(bound=<name>) must lie inside it, checked when the role is written, when a
token is narrowed and again at every mint, so tightening a bound applies to
the next mint (403 naming the field). Inside a bound a role's empty
repositories are the bound's repositories (a bound with patterns other than
"*" needs the role to name its repositories) and its empty permissions are
the bound's max_permissions. Vault policies then pin bound=<name> only.
A bound that roles name cannot be deleted.
`
)

func checkBoundName(field, name string) string {
	if !roleNameRe.MatchString(name) {
		return fmt.Sprintf("%s: %s is not a valid bound name: use letters, digits, '-' and '_', starting and ending with a letter, digit or '_', at most 128 characters", field, quoted(name))
	}
	return ""
}

func pathBounds(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: boundPrefix + "?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "bounds",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     b.pathBoundsList,
					Summary:      "List bounds.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
				},
			},
			HelpSynopsis:    pathBoundsHelpSyn,
			HelpDescription: pathBoundsHelpDesc,
		},
		b.parsedBy(boundParser, &framework.Path{
			Pattern: boundPrefix + namePattern,
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "bound",
			},
			Fields: map[string]*framework.FieldSchema{
				"name": {
					Type:        framework.TypeString,
					Description: "Bound name: letters, digits, '-' and '_'.",
					Required:    true,
				},
				"app": {
					Type:        framework.TypeString,
					Description: "The App (apps/<name>) of the bound's installation; the bound's roles mint through it. Default \"default\".",
				},
				"installation_id": {
					Type:        framework.TypeInt64,
					Description: "The installation the bound's roles must use. Exactly one of installation_id or owner.",
				},
				"owner": {
					Type:        framework.TypeString,
					Description: "The account login whose installation the bound's roles must use (matched case-insensitively). Exactly one of installation_id or owner.",
				},
				"repositories": {
					Type:        framework.TypeCommaStringSlice,
					Description: "Repository names or patterns (* and ?, e.g. web-*) the bound's roles may reach; \"*\" is every repository of the installation. Required.",
				},
				"max_permissions": {
					Type:        framework.TypeKVPairs,
					Description: "The most the bound's roles may ask for, name to level, e.g. contents=write,metadata=read; also what a role inside the bound that names no permissions gets. Required.",
				},
				"max_ttl": {
					Type:        framework.TypeDurationSecond,
					Description: "The longest lease ttl the bound's roles may set; also the ttl of those that set none. 0: a token's life.",
				},
			},
			ExistenceCheck: b.boundExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:     b.pathBoundRead,
					Summary:      "Read a bound.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
				},
				logical.CreateOperation: &framework.PathOperation{
					Callback:     b.pathBoundWrite,
					Summary:      "Create a bound.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "write"},
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback:     b.pathBoundWrite,
					Summary:      "Update a bound; fields not sent keep their values. Roles outside it are refused at their next mint.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "write"},
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback:     b.pathBoundDelete,
					Summary:      "Delete a bound that no role names.",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "delete"},
				},
			},
			HelpSynopsis:    pathBoundsHelpSyn,
			HelpDescription: pathBoundsHelpDesc,
		}),
	}
}

func (b *backend) boundExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name := fieldString(d, "name")
	if checkBoundName("name", name) != "" {
		return false, nil
	}
	bd, err := b.getBound(ctx, req.Storage, name)
	return bd != nil, err
}

func (b *backend) pathBoundsList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, boundPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing bounds: %w", err)
	}
	return logical.ListResponse(names), nil
}

func (b *backend) pathBoundRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := fieldString(d, "name")
	if err := invalid(checkBoundName("name", name)); err != nil {
		return nil, err
	}
	bd, err := b.getBound(ctx, req.Storage, name)
	if err != nil || bd == nil {
		return nil, err
	}
	return &logical.Response{Data: bd.data()}, nil
}

func (b *backend) pathBoundWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := fieldString(d, "name")
	if err := invalid(checkBoundName("name", name)); err != nil {
		return nil, err
	}
	q, err := requestOf[*boundRequest](ctx)
	if err != nil {
		return nil, err
	}
	// Against the App as it is stored: no App change meanwhile.
	b.identity.RLock()
	defer b.identity.RUnlock()
	old, err := b.getBound(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	bd := &bound{}
	if old != nil {
		copied := *old
		bd = &copied
	}
	if err := invalid(applyBoundFields(bd, q)); err != nil {
		return nil, err
	}
	if q.appSent || bd.appName() != defaultApp {
		ok, err := appExists(ctx, req.Storage, bd.appName())
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, badRequest("app: the engine has no App %q; write apps/%s first", bd.appName(), bd.appName())
		}
	}
	c, err := b.ceiling(ctx, req.Storage, bd.appName())
	if err != nil {
		return nil, err
	}
	if err := within(bd.MaxPermissions, c.max, fmt.Sprintf("the max_permissions of App %q", bd.appName())); err != nil {
		return nil, err
	}
	entry, err := logical.StorageEntryJSON(boundPrefix+name, bd)
	if err != nil {
		return nil, fmt.Errorf("encoding bound %q: %w", name, err)
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing bound %q: %w", name, err)
	}
	b.bounds.drop(name)
	return nil, nil
}

// applyBoundFields merges the parsed request into bd and validates the
// result.
func applyBoundFields(bd *bound, q *boundRequest) string {
	if q.appSent {
		bd.App = q.app
		if q.app == defaultApp {
			bd.App = ""
		}
	}
	switch q.selector {
	case "installation_id":
		bd.InstallationID, bd.Owner = q.installationID, ""
	case "owner":
		bd.Owner, bd.InstallationID = q.owner, 0
	}
	if bd.InstallationID == 0 && bd.Owner == "" {
		return "installation_id, owner: one is required to say which installation the bound's roles use"
	}

	if q.reposSent {
		var repos []string
		seen := map[string]bool{}
		for _, e := range q.repositories {
			if o, n, found := strings.Cut(e, "/"); found {
				if bd.Owner == "" || !strings.EqualFold(o, bd.Owner) {
					return fmt.Sprintf("repositories: %s: give bare names (or owner/name with the bound's owner)", quoted(e))
				}
				e = n
			}
			if e == "" {
				return "repositories: contains an empty name"
			}
			if msg := checkRepoGlob("repositories", e); msg != "" {
				return msg
			}
			if key := strings.ToLower(e); !seen[key] {
				seen[key] = true
				repos = append(repos, e)
			}
		}
		if len(repos) > github.MaxRepositories {
			return fmt.Sprintf("repositories: %d given; at most %d (use a pattern)", len(repos), github.MaxRepositories)
		}
		bd.Repositories = repos
	}
	if len(bd.Repositories) == 0 {
		return `repositories: required: names or patterns ("*" for every repository of the installation)`
	}

	if q.permsSent {
		bd.MaxPermissions = q.maxPermissions
	}
	if len(bd.MaxPermissions) == 0 {
		return "max_permissions: required: name=level pairs, e.g. contents=write,metadata=read"
	}
	if q.ttlSent {
		bd.MaxTTL = q.maxTTL
	}
	return ""
}

func (b *backend) pathBoundDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := fieldString(d, "name")
	if err := invalid(checkBoundName("name", name)); err != nil {
		return nil, err
	}
	users, err := b.rolesUsingBound(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if len(users) > 0 {
		return nil, badRequest("bound %q is named by roles %s: delete them or move them to another bound first", name, strings.Join(users, ", "))
	}
	if err := req.Storage.Delete(ctx, boundPrefix+name); err != nil {
		return nil, fmt.Errorf("deleting bound %q: %w", name, err)
	}
	b.bounds.drop(name)
	return nil, nil
}
