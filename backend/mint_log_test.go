package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// TestMintLogsNothing: a mint that succeeds writes no log line, at any
// level. Through Vault every line the plugin logs crosses to Vault, which
// parses it before it looks at its own log level (go-plugin's logStderr),
// so a line per mint costs a share of every mint's CPU time on both sides
// however quiet Vault's log is (docs/benchmarks.md). Vault's audit log
// records each mint.
func TestMintLogsNothing(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("by-id", map[string]any{"installation_id": e.acme.ID})
	e.writeRole("by-owner", map[string]any{"owner": "acme"})
	e.writeRole("narrowed", map[string]any{"owner": "acme", "repositories": "widgets,gadgets", "permissions": "contents=read"})
	for _, role := range []string{"by-id", "by-owner", "narrowed"} {
		e.ok(logical.ReadOperation, "token/"+role, nil) // the client, the JWT, the installation lookup
	}
	before := len(e.logs.String())
	for range 3 {
		for _, role := range []string{"by-id", "by-owner", "narrowed"} {
			e.ok(logical.ReadOperation, "token/"+role, nil)
		}
		e.ok(logical.UpdateOperation, "token/narrowed", map[string]any{"repositories": "widgets"})
	}
	if logged := e.logs.String()[before:]; logged != "" {
		t.Fatalf("minting logged:\n%s", logged)
	}
}
