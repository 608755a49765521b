//go:build acceptance

package acceptance

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

const (
	// v010Commit is the source of the v0.1.0 release, the last version with
	// a single App per mount.
	v010Commit  = "7c8ba46"
	v010Version = "v0.1.0"
)

// TestUpgradeFromV010KeepsConfigAsDefaultApp mounts the real v0.1.0 plugin,
// built from its source, writes its config and roles and mints leases, then
// upgrades the mount to this build (register, tune, reload, as
// docs/upgrading.md says). With no manual step: the config reads as the App
// "default" (at config and at apps/default), the roles read with app
// "default" and mint, and the leases v0.1.0 made revoke at GitHub.
func TestUpgradeFromV010KeepsConfigAsDefaultApp(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	cmd, sum := buildV010Plugin(t)

	err := v.Client.Sys().RegisterPlugin(&api.RegisterPluginInput{
		Name: pluginName, Type: api.PluginTypeSecrets, Command: cmd, SHA256: sum, Version: v010Version,
	})
	if err != nil {
		t.Fatalf("registering %s: %v", v010Version, err)
	}
	if err := v.Client.Sys().Mount("github", &api.MountInput{Type: pluginName, Config: api.MountConfigInput{PluginVersion: v010Version}}); err != nil {
		t.Fatalf("mounting %s: %v", v010Version, err)
	}
	checkInfo(t, v, v010Version)
	v.configureEngine(t, "github", d, map[string]any{"expiry_buffer": "4m"})
	v.writeRole(t, "github", "web", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read"})
	v.writeRole(t, "github", "ops", map[string]any{"repository": "acme/tools", "ttl": "20m"})
	before := map[string]*api.Secret{}
	for _, p := range []string{"config", "roles/web", "roles/ops"} {
		s, err := v.Client.Logical().Read("github/" + p)
		if err != nil || s == nil {
			t.Fatalf("%s: reading %s: %v", v010Version, p, err)
		}
		before[p] = s
	}
	old := []mintedToken{mint(t, v.Client, "github/token/web"), mint(t, v.Client, "github/token/ops")}
	t.Logf("%s: config, roles web and ops written; leases %s and %s minted", v010Version, old[0].LeaseID, old[1].LeaseID)

	// Upgrade: this build is registered under its own version (the harness
	// put it in plugin_directory), the mount tuned to it and reloaded.
	v.registerPlugin(t)
	if err := v.Client.Sys().TuneMount("github", api.MountConfigInput{PluginVersion: pluginVersion}); err != nil {
		t.Fatalf("tuning to %s: %v", pluginVersion, err)
	}
	run(t, v, "write", "sys/plugins/reload/backend", "mounts=github/")
	checkInfo(t, v, pluginVersion)

	// The config is the App "default", read at both paths.
	cfg, err := v.Client.Logical().Read("github/config")
	if err != nil || cfg == nil {
		t.Fatalf("config after the upgrade: %v", err)
	}
	viaApps, err := v.Client.Logical().Read("github/apps/default")
	if err != nil || viaApps == nil || !reflect.DeepEqual(cfg.Data, viaApps.Data) {
		t.Fatalf("apps/default %v differs from config %v (%v)", viaApps, cfg.Data, err)
	}
	for _, k := range []string{"app_id", "base_url", "expiry_buffer", "key_fingerprint", "app_slug"} {
		if !sameValue(cfg.Data[k], before["config"].Data[k]) {
			t.Errorf("config %s: %v after the upgrade, %v before", k, cfg.Data[k], before["config"].Data[k])
		}
	}
	if list, err := v.Client.Logical().List("github/apps"); err != nil || !reflect.DeepEqual(list.Data["keys"], []any{"default"}) {
		t.Fatalf("apps list after the upgrade: %v %v", list, err)
	}
	// Roles keep their fields, and use the App "default".
	for _, p := range []string{"roles/web", "roles/ops"} {
		s, err := v.Client.Logical().Read("github/" + p)
		if err != nil || s == nil || s.Data["app"] != "default" {
			t.Fatalf("%s after the upgrade: %v %v", p, s, err)
		}
		for k, want := range before[p].Data {
			if !sameValue(s.Data[k], want) {
				t.Errorf("%s %s: %v after the upgrade, %v before", p, k, s.Data[k], want)
			}
		}
	}
	// Roles mint; leases from v0.1.0 revoke at GitHub.
	fresh := mint(t, v.Client, "github/token/web")
	if !lookupToken(t, d, fresh.Data.Token).Live(time.Now()) {
		t.Fatal("the upgraded mount's token is not live")
	}
	for _, o := range old {
		if !v.leaseExists(t, o.LeaseID) {
			t.Fatalf("lease %s from %s is gone", o.LeaseID, v010Version)
		}
		if err := v.Client.Sys().Revoke(o.LeaseID); err != nil {
			t.Fatalf("revoking %s: %v", o.LeaseID, err)
		}
		waitRevoked(t, d, o.Data.Token, time.Now().Add(10*time.Second))
	}
	if n := revokes(d, pluginVersion); n != len(old) {
		t.Errorf("%d revocations by %s, want %d", n, pluginVersion, len(old))
	}
	t.Logf("upgraded %s → %s: config is App default (also apps/default), roles read app=default and mint, %d old leases revoked at GitHub by the new build", v010Version, pluginVersion, len(old))
}

// sameValue compares a field read before and after the upgrade. v0.1.0
// read durations back as whole seconds (240), later versions as duration
// strings ("4m0s"): the same duration either way is the same value.
func sameValue(after, before any) bool {
	if reflect.DeepEqual(after, before) {
		return true
	}
	a, aok := after.(string)
	b, bok := before.(json.Number)
	if !aok || !bok {
		return false
	}
	d, err := time.ParseDuration(a)
	secs, err2 := b.Int64()
	return err == nil && err2 == nil && d == time.Duration(secs)*time.Second
}

// buildV010Plugin builds the plugin from the v0.1.0 source (git archive of
// v010Commit) with version v0.1.0, puts it in plugin_directory under its own
// command name, and returns the command and its sha256.
func buildV010Plugin(t *testing.T) (command, sum string) {
	t.Helper()
	src := t.TempDir()
	archive := exec.Command("git", "-C", repoRoot, "archive", v010Commit)
	var tarball bytes.Buffer
	archive.Stdout = &tarball
	archive.Stderr = os.Stderr
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v", v010Commit, err)
	}
	untar := exec.Command("tar", "-x", "-C", src)
	untar.Stdin = &tarball
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v: %s", v010Commit, err, out)
	}
	build := exec.Command("bash", filepath.Join(src, "scripts", "build-plugin.sh"), t.TempDir(), v010Version)
	build.Dir = src
	build.Stderr = os.Stderr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("building %s: %v", v010Version, err)
	}
	path, sum, ok := strings.Cut(lastLine(string(out)), " ")
	if !ok || len(sum) != 64 {
		t.Fatalf("build-plugin.sh of %s printed %q", v010Version, lastLine(string(out)))
	}
	command = pluginName + "_" + v010Version
	dst := filepath.Join(pluginDir, command)
	if err := copyExecutable(path, dst); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dst) })
	return command, sum
}
