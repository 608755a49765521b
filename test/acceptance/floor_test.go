//go:build acceptance

package acceptance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// The floor of the load runs (TestLoadThroughVault): test/floorplugin, an
// external plugin built and served like the engine whose read issues a
// lease and calls nothing, in the same Vault with the same clients. What a
// run measured per process (CPU time from /proc) and, with LOAD_PROFILE set,
// CPU profiles of Vault, the plugin and the clients go into the LOAD_REPORT
// directory beside the tables.

const floorPluginName = "vault-plugin-floor"

// buildFloorPlugin builds test/floorplugin into the plugin directory, as
// build-plugin.sh builds the engine, and returns its sha256.
func buildFloorPlugin(t testing.TB) string {
	t.Helper()
	out := filepath.Join(pluginDir, floorPluginName)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./test/floorplugin")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the floor plugin: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	return hex.EncodeToString(sum[:])
}

// enableFloor registers the floor plugin and mounts it at floor/.
func (v *vaultServer) enableFloor(t testing.TB, sha string) {
	t.Helper()
	err := v.Client.Sys().RegisterPlugin(&api.RegisterPluginInput{
		Name: floorPluginName, Type: api.PluginTypeSecrets, Command: floorPluginName, SHA256: sha,
	})
	if err != nil {
		t.Fatalf("%s: registering the floor plugin: %v", v.Name, err)
	}
	if err := v.Client.Sys().Mount("floor", &api.MountInput{Type: floorPluginName}); err != nil {
		t.Fatalf("%s: mounting the floor plugin: %v", v.Name, err)
	}
}

// floorRound is one round of the alternating runs: kv-v1, the floor and
// by-id, each for the run's duration, in the order they ran.
type floorRound struct {
	Order                 []string
	KV, Floor, Tokens     float64 // per second
	TokensPerFloor, PerKV float64
}

func newFloorRound(t testing.TB, n int, order []string, rate map[string]float64) floorRound {
	r := floorRound{Order: order, KV: rate["kv-v1"], Floor: rate["floor"], Tokens: rate["by-id"]}
	r.TokensPerFloor, r.PerKV = r.Tokens/r.Floor, r.Tokens/r.KV
	t.Logf("round %d (%s): kv-v1 %.0f/s, floor %.0f/s, by-id %.0f/s = %.1f%% of the floor, %.1f%% of kv-v1",
		n, strings.Join(order, ", "), r.KV, r.Floor, r.Tokens, 100*r.TokensPerFloor, 100*r.PerKV)
	return r
}

// writeFloorReport writes the alternating rounds: each round's rates and
// ratios, the median and the range of by-id ÷ floor, and the CPU time each
// process spent per request.
func writeFloorReport(t testing.TB, name string, rounds []floorRound, cpu map[string]*cpuUse, workers int, d time.Duration) {
	t.Helper()
	if len(rounds) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| round | order | kv-v1 reads/s | floor reads/s | by-id tokens/s | by-id ÷ floor | by-id ÷ kv-v1 |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
	var perFloor, perKV []float64
	for i, r := range rounds {
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.0f | %.0f | %.1f%% | %.1f%% |\n",
			i+1, strings.Join(r.Order, ", "), r.KV, r.Floor, r.Tokens, 100*r.TokensPerFloor, 100*r.PerKV)
		perFloor, perKV = append(perFloor, r.TokensPerFloor), append(perKV, r.PerKV)
	}
	slices.Sort(perFloor)
	slices.Sort(perKV)
	summary := fmt.Sprintf("by-id ÷ floor: median %.1f%%, range %.1f–%.1f%% over %d rounds; by-id ÷ kv-v1: median %.1f%%, range %.1f–%.1f%%",
		100*middle(perFloor), 100*perFloor[0], 100*perFloor[len(perFloor)-1], len(rounds),
		100*middle(perKV), 100*perKV[0], 100*perKV[len(perKV)-1])
	fmt.Fprintf(&b, "\n%s. %d concurrent clients, %s per run.\n", summary, workers, d)
	t.Log(summary)

	fmt.Fprintf(&b, "\nCPU time per request over all rounds, in µs (from /proc; the clients and the GitHub double share the test process):\n\n")
	fmt.Fprintf(&b, "| reads of | requests | Vault | its plugin | clients and GitHub double | all |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|\n")
	for _, n := range []string{"kv-v1", "floor", "by-id"} {
		c := cpu[n]
		if c == nil || c.ops == 0 {
			continue
		}
		plugin := "–"
		if n != "kv-v1" {
			plugin = fmt.Sprintf("%.0f", c.per(c.plugin))
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %.0f | %.0f |\n", n, c.ops, c.per(c.vault), plugin, c.per(c.self), c.per(c.vault+c.plugin+c.self))
		t.Logf("%s: CPU per request: Vault %.0fµs, plugin %sµs, clients and double %.0fµs", n, c.per(c.vault), plugin, c.per(c.self))
	}
	if f, m := cpu["floor"], cpu["by-id"]; f != nil && m != nil && f.ops > 0 && m.ops > 0 {
		all := func(c *cpuUse) float64 { return c.per(c.vault + c.plugin + c.self) }
		server := func(c *cpuUse) float64 { return c.per(c.vault + c.plugin) }
		line := fmt.Sprintf("A floor read costs %.1f%% of a by-id token's CPU time, all processes counted; %.1f%% counting Vault and the plugin only (the test process holds the clients and the GitHub double, whose side of a mint runs at GitHub in production).",
			100*all(f)/all(m), 100*server(f)/server(m))
		fmt.Fprintf(&b, "\n%s\n", line)
		t.Log(line)
	}
	report(t, name, b.String())
}

