//go:build acceptance

package acceptance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// nextVersion is the version TestUpgrade upgrades to from pluginVersion.
const nextVersion = "v0.1.1-acceptance"

// TestUpgrade upgrades a mount from one plugin version to the next the way
// docs/upgrading.md says — the new binary beside the old one in
// plugin_directory, registered under the same name with its own version,
// sha256 and command, the mount tuned to it, the mount reloaded — and
// checks that nothing is lost:
//
//   - tune alone changes nothing that runs; the reload does: github/info and
//     sys/mounts report the new version and sha256, and the old plugin
//     process is gone;
//   - leases minted by the old version are still there after the reload, and
//     the new version revokes their tokens at GitHub when they end or when
//     they are revoked (the double sees the new version's User-Agent);
//   - the new version mints, and a second reload by plugin name keeps it;
//   - at the end the double's live tokens are exactly the leases' tokens.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	const shortTTL = 20 * time.Second
	// The double's lifetime is only for the ttl-less "long" role; the
	// buffer keeps the lease comfortably inside it.
	d := newDouble(t, githubtest.WithTokenLifetime(time.Hour))
	v := startVault(t, vaultOptions{Storage: "raft", ExtraConfig: "raw_storage_endpoint = true\n"})
	cmd, sum := buildNextPlugin(t)
	t.Logf("built %s: %s in plugin_directory, sha256 %s", nextVersion, cmd, sum)

	// ---- the old version, with leases --------------------------------
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "short", map[string]any{"owner": "acme", "ttl": shortTTL.String()})
	v.writeRole(t, "github", "long", map[string]any{"owner": "acme"})
	checkInfo(t, v, pluginVersion)
	var oldShort, oldLong []mintedToken
	for range 3 {
		oldShort = append(oldShort, mint(t, v.Client, "github/token/short"))
		oldLong = append(oldLong, mint(t, v.Client, "github/token/long"))
	}
	oldPIDs := pluginPIDs(v, pluginName)
	if len(oldPIDs) != 1 {
		t.Fatalf("%d processes of %s under Vault, want 1", len(oldPIDs), pluginName)
	}
	t.Logf("step 0: mounted %s (pid %d); minted 3 short (%s) and 3 long leases", pluginVersion, oldPIDs[0], shortTTL)

	// ---- 1. register the new version ----------------------------------
	run(t, v, "plugin", "register", "-sha256="+sum, "-version="+nextVersion, "-command="+cmd, "secret", pluginName)
	out := run(t, v, "plugin", "list", "-detailed", "secret")
	for _, ver := range []string{pluginVersion, nextVersion} {
		if !strings.Contains(out, ver) {
			t.Errorf("plugin list -detailed secret does not show %s:\n%s", ver, out)
		}
	}
	t.Logf("step 1: vault plugin register -sha256=%s -version=%s -command=%s secret %s; plugin list shows both versions", sum[:12]+"…", nextVersion, cmd, pluginName)

	// ---- 2. tune: recorded, not running yet ----------------------------
	run(t, v, "secrets", "tune", "-plugin-version="+nextVersion, "github/")
	m, err := v.Client.Sys().GetMount("github")
	if err != nil {
		t.Fatal(err)
	}
	if m.PluginVersion != nextVersion || m.RunningVersion != pluginVersion || m.RunningSha256 != pluginSHA {
		t.Errorf("after tune: plugin_version %q, running %q sha256 %q; want %q, still running %q %q", m.PluginVersion, m.RunningVersion, m.RunningSha256, nextVersion, pluginVersion, pluginSHA)
	}
	checkInfo(t, v, pluginVersion)
	t.Logf("step 2: vault secrets tune -plugin-version=%s github/: mount's plugin_version is %s, still running %s", nextVersion, m.PluginVersion, m.RunningVersion)

	// ---- 3. reload the mount -------------------------------------------
	// `vault plugin reload -mounts=github/` is the documented form; Vault
	// 1.21's CLI sends it to sys/plugins/reload/unknown/ in the root
	// namespace. Use it if it works, else the API path it should call.
	// A client mints "short" tokens back to back meanwhile, to see what
	// the reload does to requests in flight.
	reloadAt := time.Now()
	during := mintDuring(t, v, "github/token/short", func() {
		if out, err := v.cli(nil, "plugin", "reload", "-mounts=github/"); err != nil {
			t.Logf("step 3: vault plugin reload -mounts=github/ failed (%v): %s", err, clip(out, 300))
			reloadAt = time.Now()
			run(t, v, "write", "sys/plugins/reload/backend", "mounts=github/")
			t.Logf("step 3: vault write sys/plugins/reload/backend mounts=github/: reloaded in %s", time.Since(reloadAt).Round(time.Millisecond))
		} else {
			t.Logf("step 3: vault plugin reload -mounts=github/: %s (in %s)", strings.TrimSpace(out), time.Since(reloadAt).Round(time.Millisecond))
		}
	})

	// ---- 4. check ------------------------------------------------------
	checkInfo(t, v, nextVersion)
	if m, err = v.Client.Sys().GetMount("github"); err != nil {
		t.Fatal(err)
	}
	if m.PluginVersion != nextVersion || m.RunningVersion != nextVersion || m.RunningSha256 != sum {
		t.Errorf("after reload: plugin_version %q, running %q sha256 %q; want %q running %q %q", m.PluginVersion, m.RunningVersion, m.RunningSha256, nextVersion, nextVersion, sum)
	}
	out = run(t, v, "secrets", "list", "-detailed")
	if line := lineWith(out, "github/"); strings.Count(line, nextVersion) != 2 {
		t.Errorf("secrets list -detailed: github/ line %q, want version and running version %s", line, nextVersion)
	}
	var newPIDs []int
	waitUntil(t, time.Now().Add(10*time.Second), 100*time.Millisecond, func() (bool, string) {
		newPIDs = pluginPIDs(v, cmd)
		old := pluginPIDs(v, pluginName)
		return len(newPIDs) == 1 && len(old) == 0, fmt.Sprintf("after the reload Vault runs %d %s and %d %s processes, want 1 and 0", len(newPIDs), cmd, len(old), pluginName)
	})
	t.Logf("step 4: github/info and sys/mounts report %s (sha256 %s…); plugin process %d replaced by %d", nextVersion, sum[:12], oldPIDs[0], newPIDs[0])

	// ---- the old leases survive and the new version revokes them --------
	for _, o := range append(append([]mintedToken{}, oldShort...), oldLong...) {
		if !v.leaseExists(t, o.LeaseID) {
			t.Fatalf("lease %s minted by %s is gone after the reload", o.LeaseID, pluginVersion)
		}
		if !lookupToken(t, d, o.Data.Token).Live(time.Now()) {
			t.Fatalf("token of lease %s is not live at the double after the reload", o.LeaseID)
		}
	}
	if n := revokes(d, pluginVersion); n != 0 {
		t.Fatalf("%d revocations by %s before any lease ended", n, pluginVersion)
	}
	if err := v.Client.Sys().Revoke(oldLong[0].LeaseID); err != nil {
		t.Fatalf("revoking a lease from %s: %v", pluginVersion, err)
	}
	waitRevoked(t, d, oldLong[0].Data.Token, time.Now().Add(10*time.Second))
	run(t, v, "lease", "revoke", "-sync", oldLong[1].LeaseID)
	waitRevoked(t, d, oldLong[1].Data.Token, time.Now().Add(10*time.Second))
	t.Logf("old leases: all %d still there after the reload; 2 long ones revoked (API, then vault lease revoke -sync) and revoked at the double by %s", len(oldShort)+len(oldLong), nextVersion)

	// ---- the new version mints; a reload by plugin name keeps it -------
	newShort := mint(t, v.Client, "github/token/short")
	newLong := mint(t, v.Client, "github/token/long")
	checkLease(t, newLong, 5*time.Minute)
	during2 := mintDuring(t, v, "github/token/short", func() {
		run(t, v, "plugin", "reload", "-plugin="+pluginName)
	})
	checkInfo(t, v, nextVersion)
	if m, err = v.Client.Sys().GetMount("github"); err != nil || m.RunningVersion != nextVersion || m.RunningSha256 != sum {
		t.Errorf("after vault plugin reload -plugin=%s the mount runs %q %q (%v), want %q %q", pluginName, m.RunningVersion, m.RunningSha256, err, nextVersion, sum)
	}
	var reloadedPIDs []int
	waitUntil(t, time.Now().Add(10*time.Second), 100*time.Millisecond, func() (bool, string) {
		reloadedPIDs = pluginPIDs(v, cmd)
		return len(reloadedPIDs) == 1 && reloadedPIDs[0] != newPIDs[0], fmt.Sprintf("after vault plugin reload -plugin=%s Vault runs %s as %v, want one new process (was %d)", pluginName, cmd, reloadedPIDs, newPIDs[0])
	})
	newLong2 := mint(t, v.Client, "github/token/long")
	for _, l := range []mintedToken{oldShort[0], oldLong[2], newShort, newLong} {
		if !v.leaseExists(t, l.LeaseID) {
			t.Errorf("lease %s is gone after vault plugin reload -plugin=%s", l.LeaseID, pluginName)
		}
	}
	t.Logf("new version mints; vault plugin reload -plugin=%s restarts it (pid %d → %d) on %s and keeps every lease", pluginName, newPIDs[0], reloadedPIDs[0], nextVersion)

	// ---- short leases end: revoked by the new version ------------------
	for i, s := range append(oldShort, newShort) {
		by := pluginVersion
		if i == len(oldShort) {
			by = nextVersion
		}
		end := s.Before.Add(s.LeaseTTL)
		tok := waitRevoked(t, d, s.Data.Token, end.Add(30*time.Second))
		if tok.RevokedAt.Before(end.Add(-time.Second)) {
			t.Errorf("short lease %s revoked at the double at %s, before it ended at %s", s.LeaseID, tok.RevokedAt, end)
		}
		t.Logf("short lease minted by %s, %.1fs from the upgrade reload: revoked at the double %+.2fs after its end", by, s.After.Sub(reloadAt).Seconds(), tok.RevokedAt.Sub(s.After.Add(s.LeaseTTL)).Seconds())
	}
	for _, r := range []mintsDuring{during, during2} {
		for _, s := range r.minted {
			end := s.Before.Add(s.LeaseTTL)
			if tok := waitRevoked(t, d, s.Data.Token, end.Add(30*time.Second)); tok.RevokedAt.Before(end.Add(-time.Second)) {
				t.Errorf("short lease %s revoked at the double at %s, before it ended at %s", s.LeaseID, tok.RevokedAt, end)
			}
		}
	}
	if n, want := revokes(d, nextVersion), len(oldShort)+1+2+len(during.minted)+len(during2.minted); n != want {
		t.Errorf("%d revocations with %s's User-Agent, want %d", n, nextVersion, want)
	}
	if n := revokes(d, pluginVersion); n != 0 {
		t.Errorf("%d revocations by %s after the reload", n, pluginVersion)
	}

	// ---- the double's live tokens are the leases' tokens ---------------
	keep := []mintedToken{oldLong[2], newLong, newLong2}
	var leases map[string]string
	waitUntil(t, time.Now().Add(20*time.Second), 250*time.Millisecond, func() (bool, string) {
		leases = leasesByTokenAll(t, v, "github/token/")
		return len(leases) == len(keep), fmt.Sprintf("%d leases under github/token/, want %d", len(leases), len(keep))
	})
	for _, k := range keep {
		if leases[k.Data.Token] != k.LeaseID {
			t.Errorf("lease %s: Vault's lease for its token is %q", k.LeaseID, leases[k.Data.Token])
		}
	}
	live := d.LiveTokens()
	for _, tok := range live {
		if _, ok := leases[tok.Value]; !ok {
			t.Errorf("token %s is live at the double but no lease holds it", hashOf(tok.Value))
		}
	}
	t.Logf("end: %d tokens issued, %d leases, %d live at the double; %d revocations by %s, %d by %s",
		len(d.Tokens()), len(leases), len(live), revokes(d, pluginVersion), pluginVersion, revokes(d, nextVersion), nextVersion)
}

