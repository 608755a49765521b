//go:build acceptance

package acceptance

import (
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestJSONNumbersThroughVault: every integer and duration field accepts JSON
// numbers (what Terraform and API clients send; a float64 inside the
// plugin) and strings (what the CLI sends), with real-size ids.
func TestJSONNumbersThroughVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	inst := d.AddInstallation("numbers-org", "Organization", "svc-a", "svc-b", "svc-c")
	svcA, svcB := inst.Repositories[0], inst.Repositories[1]
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	c := v.Client

	// config: app_id as a JSON number, expiry_buffer as seconds.
	if _, err := c.Logical().Write("github/config", map[string]any{
		"app_id": d.AppID, "private_key": string(d.KeyPEM()), "base_url": d.URL, "expiry_buffer": 240,
	}); err != nil {
		t.Fatalf("config with JSON numbers: %v", err)
	}
	cfg, err := c.Logical().Read("github/config")
	if err != nil || cfg.Data["expiry_buffer"] != "4m0s" || jsonInt(cfg.Data["app_id"]) != d.AppID {
		t.Fatalf("config read %v %v", cfg, err)
	}

	spellings := map[string]map[string]any{
		"JSON numbers": {
			"installation_id": inst.ID,
			"repository_ids":  []int64{svcA.ID, svcB.ID},
			"ttl":             1200,
			"expiry_buffer":   120,
		},
		"strings (CLI)": {
			"installation_id": strconv.FormatInt(inst.ID, 10),
			"repository_ids":  strconv.FormatInt(svcA.ID, 10) + "," + strconv.FormatInt(svcB.ID, 10),
			"ttl":             "20m",
			"expiry_buffer":   "120",
		},
	}
	for name, data := range spellings {
		t.Run(name, func(t *testing.T) {
			role := strings.ReplaceAll(strings.Fields(name)[0], "J", "j")
			if _, err := c.Logical().Write("github/roles/"+role, data); err != nil {
				t.Fatalf("role write: %v", err)
			}
			s, err := c.Logical().Read("github/roles/" + role)
			if err != nil || jsonInt(s.Data["installation_id"]) != inst.ID || s.Data["ttl"] != "20m0s" || s.Data["expiry_buffer"] != "2m0s" {
				t.Fatalf("role read %v %v", s, err)
			}
			m := mint(t, c, "github/token/"+role)
			if m.Data.InstallationID != inst.ID || !slices.Equal(m.Data.Repositories, []string{svcA.Name, svcB.Name}) || m.LeaseTTL != 1200e9 {
				t.Fatalf("minted %+v ttl %s", m.Data, m.LeaseTTL)
			}
			// Narrowing by id, in the same spelling.
			narrow := map[string]any{"repository_ids": data["repository_ids"]}
			if ids, ok := narrow["repository_ids"].([]int64); ok {
				narrow["repository_ids"] = ids[:1]
			} else {
				narrow["repository_ids"] = strconv.FormatInt(svcA.ID, 10)
			}
			n, err := tryMint(c, "github/token/"+role, narrow)
			if err != nil || !slices.Equal(n.Data.Repositories, []string{svcA.Name}) {
				t.Fatalf("narrowed by id: %+v %v", n.Data, err)
			}
			// Ad-hoc minting with the same fields.
			a, err := tryMint(c, "github/token", data)
			if err != nil || a.Data.InstallationID != inst.ID || len(a.Data.Repositories) != 2 {
				t.Fatalf("ad-hoc: %+v %v", a.Data, err)
			}
		})
	}

	// The CLI itself, which sends every value as a string.
	out, err := v.cli(nil, "write", "-format=json", "github/roles/cli",
		"installation_id="+strconv.FormatInt(inst.ID, 10), "repository_ids="+strconv.FormatInt(svcB.ID, 10), "ttl=15m")
	if err != nil {
		t.Fatalf("vault write: %v: %s", err, out)
	}
	if m := mint(t, c, "github/token/cli"); !slices.Equal(m.Data.Repositories, []string{svcB.Name}) || m.LeaseTTL != 900e9 {
		t.Fatalf("cli role minted %+v ttl %s", m.Data, m.LeaseTTL)
	}

	// Fractions and values past 2^53-1 are 400s naming the field.
	for field, raw := range map[string]any{
		"installation_id": 1.5,
		"repository_ids":  []any{2.5},
		"ttl":             90.5,
		"expiry_buffer":   1e300,
	} {
		data := map[string]any{"installation_id": inst.ID}
		data[field] = raw
		_, err := c.Logical().Write("github/roles/frac", data)
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), field+":") {
			t.Fatalf("%s=%v: %v", field, raw, err)
		}
	}
	if _, err := c.Logical().Write("github/roles/big", map[string]any{"installation_id": "9007199254740992"}); statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "installation_id:") {
		t.Fatalf("2^53: %v", err)
	}
	if s, _ := c.Logical().Read("github/roles/frac"); s != nil {
		t.Fatal("a refused role was stored")
	}
}

