//go:build acceptance

package acceptance

import (
	"context"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

const (
	// What a team's workloads get: mint from the team's roles, nothing else.
	teamAPolicy = `path "github/token/team-a_*" {
  capabilities = ["read", "update"]
}
`
	// What a team's administrator (or the platform acting for the team)
	// gets: manage the team's roles, nothing else.
	teamAAdminPolicy = `path "github/roles/team-a_*" {
  capabilities = ["create", "read", "update", "delete"]
}
`
)

// TestTeamPolicies: real ACL policies and tokens decide who mints which
// role. A team-a token mints from team-a_* and gets 403 on team-b's roles,
// the config and the role list; a team-a admin writes roles/team-a_* and
// nothing else.
func TestTeamPolicies(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "team-a_x", map[string]any{"owner": "acme", "repositories": "widgets"})
	v.writeRole(t, "github", "team-b_x", map[string]any{"owner": "acme", "repositories": "gadgets"})

	teamA := v.tokenWithPolicy(t, "team-a", teamAPolicy)
	teamAAdmin := v.tokenWithPolicy(t, "team-a-admin", teamAAdminPolicy)
	for _, c := range []*api.Client{teamA, teamAAdmin} {
		c.SetMaxRetries(0)
	}

	type op func(c *api.Client) error
	read := func(path string) op {
		return func(c *api.Client) error { _, err := c.Logical().Read(path); return err }
	}
	write := func(path string, data map[string]any) op {
		return func(c *api.Client) error { _, err := c.Logical().Write(path, data); return err }
	}
	list := func(path string) op {
		return func(c *api.Client) error { _, err := c.Logical().List(path); return err }
	}
	del := func(path string) op {
		return func(c *api.Client) error { _, err := c.Logical().Delete(path); return err }
	}
	role := map[string]any{"owner": "acme", "repositories": "tools"}

	cases := []struct {
		who     string
		c       *api.Client
		what    string
		do      op
		allowed bool
	}{
		{"team-a", teamA, "read token/team-a_x", read("github/token/team-a_x"), true},
		{"team-a", teamA, "narrow token/team-a_x", write("github/token/team-a_x", map[string]any{"permissions": "contents=read"}), true},
		{"team-a", teamA, "read token/team-b_x", read("github/token/team-b_x"), false},
		{"team-a", teamA, "narrow token/team-b_x", write("github/token/team-b_x", map[string]any{"permissions": "contents=read"}), false},
		{"team-a", teamA, "ad-hoc token", write("github/token", map[string]any{"owner": "acme"}), false},
		{"team-a", teamA, "read config", read("github/config"), false},
		{"team-a", teamA, "write config", write("github/config", map[string]any{"expiry_buffer": "1m"}), false},
		{"team-a", teamA, "list roles/", list("github/roles/"), false},
		{"team-a", teamA, "read roles/team-a_x", read("github/roles/team-a_x"), false},
		{"team-a", teamA, "write roles/team-a_y", write("github/roles/team-a_y", role), false},
		{"team-a", teamA, "read installations", read("github/installations"), false},

		{"team-a-admin", teamAAdmin, "write roles/team-a_new", write("github/roles/team-a_new", role), true},
		{"team-a-admin", teamAAdmin, "read roles/team-a_new", read("github/roles/team-a_new"), true},
		{"team-a-admin", teamAAdmin, "update roles/team-a_x", write("github/roles/team-a_x", map[string]any{"permissions": "contents=read"}), true},
		{"team-a-admin", teamAAdmin, "delete roles/team-a_new", del("github/roles/team-a_new"), true},
		{"team-a-admin", teamAAdmin, "write roles/team-b_new", write("github/roles/team-b_new", role), false},
		{"team-a-admin", teamAAdmin, "write roles/team-b_x", write("github/roles/team-b_x", role), false},
		{"team-a-admin", teamAAdmin, "write roles/team-a (no separator)", write("github/roles/team-a", role), false},
		{"team-a-admin", teamAAdmin, "list roles/", list("github/roles/"), false},
		{"team-a-admin", teamAAdmin, "read token/team-a_x", read("github/token/team-a_x"), false},
		{"team-a-admin", teamAAdmin, "read config", read("github/config"), false},
		{"team-a-admin", teamAAdmin, "write config", write("github/config", map[string]any{"expiry_buffer": "1m"}), false},
		{"team-a-admin", teamAAdmin, "write a policy", func(c *api.Client) error { return c.Sys().PutPolicy("team-a", `path "*" { capabilities = ["sudo"] }`) }, false},
	}
	for _, c := range cases {
		t.Run(c.who+" "+c.what, func(t *testing.T) {
			before := len(d.Tokens())
			err := c.do(c.c)
			switch {
			case c.allowed && err != nil:
				t.Errorf("refused: %v", err)
			case !c.allowed && statusOf(err) != http.StatusForbidden:
				t.Errorf("got %v, want 403 permission denied", err)
			}
			if !c.allowed && len(d.Tokens()) != before {
				t.Error("a refused request minted a token")
			}
		})
	}

	// The admin's changes are what root sees; team-b's role is untouched.
	s, err := v.Client.Logical().Read("github/roles/team-a_x")
	if err != nil || s == nil {
		t.Fatalf("reading team-a_x as root: %v", err)
	}
	if perms, _ := s.Data["permissions"].(map[string]any); perms["contents"] != "read" {
		t.Errorf("team-a_x permissions after the admin's update: %v", s.Data["permissions"])
	}
	if s, err := v.Client.Logical().Read("github/roles/team-b_new"); err != nil || s != nil {
		t.Errorf("team-b_new exists after a refused write (%v)", err)
	}
	// The team-a token's tokens were minted and are live at GitHub.
	if n := len(d.LiveTokens()); n != 2 {
		t.Errorf("%d live tokens at the double, want the 2 team-a minted", n)
	}
}

