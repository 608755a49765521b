// Package plugin wires the backend into a plugin binary and carries the
// version stamped in at build time.
package plugin

import (
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/backend"
)

// Set with -ldflags "-X github.com/ambient-code/vault-plugin-github-app/plugin.Version=v1.2.3 ...".
var (
	// Version is the v-prefixed semver Vault registers the plugin with;
	// Vault refuses a registered version that differs from it.
	Version = "v0.1.0-dev"
	Commit  = ""
	Date    = ""
)

// Factory builds the secrets engine for one mount.
func Factory() logical.Factory {
	return backend.NewFactory(backend.BuildInfo{Version: Version, Commit: Commit, Date: Date})
}