// jsonInt reads an integer from Vault's API answer (a json.Number).
func jsonInt(v any) int64 {
	if n, ok := v.(interface{ Int64() (int64, error) }); ok {
		i, _ := n.Int64()
		return i
	}
	return -1
}

// TestPermissionNamesThroughVault: a permission name the engine does not
// know is accepted with a warning, and GitHub's 422 comes back as a 400
// that names what was asked.
func TestPermissionNamesThroughVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	s, err := v.Client.Logical().Write("github/roles/ghes", map[string]any{
		"owner": "acme", "permissions": map[string]any{"organization_pre_receive_hooks": "write", "contents": "read"},
	})
	if err != nil || s == nil || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "organization_pre_receive_hooks") {
		t.Fatalf("role write: %v %v", s, err)
	}
	_, err = v.Client.Logical().Read("github/token/ghes")
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "HTTP 422") || !strings.Contains(err.Error(), "organization_pre_receive_hooks=write") {
		t.Fatalf("mint: %v", err)
	}
}

// TestConfigNeverSendsJWTToNewHost: changing base_url without private_key is
// refused before anything is sent; the listener records every request.
func TestConfigNeverSendsJWTToNewHost(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	var mu sync.Mutex
	var got []string
	rogue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer rogue.Close()
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	for _, data := range []map[string]any{
		{"base_url": rogue.URL},
		{"base_url": rogue.URL + "/api/v3", "expiry_buffer": "1m"},
		{"app_id": 77777777},
		{"client_id": "Iv23liRogue"},
	} {
		_, err := v.Client.Logical().Write("github/config", data)
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "private_key") {
			t.Fatalf("%v: %v", data, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Fatalf("the new host received %v", got)
	}
	cfg, err := v.Client.Logical().Read("github/config")
	if err != nil || cfg.Data["base_url"] != d.URL {
		t.Fatalf("config changed: %v %v", cfg, err)
	}
}

// TestWrongTypeNeverLogged: Vault runs the existence check before the ACL
// check and logs its errors. A value of the wrong type, sent by a token with
// no rights on the mount, is answered 400 or 403 and never reaches the log.
func TestWrongTypeNeverLogged(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{LogLevel: "trace"})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	nobody := v.tokenWithPolicy(t, "nothing", `path "sys/nothing" { capabilities = ["read"] }`)
	nobody.SetMaxRetries(0)
	const marker = "MARKER-c0ffee-"
	forged := marker + "\n2026-12-02T00:00:00.000Z [ERROR] core: forged line " + strings.Repeat("x", 4096)
	for _, client := range []*api.Client{nobody, v.Client} {
		for path, data := range map[string]map[string]any{
			"github/config":        {"private_key": []any{"-----BEGIN RSA PRIVATE KEY-----" + forged}},
			"github/roles/x":       {"owner": []any{forged}},
			"github/roles/y":       {"installation_id": map[string]any{"v": forged}},
			"github/token":         {"ttl": []any{forged}},
			"github/token/x":       {"permissions": []any{forged}},
			"github/roles/z":       {"expiry_buffer": true, "repository": forged},
			"github/roles/" + "ok": {"repositories": map[string]any{"k": forged}},
		} {
			_, err := client.Logical().Write(path, data)
			if st := statusOf(err); st != http.StatusBadRequest && st != http.StatusForbidden {
				t.Fatalf("%s: status %d (%v), want 400 or 403", path, st, err)
			}
			if err != nil && strings.Contains(err.Error(), marker) && client == nobody {
				t.Fatalf("%s: the answer to a token without rights echoes the value", path)
			}
			if client == nobody && statusOf(err) != http.StatusForbidden {
				t.Fatalf("%s: a token without rights got %v, want Vault's 403 (the ACL decides before any type check)", path, err)
			}
		}
	}
	logData, err := os.ReadFile(v.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(logData), marker) {
		t.Fatal("a request value reached Vault's server log")
	}
	// The existence check, which Vault runs before the ACL, never refuses
	// (issue 15): nothing about these requests is logged as an error.
	if strings.Contains(string(logData), "failed to run existence check") {
		t.Fatal("an existence-check error was logged")
	}
}

