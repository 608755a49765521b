package backend

import (
	"context"
	"errors"

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

func (b *backend) pathInstallationsRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	client, _, err := b.getClient(ctx, req.Storage)
	if errors.Is(err, errNotConfigured) {
		return logical.ErrorResponse(err.Error()), nil
	}
	if err != nil {
		return nil, err
	}
	list, err := client.Installations(ctx)
	if err != nil {
		return b.githubFailure("to list the App's installations", err)
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
	return &logical.Response{Data: map[string]any{"installations": byLogin, "details": details}}, nil
}
