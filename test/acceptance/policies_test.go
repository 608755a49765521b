//go:build acceptance

package acceptance

import (
	"net/http"
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
