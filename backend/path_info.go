package backend

import (
	"context"
	"runtime"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathInfo(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "info$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "plugin-info",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathInfoRead,
				Summary:      "Show the plugin's version and build.",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
			},
		},
		HelpSynopsis:    "Show the plugin's version and build.",
		HelpDescription: "Reports the version the plugin was built with (Vault's registered version must match it), its commit, build date and Go version.",
	}}
}

func (b *backend) pathInfoRead(_ context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return &logical.Response{Data: map[string]any{
		"version":    b.info.Version,
		"commit":     b.info.Commit,
		"build_date": b.info.Date,
		"go_version": runtime.Version(),
	}}, nil
}