// mintsDuring is what a client minting back to back saw while an
// operation ran.
type mintsDuring struct {
	minted   []mintedToken
	failures map[string]int
	slowest  time.Duration
}

// mintDuring mints path through a client of its own, back to back, from
// just before op until just after it, and logs what it saw. Every token
// minted is returned so its lease can be followed.
func mintDuring(t testing.TB, v *vaultServer, path string, op func()) mintsDuring {
	t.Helper()
	c := v.newClient(t, v.RootToken)
	c.SetMaxRetries(0)
	c.SetClientTimeout(30 * time.Second)
	res := mintsDuring{failures: map[string]int{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 500; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m, err := tryMint(c, path, nil)
			if d := m.After.Sub(m.Before); d > res.slowest {
				res.slowest = d
			}
			if err != nil {
				res.failures[clip(err.Error(), 200)]++
			} else {
				res.minted = append(res.minted, m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	op()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	failed := 0
	for msg, n := range res.failures {
		failed += n
		t.Logf("  mint failed during the reload (%dx): %s", n, msg)
	}
	t.Logf("  a client minting back to back meanwhile: %d minted, %d failed, slowest answer %s", len(res.minted), failed, res.slowest.Round(time.Millisecond))
	return res
}

// buildNextPlugin builds the plugin at nextVersion and puts it in the
// shared plugin_directory under a name of its own, beside the binary every
// server runs; it returns that name (the catalog's command) and its sha256.
// Other tests never look at the new file.
func buildNextPlugin(t testing.TB) (command, sum string) {
	t.Helper()
	out, err := runScript("scripts/build-plugin.sh", t.TempDir(), nextVersion)
	if err != nil {
		t.Fatalf("building the plugin at %s: %v", nextVersion, err)
	}
	path, sum, ok := strings.Cut(lastLine(out), " ")
	if !ok || len(sum) != 64 {
		t.Fatalf("build-plugin.sh printed %q, want \"PATH SHA256\"", lastLine(out))
	}
	command = pluginName + "_" + nextVersion
	dst := filepath.Join(pluginDir, command)
	if err := copyExecutable(path, dst); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dst) })
	if got := fileSHA256(t, dst); got != sum {
		t.Fatalf("%s has sha256 %s, build-plugin.sh said %s", dst, got, sum)
	}
	if sum == pluginSHA {
		t.Fatalf("the %s build has the same sha256 as %s", nextVersion, pluginVersion)
	}
	return command, sum
}

// copyExecutable copies src to dst (mode 0755) through a temporary file, so
// dst never exists half-written.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".upgrade-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// run runs the vault CLI against v and fails the test if it fails. The
// output is returned, not logged.
func run(t testing.TB, v *vaultServer, args ...string) string {
	t.Helper()
	out, err := v.cli(nil, args...)
	if err != nil {
		t.Fatalf("vault %s: %v: %s", strings.Join(args, " "), err, clip(out, 500))
	}
	return out
}

// checkInfo checks the version github/info reports.
func checkInfo(t testing.TB, v *vaultServer, want string) {
	t.Helper()
	info, err := v.Client.Logical().Read("github/info")
	if err != nil || info == nil {
		t.Fatalf("reading github/info: %v", err)
	}
	if info.Data["version"] != want {
		t.Fatalf("github/info version = %v, want %s", info.Data["version"], want)
	}
}

// pluginPIDs lists Vault's child processes whose executable is
// plugin_directory/command.
func pluginPIDs(v *vaultServer, command string) []int {
	want := filepath.Join(pluginDir, command)
	var out []int
	for _, c := range childPIDs(v.proc.cmd.Process.Pid) {
		if argv0, _, _ := strings.Cut(string(c.cmdline), "\x00"); argv0 == want {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/task", c.pid)); err == nil && !isZombie(c.pid) {
				out = append(out, c.pid)
			}
		}
	}
	return out
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// revokes counts the DELETE /installation/token calls the double answered
// with 204 from the engine at version.
func revokes(d *githubtest.Server, version string) int {
	n := 0
	for _, c := range d.Calls() {
		if c.Method == "DELETE" && c.Path == "/installation/token" && c.Status == 204 && c.UserAgent == pluginName+"/"+version {
			n++
		}
	}
	return n
}

// lineWith returns the first line of s that starts with prefix.
func lineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
