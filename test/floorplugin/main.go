// Command floorplugin is the floor the load runs measure the engine
// against (test/acceptance/load_test.go): an external secrets engine built
// and served exactly as cmd/vault-plugin-github-app is (same SDK, same TLS
// flags, plugin.ServeMultiplex) whose read of token/<name> issues a lease
// and calls nothing. Whatever Vault, the plugin protocol and a lease cost
// per read, the floor pays too; tokens/s divided by the floor's reads/s is
// the share of that ceiling the engine keeps.
//
// It is a test asset: the acceptance tests build it into their plugin
// directory; it is never released.
package main

import (
	"context"
	"os"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

// leaseTTL is the lease of a token with the engine's defaults: an hour's
// token less the five-minute expiry buffer.
const leaseTTL = 55 * time.Minute

// token stands in for an installation token: the same length as the
// tokens the GitHub API double issues (githubtest.TokenLength: "ghs_" and
// 516 characters, the size of GitHub's stateless installation tokens), so
// the answers Vault decodes and the lease entries it stores carry a token
// of the same size (test/acceptance checks the length).
var token = "ghs_" + strings.Repeat("0", 516)

func main() {
	meta := &api.PluginAPIClientMeta{}
	if err := meta.FlagSet().Parse(os.Args[1:]); err != nil {
		fatal(err)
	}
	go exitWithParent(os.Getppid())
	err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: factory,
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
	})
	if err != nil {
		fatal(err)
	}
}

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := &framework.Backend{BackendType: logical.TypeLogical}
	secret := &framework.Secret{
		Type: "floor_token",
		Revoke: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			return nil, nil
		},
	}
	b.Secrets = []*framework.Secret{secret}
	b.Paths = []*framework.Path{{
		Pattern: "token/" + framework.GenericNameRegex("name"),
		Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString}},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
					resp := secret.Response(map[string]any{"token": token}, map[string]any{"token": token})
					resp.Secret.TTL, resp.Secret.MaxTTL, resp.Secret.Renewable = leaseTTL, leaseTTL, false
					return resp, nil
				},
			},
		},
	}}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// exitWithParent ends the plugin when the Vault that started it is gone, as
// the engine's main does.
func exitWithParent(ppid int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != ppid {
			os.Exit(0)
		}
	}
}

func fatal(err error) {
	hclog.New(&hclog.LoggerOptions{}).Error("floor plugin shutting down", "error", err)
	os.Exit(1)
}
