package backend

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathInstallations(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "installations$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "installations",
		},
		Fields: map[string]*framework.FieldSchema{
			"app": {
				Type:        framework.TypeString,
				Description: "The App whose installations are listed; default \"default\".",
				Query:       true,
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathInstallationsRead,
				Summary:      "List the App's installations (account login to installation id), all pages.",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
			},
		},
		HelpSynopsis:    "List the GitHub App's installations.",
		HelpDescription: "Reads every installation of the App from GitHub, following pagination. installations maps account login to installation id; details gives each installation's account type and repository selection.",
	}}
}

func (b *backend) pathInstallationsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := strings.TrimSpace(fieldString(d, "app"))
	if name == "" {
		name = defaultApp
	}
	if err := invalid(checkAppName("app", name)); err != nil {
		return nil, err
	}
	// An App that does not exist leaves no trace (no App record, no
	// metrics): a stream of made-up names must not grow the mount's state.
	if ok, err := appExists(ctx, req.Storage, name); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, appNotConfigured(name)
	}
	a, client, _, err := b.clientFor(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	list, err := client.Installations(ctx)
	if err != nil {
		return nil, a.githubFailure(fmt.Sprintf("to list the installations of App %q", name), err)
	}
	byLogin := make(map[string]any, len(list))
	details := make([]map[string]any, 0, len(list))
	for _, inst := range list {
		byLogin[inst.Account.Login] = inst.ID
		details = append(details, map[string]any{
			"id":                   inst.ID,
			"account":              inst.Account.Login,
			"account_type":         inst.Account.Type,
			"repository_selection": inst.RepositorySelection,
			"suspended":            inst.SuspendedAt != nil,
		})
	}
	return &logical.Response{Data: map[string]any{"app": name, "installations": byLogin, "details": details}}, nil
}