// TestUpgraderPolicy: the upgrader policy of docs/upgrading.md can run every
// command that page tells the upgrader to run, and nothing beyond: no tune
// of the mount but plugin_version (audit-non-hmac keys would put tokens and
// keys in clear text in the audit log), no other plugin's registration or
// reload, no other mount's reload, no registration with an environment or a
// binary outside this plugin's name.
func TestUpgraderPolicy(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	if err := v.Client.Sys().Mount("other", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	before, err := v.Client.Logical().Read("sys/mounts/github/tune")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(repoRoot + "/examples/policies/upgrader.hcl")
	if err != nil {
		t.Fatal(err)
	}
	up := v.tokenWithPolicy(t, "upgrader", string(rules))
	up.SetMaxRetries(0)
	env := []string{"VAULT_TOKEN=" + up.Token()}
	register := []string{"plugin", "register", "-sha256=" + pluginSHA, "-version=" + pluginVersion, "-command=" + pluginName}
	// docs/upgrading.md's commands, in its order (steps, one mount, rollback).
	for _, args := range [][]string{
		append(register, "secret", pluginName),
		{"plugin", "list", "-detailed", "secret"},
		{"write", "sys/mounts/github/tune", "plugin_version=" + pluginVersion},
		{"plugin", "reload", "-plugin=" + pluginName},
		{"plugin", "reload", "-type=secret", "-plugin=" + pluginName},
		{"plugin", "reload", "-plugin=" + pluginName, "-scope=global"},
		{"read", "-field=version", "github/info"},
		{"secrets", "list", "-detailed"},
		{"write", "sys/plugins/reload/backend", "mounts=github/"},
		{"plugin", "info", "-version=" + pluginVersion, "secret", pluginName},
	} {
		out, err := v.cli(env, args...)
		if err != nil {
			t.Fatalf("vault %s with the upgrader policy: %v: %s", strings.Join(args, " "), err, out)
		}
		if args[0] == "read" && strings.TrimSpace(out) != pluginVersion {
			t.Fatalf("github/info version %q", out)
		}
	}
	// Beyond: each refused by Vault's ACL (403), through the CLI as typed.
	for _, args := range [][]string{
		{"secrets", "tune", "-audit-non-hmac-response-keys=token", "-audit-non-hmac-request-keys=private_key", "github/"},
		{"secrets", "tune", "-audit-non-hmac-response-keys=token", "github/"},
		{"secrets", "tune", "-max-lease-ttl=87600h", "github/"},
		{"secrets", "tune", "-default-lease-ttl=1s", "github/"},
		{"secrets", "tune", "-plugin-version=" + pluginVersion, "github/"},
		{"write", "sys/mounts/github/tune", "plugin_version=" + pluginVersion, "max_lease_ttl=87600h"},
		{"write", "sys/mounts/github/tune", "plugin_version=" + pluginVersion, "audit_non_hmac_response_keys=token"},
		{"write", "sys/mounts/other/tune", "plugin_version=" + pluginVersion},
		{"plugin", "reload", "-plugin=kv"},
		{"plugin", "reload", "-type=secret", "-plugin=kv"},
		{"write", "sys/plugins/reload/backend", "plugin=kv"},
		{"write", "sys/plugins/reload/backend", "mounts=other/"},
		{"write", "sys/plugins/reload/backend", "mounts=github/,other/"},
		{"write", "sys/plugins/reload/backend", "plugin=", "mounts=other/"},
		append(register, "secret", "other-plugin"),
		append(register, "auth", pluginName),
		{"plugin", "register", "-sha256=" + pluginSHA, "-version=" + pluginVersion, "-command=" + pluginName + "_x/../" + pluginName, "secret", pluginName},
		{"plugin", "register", "-sha256=" + pluginSHA, "-version=" + pluginVersion, "-command=other-plugin", "secret", pluginName},
		append(register, "-env=SSL_CERT_FILE=/tmp/ca.pem", "secret", pluginName),
		append(register, "-args=-tls-skip-verify", "secret", pluginName),
		{"read", "github/config"},
		{"read", "github/token/x"},
	} {
		out, err := v.cli(env, args...)
		if err == nil || !strings.Contains(out, "Code: 403") || !strings.Contains(out, "permission denied") {
			t.Errorf("vault %s with the upgrader policy: %v: %s, want 403 permission denied", strings.Join(args, " "), err, out)
		}
	}
	// The same through the API, with the JSON bodies the CLI cannot send.
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"sys/plugins/reload/backend", map[string]any{"plugin": "", "mounts": []any{"other/"}}},
		{"sys/plugins/reload/backend", map[string]any{"mounts": []any{"github/", "other/"}}},
		{"sys/plugins/reload/backend", map[string]any{"plugin": pluginName, "mounts": nil}},
		{"sys/mounts/github/tune", map[string]any{"plugin_version": pluginVersion, "options": map[string]any{"x": "y"}}},
		{"sys/mounts/github/tune", map[string]any{"plugin_version": pluginVersion, "audit_non_hmac_request_keys": []any{"private_key"}}},
	} {
		if _, err := up.Logical().Write(c.path, c.body); statusOf(err) != http.StatusForbidden {
			t.Errorf("write %s %v with the upgrader policy: %v, want 403", c.path, c.body, err)
		}
	}
	// Nothing changed: the mount's tune, the catalog.
	after, err := v.Client.Logical().Read("sys/mounts/github/tune")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Data, after.Data) {
		t.Errorf("github/ tune before %v, after %v", before.Data, after.Data)
	}
	if p, err := v.Client.Sys().GetPluginWithContext(context.Background(), &api.GetPluginInput{Name: "other-plugin", Type: api.PluginTypeSecrets}); err == nil && p != nil {
		t.Errorf("other-plugin registered: %+v", p)
	}
}