// middle is the median of sorted values.
func middle(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// measuredRun is runLoad of op, adding to use the requests served and the
// CPU time Vault, the plugin binary pluginBin ("" for none) and this process
// spent meanwhile. With LOAD_PROFILE and LOAD_REPORT set and profile not
// "", it also writes CPU profiles of the run: Vault's (sys/pprof), this
// process's, and the engine's when PLUGIN_PPROF_ADDR is set (profilePlugin).
func measuredRun(t testing.TB, v *vaultServer, workers int, d time.Duration, op func(*api.Client) error, pluginBin, profile string, use *cpuUse) loadResult {
	t.Helper()
	pid := 0
	if pluginBin != "" {
		if pid = v.pluginPID(pluginBin); pid == 0 {
			t.Fatalf("%s: no %s process", v.Name, pluginBin)
		}
	}
	stop := func() {}
	if profile != "" {
		v.profile(t, "cpu-vault-"+profile+".pprof", d)
		if pluginBin == pluginName {
			profilePlugin(t, "cpu-plugin-"+profile+".pprof", d)
		}
		stop = profileSelf(t, "cpu-clients-"+profile+".pprof")
	}
	before := takeCPU(v, pid)
	res := runLoad(t, v, workers, d, op)
	stop()
	use.add(before, takeCPU(v, pid), res.Requests-res.Errors)
	return res
}

// cpuSample is the CPU time used so far by Vault, one of its plugins and
// this test process (the load clients and the GitHub double).
type cpuSample struct{ vault, plugin, self time.Duration }

func takeCPU(v *vaultServer, pluginPID int) cpuSample {
	s := cpuSample{vault: cpuTime(v.proc.cmd.Process.Pid), self: cpuTime(os.Getpid())}
	if pluginPID != 0 {
		s.plugin = cpuTime(pluginPID)
	}
	return s
}

// cpuUse sums CPU time and requests over runs.
type cpuUse struct {
	ops                 int
	vault, plugin, self time.Duration
}

func (c *cpuUse) add(before, after cpuSample, ops int) {
	c.ops += ops
	c.vault += after.vault - before.vault
	c.plugin += after.plugin - before.plugin
	c.self += after.self - before.self
}

// per is d per request, in µs.
func (c *cpuUse) per(d time.Duration) float64 {
	return float64(d.Microseconds()) / float64(c.ops)
}

// cpuTime is the user and system CPU time pid has used (Linux /proc; 0
// elsewhere). /proc counts in USER_HZ ticks, 100 a second.
func cpuTime(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(stat, ')') // comm may hold spaces and parens
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:])) // from field 3, state
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// pluginPID is the pid of v's plugin process running bin, or 0.
func (v *vaultServer) pluginPID(bin string) int {
	for _, c := range childPIDs(v.proc.cmd.Process.Pid) {
		if filepath.Base(string(bytes.SplitN(c.cmdline, []byte{0}, 2)[0])) == bin {
			return c.pid
		}
	}
	return 0
}

// profilePlugin profiles the engine's plugin process when PLUGIN_PPROF_ADDR
// names the loopback address a plugin built with -tags pprof serves
// net/http/pprof on (cmd/vault-plugin-github-app/pprof.go); the tests build
// it so with GOFLAGS=-tags=pprof.
func profilePlugin(t testing.TB, name string, d time.Duration) {
	if addr := os.Getenv("PLUGIN_PPROF_ADDR"); addr != "" {
		takeProfile(t, name, fmt.Sprintf("http://%s/debug/pprof/profile", addr), "", d)
	}
}

// profile profiles Vault itself (sys/pprof, with the root token).
func (v *vaultServer) profile(t testing.TB, name string, d time.Duration) {
	takeProfile(t, name, v.Addr+"/v1/sys/pprof/profile", v.RootToken, d)
}

// takeProfile fetches a CPU profile of the next d, less a second, from url
// into name in the LOAD_REPORT directory when LOAD_PROFILE is set; it
// returns at once, and the test waits for it before it ends.
func takeProfile(t testing.TB, name, url, vaultToken string, d time.Duration) {
	dir := os.Getenv("LOAD_REPORT")
	if os.Getenv("LOAD_PROFILE") == "" || dir == "" {
		return
	}
	url += fmt.Sprintf("?seconds=%d", max(1, int((d-time.Second)/time.Second)))
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Errorf("profiling for %s: %v", name, err)
			return
		}
		if vaultToken != "" {
			req.Header.Set("X-Vault-Token", vaultToken)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("profiling for %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("profiling for %s: %s %v", name, resp.Status, err)
			return
		}
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Errorf("profiling for %s: %v", name, err)
		}
	}()
}

// profileSelf starts a CPU profile of this process (the load clients and
// the GitHub double) into name in the LOAD_REPORT directory when
// LOAD_PROFILE is set, and returns what stops it.
func profileSelf(t testing.TB, name string) (stop func()) {
	dir := os.Getenv("LOAD_REPORT")
	if os.Getenv("LOAD_PROFILE") == "" || dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
}