// TestRoleRewriteFromCLI: re-writing a role with empty values resets them,
// from the CLI, which cannot send anything but strings.
func TestRoleRewriteFromCLI(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	if out, err := v.cli(nil, "write", "github/roles/s1", "owner=acme", "repositories=widgets", "permissions=contents=write", "ttl=10m", "expiry_buffer=1m"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := v.cli(nil, "write", "github/roles/s1", "repositories=", "permissions=", "ttl=", "expiry_buffer="); err != nil {
		t.Fatalf("reset: %v: %s", err, out)
	}
	s, err := v.Client.Logical().Read("github/roles/s1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Data["permissions"] != nil || len(s.Data["repositories"].([]any)) != 0 || s.Data["ttl"] != "0s" || s.Data["expiry_buffer"] != nil {
		t.Fatalf("after reset: %v", s.Data)
	}
	m := mint(t, v.Client, "github/token/s1")
	if len(m.Data.Repositories) != 0 || m.Data.Permissions["workflows"] != "write" {
		t.Fatalf("reset role minted %+v, want the installation's full scope", m.Data)
	}
}

// TestInstallationAccountThroughVault: a repository transferred to another
// account answers its old name with a 301 to the new owner's installation;
// the engine refuses to mint there and says where the repository lives now.
func TestInstallationAccountThroughVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	d.AddInstallation("evil-corp", "Organization", "stuff")
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "tools", map[string]any{"repository": "acme/tools"})
	if err := d.MoveRepository("acme/tools", "evil-corp/tools"); err != nil {
		t.Fatal(err)
	}
	_, err := v.Client.Logical().Read("github/token/tools")
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "now lives under") || !strings.Contains(err.Error(), "evil-corp") {
		t.Fatalf("mint of a moved repository: %v", err)
	}
	if n := len(d.Tokens()); n != 0 {
		t.Fatalf("%d tokens minted on the other account's installation", n)
	}
}

// TestCACertificateThroughVault: a GHES-like double over TLS under /api/v3,
// its certificate from a CA made for the test, trusted only through the
// mount's ca_certificate; a second mount without it does not trust it.
func TestCACertificateThroughVault(t *testing.T) {
	t.Parallel()
	ca, err := githubtest.NewTestCA("acceptance GHES CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	d := newDouble(t, githubtest.WithTLS(cert), githubtest.WithPathPrefix("/api/v3"))
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "ghes")
	v.enableEngine(t, "other")
	base := map[string]any{"app_id": d.AppID, "private_key": string(d.KeyPEM()), "base_url": d.URL + "/"}
	if _, err := v.Client.Logical().Write("other/config", base); statusOf(err) == 0 || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a mount without the CA trusted the server: %v", err)
	}
	base["ca_certificate"] = string(ca.CertPEM)
	if _, err := v.Client.Logical().Write("ghes/config", base); err != nil {
		t.Fatalf("config with ca_certificate: %v", err)
	}
	v.writeRole(t, "ghes", "r", map[string]any{"owner": "acme", "repositories": "widgets"})
	m := mint(t, v.Client, "ghes/token/r")
	if err := v.Client.Sys().Revoke(m.LeaseID); err != nil {
		t.Fatal(err)
	}
	if tok := lookupToken(t, d, m.Data.Token); tok.RevokedAt.IsZero() {
		t.Fatal("not revoked at the TLS double")
	}
	// The other mount still does not trust it: the CA is per mount.
	if _, err := v.Client.Logical().Write("other/config", map[string]any{"app_id": d.AppID, "private_key": string(d.KeyPEM()), "base_url": d.URL}); err == nil {
		t.Fatal("the CA leaked to another mount")
	}
}
