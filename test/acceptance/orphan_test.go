//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPluginExitsWithVault: a Vault killed with SIGKILL cannot stop its
// plugins; the plugin notices its parent is gone and exits, so the App's
// decrypted key does not outlive Vault in memory.
func TestPluginExitsWithVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "r", map[string]any{"owner": "acme"})
	mint(t, v.Client, "github/token/r")

	var plugin *childProc
	for _, c := range childPIDs(v.proc.cmd.Process.Pid) {
		if strings.Contains(string(c.cmdline), pluginName) {
			plugin = &c
		}
	}
	if plugin == nil {
		t.Fatal("no plugin process under Vault")
	}
	if err := v.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-v.proc.done
	killed := time.Now()
	waitUntil(t, killed.Add(30*time.Second), 100*time.Millisecond, func() (bool, string) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", plugin.pid))
		return err != nil || string(cmdline) != string(plugin.cmdline), fmt.Sprintf("plugin process %d still running after Vault was killed", plugin.pid)
	})
	t.Logf("plugin exited %.1fs after Vault was killed", time.Since(killed).Seconds())
}
