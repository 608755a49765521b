// Command vault-plugin-github-app is the GitHub App secrets engine, served
// to Vault as a multiplexed external plugin.
package main

import (
	"os"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/plugin"

	ghplugin "github.com/ambient-code/vault-plugin-github-app/plugin"
)

func main() {
	meta := &api.PluginAPIClientMeta{}
	flags := meta.FlagSet()
	if err := flags.Parse(os.Args[1:]); err != nil {
		fatal(err)
	}
	go exitWithParent(os.Getppid())
	err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: ghplugin.Factory(),
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
	})
	if err != nil {
		fatal(err)
	}
}

// exitWithParent ends the plugin when the Vault process that started it is
// gone (killed without stopping its plugins): the plugin would otherwise live
// on, holding the App's decrypted key in memory.
func exitWithParent(ppid int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != ppid {
			hclog.New(&hclog.LoggerOptions{}).Info("Vault is gone; plugin exiting")
			os.Exit(0)
		}
	}
}

func fatal(err error) {
	hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
	os.Exit(1)
}
