//go:build acceptance

package acceptance

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestAppChange changes an App's GitHub under a real Vault, as the outside
// probe did: a second double, another App, whose installation with acme's
// id belongs to "evilcorp" (Enterprise Server ids are small and collide
// across hosts), and acme installed there under another id.
//
//   - A read that starts after apps/<name> moves to the other host while a
//     lookup is in flight at the old one (held by the double's latency;
//     the barrier is the double having received that lookup) mints for
//     acme on the new host, and the old host's answer is never cached.
//   - While roles and bounds use the App, its host and app_id cannot
//     change (HTTP API with JSON numbers, CLI with strings); nothing is
//     sent to the other host, the roles keep minting where they did; a new
//     key for the same App is accepted.
//   - After a reinstall (404 on the cached installation), a role in a bound
//     pinned to the old installation is refused, not minted for the new one.
func TestAppChange(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	acmeID := githubtest.FirstInstallationID
	other := githubtest.NewT(t, githubtest.WithAppID(githubtest.DefaultAppID+50), githubtest.WithSlug("other-app"),
		githubtest.WithFirstIDs(acmeID, githubtest.FirstRepositoryID+5_000_000))
	evilcorp := other.AddInstallation("evilcorp", "Organization", "secrets")
	acme2 := other.AddInstallation("acme", "Organization", "widgets")
	if evilcorp.ID != acmeID {
		t.Fatalf("evilcorp's id %d, want acme's %d on the first host", evilcorp.ID, acmeID)
	}
	noEvilcorp := func(t *testing.T) {
		t.Helper()
		for _, tok := range other.Tokens() {
			if tok.InstallationID == evilcorp.ID {
				t.Fatalf("a token was minted for evilcorp's installation %d", evilcorp.ID)
			}
		}
	}
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	c := v.Client.Logical()

	t.Run("lookup in flight", func(t *testing.T) {
		if _, err := c.Write("github/apps/moving", map[string]any{"app_id": d.AppID, "private_key": string(d.KeyPEM()), "base_url": d.URL}); err != nil {
			t.Fatal(err)
		}
		adhoc := map[string]any{"app": "moving", "owner": "acme"}
		const lookup = "/users/acme/installation"
		d.ResetCalls()
		d.SetLatency(10 * time.Second) // the slow first host
		type result struct {
			m   mintedToken
			err error
		}
		first := make(chan result, 1)
		go func() {
			m, err := tryMint(v.Client, "github/token", adhoc)
			first <- result{m, err}
		}()
		waitUntil(t, time.Now().Add(time.Minute), 20*time.Millisecond, func() (bool, string) {
			return d.CallCount(http.MethodGet, lookup) > 0, "the first read's lookup has not reached the first host"
		})
		// The lookup is in flight, held by the latency: move the App.
		if _, err := c.Write("github/apps/moving", map[string]any{"app_id": other.AppID, "private_key": string(other.KeyPEM()), "base_url": other.URL}); err != nil {
			t.Fatal(err)
		}
		second, err := tryMint(v.Client, "github/token", adhoc)
		if err != nil {
			t.Fatal(err)
		}
		if tok := lookupToken(t, other, second.Data.Token); second.Data.InstallationID != acme2.ID || tok.InstallationID != acme2.ID {
			t.Fatalf("the read after the change minted for installation %d (at the new host: %d), want acme's %d; evilcorp's is %d", second.Data.InstallationID, tok.InstallationID, acme2.ID, evilcorp.ID)
		}
		noEvilcorp(t)

		d.SetLatency(0)
		r1 := <-first
		if r1.err != nil {
			t.Fatalf("the read before the change: %v", r1.err)
		}
		if tok := lookupToken(t, d, r1.m.Data.Token); tok.InstallationID != acmeID {
			t.Fatalf("the read before the change minted at the first host for %d, want %d", tok.InstallationID, acmeID)
		}
		// Cached is the new host's answer: the next read looks nothing up.
		lookups := other.CallCount(http.MethodGet, lookup)
		third, err := tryMint(v.Client, "github/token", adhoc)
		if err != nil || third.Data.InstallationID != acme2.ID {
			t.Fatalf("third read: installation %d (%v), want %d", third.Data.InstallationID, err, acme2.ID)
		}
		if n := other.CallCount(http.MethodGet, lookup); n != lookups {
			t.Fatalf("the third read looked acme up again (%d lookups, was %d)", n, lookups)
		}
		noEvilcorp(t)
	})

	t.Run("identity fixed while used", func(t *testing.T) {
		if _, err := c.Write("github/bounds/team", map[string]any{"installation_id": acmeID, "repositories": "*", "max_permissions": "contents=read"}); err != nil {
			t.Fatal(err)
		}
		v.writeRole(t, "github", "pinned", map[string]any{"installation_id": acmeID})
		v.writeRole(t, "github", "inbound", map[string]any{"bound": "team", "owner": "acme"})
		other.ResetCalls()
		users := []string{`role "inbound"`, `role "pinned"`, `bound "team"`}

		// The probe's write, as JSON numbers.
		_, err := c.Write("github/config", map[string]any{"app_id": other.AppID, "private_key": string(other.KeyPEM()), "base_url": other.URL})
		if statusOf(err) != http.StatusBadRequest {
			t.Fatalf("moving a used App to another host: %v, want a 400", err)
		}
		for _, want := range append([]string{"base_url, app_id:"}, users...) {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("refusal %q does not name %s", err, want)
			}
		}
		// The same with the CLI (strings), and another app_id on the same host.
		dir := t.TempDir()
		otherKey, pkcs8 := filepath.Join(dir, "other.pem"), filepath.Join(dir, "rotated.pem")
		if err := os.WriteFile(otherKey, other.KeyPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pkcs8, d.KeyPEMPKCS8(), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{fmt.Sprintf("app_id=%d", other.AppID), "private_key=@" + otherKey, "base_url=" + other.URL},
			{fmt.Sprintf("app_id=%d", d.AppID+1), "private_key=@" + pkcs8},
		} {
			out, err := v.cli(nil, append([]string{"write", "github/config"}, args...)...)
			if err == nil || !strings.Contains(out, "Code: 400") || !strings.Contains(out, `App "default" is still used by`) {
				t.Fatalf("vault write github/config %s: %v\n%s", args[0], err, out)
			}
		}
		noCalls(t, other, "a refused App change")
		if cfg, err := c.Read("github/config"); err != nil || cfg.Data["base_url"] != d.URL {
			t.Fatalf("config after the refusals: %v %v", cfg, err)
		}
		for _, role := range []string{"pinned", "inbound"} {
			m := mint(t, v.Client, "github/token/"+role)
			if tok := lookupToken(t, d, m.Data.Token); tok.InstallationID != acmeID {
				t.Fatalf("token/%s minted for %d, want acme's %d on the first host", role, tok.InstallationID, acmeID)
			}
		}
		noEvilcorp(t)

		// Key rotation, as docs/migration.md writes it: only private_key.
		if out, err := v.cli(nil, "write", "github/config", "private_key=@"+pkcs8); err != nil {
			t.Fatalf("rotating the key: %v\n%s", err, out)
		}
		mint(t, v.Client, "github/token/pinned")
	})

	t.Run("reinstall rechecks bound", func(t *testing.T) {
		mint(t, v.Client, "github/token/inbound") // acme's installation is cached
		d.RemoveInstallation(acmeID)
		again := d.AddInstallation("acme", "Organization", "widgets")
		_, err := c.Read("github/token/inbound")
		if statusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), `bound "team"`) {
			t.Fatalf("token/inbound after the reinstall: %v, want a 403 naming bound \"team\"", err)
		}
		for _, tok := range d.Tokens() {
			if tok.InstallationID == again.ID {
				t.Fatalf("token %s minted for the new installation %d, outside the bound", github.HashToken(tok.Value), again.ID)
			}
		}
	})
}
