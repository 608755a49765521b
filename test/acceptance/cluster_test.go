//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// TestCluster runs the engine on a 3-node Vault cluster with integrated
// storage (raft) on loopback, every node with the plugin in its
// plugin_directory and the registration visible through it:
//
//   - a read sent to a standby is forwarded to the active node and mints;
//   - SIGKILL on the active node: one of the others takes over and minting
//     goes on through the new active node and the remaining standby;
//   - leases minted before the failover are revoked at the double when they
//     end (on the new active node) or when they are revoked there by hand;
//   - the killed node, started again, rejoins as a standby and mints;
//   - at the end the double's live tokens are exactly the tokens of the
//     cluster's leases, one for one.
//
// Short leases come from a role ttl (25s) on one-hour tokens, so a lease
// whose end was missed would leave its token live at the double for an
// hour and show up in the final count.
func TestCluster(t *testing.T) {
	t.Parallel()
	const (
		shortTTL = 25 * time.Second
		// Raw storage maps each lease to its token for the final check.
		extraConfig = "raw_storage_endpoint = true\n"
	)
	d := newDouble(t)

	// ---- the cluster -------------------------------------------------
	start := time.Now()
	n1 := startVault(t, vaultOptions{Storage: "raft", RaftNodeID: "node1", ExtraConfig: extraConfig, LogLevel: "debug"})
	join := fmt.Sprintf("  retry_join {\n    leader_api_addr = %q\n  }\n", n1.Addr)
	// Every request in this test goes through a client that does not
	// follow redirects: a standby that answers with a 307 to the active
	// node instead of forwarding the request fails the test.
	n1.Client = noRedirectClient(t, n1)
	nodes := []*vaultServer{n1}
	t.Logf("%s (node1): initialised and active after %.1fs", n1.Name, time.Since(start).Seconds())
	for _, id := range []string{"node2", "node3"} {
		joinStart := time.Now()
		n := startVault(t, vaultOptions{Storage: "raft", RaftNodeID: id, RaftExtra: join, NoInit: true, ExtraConfig: extraConfig})
		n.RootToken, n.UnsealKey = n1.RootToken, n1.UnsealKey
		n.Client = noRedirectClient(t, n)
		n.unsealStandby(t)
		t.Logf("%s (%s): joined as a standby in %.1fs, %s, log %s", n.Name, id, time.Since(joinStart).Seconds(), n.Addr, n.logPath)
		nodes = append(nodes, n)
	}
	waitUntil(t, time.Now().Add(60*time.Second), 200*time.Millisecond, func() (bool, string) {
		servers := raftServers(t, n1)
		voters := 0
		for _, s := range servers {
			if s.Voter {
				voters++
			}
		}
		return voters == 3, fmt.Sprintf("raft configuration has %d voters, want 3: %+v", voters, servers)
	})
	for _, n := range nodes[1:] {
		if h := health(t, n); !h.Standby || h.Sealed {
			t.Fatalf("%s is not an unsealed standby: %+v", n.Name, *h)
		}
	}
	t.Logf("cluster of 3 raft voters up in %.1fs; active %s, standbys %s and %s", time.Since(start).Seconds(), n1.Name, nodes[1].Name, nodes[2].Name)

	// ---- the engine, registered and mounted once, seen by every node ---
	n1.enableEngine(t, "github")
	n1.configureEngine(t, "github", d, nil)
	n1.writeRole(t, "github", "short", map[string]any{"owner": "acme", "ttl": shortTTL.String()})
	n1.writeRole(t, "github", "long", map[string]any{"owner": "acme"})
	for _, n := range nodes {
		checkRegistered(t, n)
		checkMountRuns(t, n, pluginVersion, pluginSHA)
	}

	// ---- minting through every node, standbys included -----------------
	var short, long []mintedToken
	origin := map[string]string{} // lease id -> node it was minted through
	for _, n := range nodes {
		for range 2 {
			for _, role := range []string{"short", "long"} {
				m := mint(t, n.Client, "github/token/"+role)
				origin[m.LeaseID] = n.Name
				if role == "short" {
					short = append(short, m)
				} else {
					long = append(long, m)
				}
				if !lookupToken(t, d, m.Data.Token).Live(time.Now()) {
					t.Fatalf("token minted through %s is not live at the double", n.Name)
				}
				if !n1.leaseExists(t, m.LeaseID) {
					t.Fatalf("lease %s minted through %s is unknown to the active node", m.LeaseID, n.Name)
				}
			}
		}
	}
	shortBefore, longBefore := len(short), len(long)
	t.Logf("before the failover: %d short and %d long leases minted (2+2 through each of %s (active), %s, %s)", shortBefore, longBefore, n1.Name, nodes[1].Name, nodes[2].Name)

	// ---- failover: SIGKILL the active node ------------------------------
	// During the failover, mint as an ordinary client would: following
	// redirects, but without retries and with a short timeout.
	survivors := nodes[1:]
	fast := map[*vaultServer]*api.Client{}
	for _, n := range survivors {
		c := n.newClient(t, n.RootToken)
		c.SetMaxRetries(0)
		c.SetClientTimeout(10 * time.Second)
		fast[n] = c
	}
	killedAt := time.Now()
	n1.kill(t)
	t.Logf("%s (active) killed with SIGKILL", n1.Name)

	// Until both survivors have minted once: find the new active node by
	// health, and try a mint through each survivor every 250ms.
	var newActive *vaultServer
	var activeAt time.Time
	firstMint := map[*vaultServer]time.Duration{}
	failures := map[string]int{}
	deadline := killedAt.Add(2 * time.Minute)
	for len(firstMint) < len(survivors) || newActive == nil {
		if time.Now().After(deadline) {
			t.Fatalf("2 minutes after the kill: new active found %t, %d of %d survivors minted, failures %v", newActive != nil, len(firstMint), len(survivors), failures)
		}
		for _, n := range survivors {
			if newActive == nil {
				if h, err := fast[n].Sys().Health(); err == nil && !h.Sealed && !h.Standby {
					newActive, activeAt = n, time.Now()
				}
			}
			if _, ok := firstMint[n]; ok {
				continue
			}
			m, err := tryMint(fast[n], "github/token/short", nil)
			if err != nil {
				failures[n.Name+": "+clip(err.Error(), 160)]++
				continue
			}
			firstMint[n] = m.After.Sub(killedAt)
			origin[m.LeaseID] = n.Name
			short = append(short, m)
		}
		time.Sleep(250 * time.Millisecond)
	}
	var standby *vaultServer
	for _, n := range survivors {
		if n != newActive {
			standby = n
		}
	}
	t.Logf("failover: %s active %.1fs after the kill; first mint by a client following redirects through %s (active) %.1fs, through %s (standby) %.1fs after the kill",
		newActive.Name, activeAt.Sub(killedAt).Seconds(), newActive.Name, firstMint[newActive].Seconds(), standby.Name, firstMint[standby].Seconds())
	failed := 0
	for msg, n := range failures {
		failed += n
		t.Logf("  failed mint during the failover (%dx): %s", n, msg)
	}
	if h := health(t, standby); !h.Standby || h.Sealed {
		t.Errorf("%s is not an unsealed standby after the failover: %+v", standby.Name, *h)
	}
	// The standby's first mint may have been a redirect to the new active
	// node (a client follows it): until the standby can reach the new
	// active node's cluster port it cannot forward. Wait until it forwards
	// again, through the client that does not follow redirects.
	waitUntil(t, time.Now().Add(60*time.Second), 100*time.Millisecond, func() (bool, string) {
		s, err := standby.Client.Logical().Read("github/info")
		return err == nil && s != nil, fmt.Sprintf("%s still does not forward github/info: %v", standby.Name, err)
	})
	t.Logf("failover: %s forwards requests again %.1fs after the kill", standby.Name, time.Since(killedAt).Seconds())
	for _, n := range survivors {
		checkRegistered(t, n)
		checkMountRuns(t, n, pluginVersion, pluginSHA)
	}

	for _, n := range survivors {
		for range 2 {
			for _, role := range []string{"short", "long"} {
				m := mint(t, n.Client, "github/token/"+role)
				origin[m.LeaseID] = n.Name
				if role == "short" {
					short = append(short, m)
				} else {
					long = append(long, m)
				}
			}
		}
	}

	// ---- leases from before the failover, revoked on the new active ----
	// One long lease minted through each node before the kill is revoked
	// on the new active node; one minted after it is revoked through the
	// standby (forwarded).
	var keep []mintedToken
	revoked := map[string]bool{}
	for i, m := range long {
		byHand := (i < longBefore && i%2 == 0) || i == longBefore
		if !byHand {
			keep = append(keep, m)
			continue
		}
		via := newActive
		if i >= longBefore {
			via = standby
		}
		asked := time.Now()
		if err := via.Client.Sys().Revoke(m.LeaseID); err != nil {
			t.Fatalf("revoking lease %s (minted through %s) on %s: %v", m.LeaseID, origin[m.LeaseID], via.Name, err)
		}
		tok := waitRevoked(t, d, m.Data.Token, time.Now().Add(15*time.Second))
		revoked[m.LeaseID] = true
		if newActive.leaseExists(t, m.LeaseID) {
			t.Errorf("lease %s still exists after being revoked", m.LeaseID)
		}
		t.Logf("long lease minted through %s %s the failover, revoked through %s: revoked at the double %.2fs after the request",
			origin[m.LeaseID], map[bool]string{true: "before", false: "after"}[i < longBefore], via.Name, tok.RevokedAt.Sub(asked).Seconds())
	}

	// ---- the killed node comes back as a standby ------------------------
	backAt := time.Now()
	if err := n1.launch(t); err != nil {
		t.Fatalf("%s: %v", n1.Name, err)
	}
	n1.unsealStandby(t)
	t.Logf("%s restarted and rejoined as a standby in %.1fs", n1.Name, time.Since(backAt).Seconds())
	for _, role := range []string{"short", "long"} {
		m := mint(t, n1.Client, "github/token/"+role)
		origin[m.LeaseID] = n1.Name
		if role == "short" {
			short = append(short, m)
		} else {
			keep = append(keep, m)
		}
	}
	if n := len(raftServers(t, newActive)); n != 3 {
		t.Errorf("raft configuration lists %d servers after the rejoin, want 3", n)
	}

	// ---- every short lease ends and its token is revoked ----------------
	var late []time.Duration
	for i, m := range short {
		// Vault answers with the time left on the lease, in whole
		// seconds; a standby's forwarding on a loaded machine can cost
		// one of them.
		if m.LeaseTTL > shortTTL || m.LeaseTTL < shortTTL-time.Second {
			t.Errorf("short lease %s has ttl %s, want %s (or a second less)", m.LeaseID, m.LeaseTTL, shortTTL)
		}
		end := m.Before.Add(m.LeaseTTL)
		tok := waitRevoked(t, d, m.Data.Token, end.Add(90*time.Second))
		if tok.RevokedAt.Before(end.Add(-time.Second)) {
			t.Errorf("short lease %s (through %s) revoked at the double at %s, before its end %s", m.LeaseID, origin[m.LeaseID], tok.RevokedAt, end)
		}
		l := tok.RevokedAt.Sub(m.After.Add(m.LeaseTTL))
		late = append(late, l)
		if i < shortBefore {
			t.Logf("short lease minted through %s before the failover: ended %.1fs after the kill, revoked at the double %+.2fs after its end",
				origin[m.LeaseID], m.After.Add(m.LeaseTTL).Sub(killedAt).Seconds(), l.Seconds())
		}
	}
	slices.Sort(late)
	t.Logf("%d short leases revoked at the double after their end: median %+.2fs, max %+.2fs", len(short), late[len(late)/2].Seconds(), late[len(late)-1].Seconds())

	// ---- the double's live tokens are the cluster's leases -------------
	var leases map[string]string
	waitUntil(t, time.Now().Add(30*time.Second), 250*time.Millisecond, func() (bool, string) {
		leases = leasesByTokenAll(t, newActive, "github/token/")
		return len(leases) == len(keep), fmt.Sprintf("%d leases under github/token/, want %d (the long ones not revoked)", len(leases), len(keep))
	})
	live := d.LiveTokens()
	for _, tok := range live {
		if _, ok := leases[tok.Value]; !ok {
			t.Errorf("token %s is live at the double but no lease holds it", hashOf(tok.Value))
		}
	}
	for _, m := range keep {
		if leases[m.Data.Token] != m.LeaseID {
			t.Errorf("lease %s (through %s): Vault's lease for its token is %q", m.LeaseID, origin[m.LeaseID], leases[m.Data.Token])
		}
	}
	if len(live) != len(leases) {
		t.Errorf("%d live tokens at the double, %d leases in the cluster", len(live), len(leases))
	}
	for _, n := range []*vaultServer{newActive, standby, n1} {
		if got := countLeases(t, n, "github/token/"); got != len(leases) {
			t.Errorf("%d leases listed through %s, want %d", got, n.Name, len(leases))
		}
	}
	t.Logf("minted %d before the failover, %d after (%d of them through the rejoined %s); %d mints failed during the failover; revoked by hand %d; at the end: %d leases, %d live tokens at the double, %d tokens issued in all",
		shortBefore+longBefore, len(short)+len(long)+1-shortBefore-longBefore, 2, n1.Name, failed, len(revoked), len(leases), len(live), len(d.Tokens()))
}

// unsealStandby unseals a server that joins (or rejoins) a raft cluster
// with the cluster's key and waits until it is an unsealed standby. The
// first unseal can fail while retry_join has not reached the leader yet.
func (v *vaultServer) unsealStandby(t testing.TB) {
	t.Helper()
	waitUntil(t, time.Now().Add(60*time.Second), 250*time.Millisecond, func() (bool, string) {
		s, err := v.Client.Sys().Unseal(v.UnsealKey)
		if err != nil {
			return false, fmt.Sprintf("%s: unseal: %v", v.Name, err)
		}
		return !s.Sealed, fmt.Sprintf("%s still sealed: %+v", v.Name, *s)
	})
	waitUntil(t, time.Now().Add(60*time.Second), 200*time.Millisecond, func() (bool, string) {
		h, err := v.Client.Sys().Health()
		if err != nil {
			return false, fmt.Sprintf("%s health: %v", v.Name, err)
		}
		return h.Initialized && !h.Sealed && h.Standby, fmt.Sprintf("%s not an unsealed standby: %+v", v.Name, *h)
	})
}

// kill sends SIGKILL to the server, as a crash would, and waits for it to
// exit. The plugin processes it had started are killed too if they outlive
// it (a SIGKILLed Vault cannot stop them).
func (v *vaultServer) kill(t testing.TB) {
	t.Helper()
	p := v.proc
	children := childPIDs(p.cmd.Process.Pid)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("%s: SIGKILL: %v", v.Name, err)
	}
	<-p.done
	for _, c := range children {
		var alive bool
		for range 20 {
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.pid))
			if alive = err == nil && string(cmdline) == string(c.cmdline); !alive {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if alive {
			t.Logf("%s: child process %d (%s) outlived the SIGKILL by 2s; killing it", v.Name, c.pid, strings.ReplaceAll(string(c.cmdline), "\x00", " "))
			syscall.Kill(c.pid, syscall.SIGKILL)
		}
	}
}

// noRedirectClient is a root client for v that does not follow redirects,
// so a request v does not forward to the active node fails (a 307 with no
// body reads as an empty answer).
func noRedirectClient(t testing.TB, v *vaultServer) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = v.Addr
	cfg.Timeout = 60 * time.Second
	cfg.DisableRedirects = true
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearNamespace()
	c.SetToken(v.RootToken)
	return c
}

func health(t testing.TB, v *vaultServer) *api.HealthResponse {
	t.Helper()
	h, err := v.Client.Sys().Health()
	if err != nil {
		t.Fatalf("%s: health: %v", v.Name, err)
	}
	return h
}

type raftServer struct {
	NodeID string
	Leader bool
	Voter  bool
}

// raftServers reads sys/storage/raft/configuration through v.
func raftServers(t testing.TB, v *vaultServer) []raftServer {
	t.Helper()
	s, err := v.Client.Logical().Read("sys/storage/raft/configuration")
	if err != nil || s == nil {
		t.Fatalf("%s: reading the raft configuration: %v", v.Name, err)
	}
	cfg, _ := s.Data["config"].(map[string]any)
	list, _ := cfg["servers"].([]any)
	var out []raftServer
	for _, e := range list {
		m, _ := e.(map[string]any)
		id, _ := m["node_id"].(string)
		leader, _ := m["leader"].(bool)
		voter, _ := m["voter"].(bool)
		out = append(out, raftServer{NodeID: id, Leader: leader, Voter: voter})
	}
	return out
}

// checkRegistered reads the plugin's catalog entry through v.
func checkRegistered(t testing.TB, v *vaultServer) {
	t.Helper()
	p, err := v.Client.Sys().GetPlugin(&api.GetPluginInput{Name: pluginName, Type: api.PluginTypeSecrets, Version: pluginVersion})
	if err != nil {
		t.Fatalf("%s: reading the catalog entry: %v", v.Name, err)
	}
	if p.Command != pluginName || p.SHA256 != pluginSHA || p.Version != pluginVersion || p.Builtin {
		t.Fatalf("%s: catalog entry %+v, want command %s sha256 %s version %s", v.Name, *p, pluginName, pluginSHA, pluginVersion)
	}
}

// checkMountRuns checks, through v, the version and sha256 github/ runs.
func checkMountRuns(t testing.TB, v *vaultServer, version, sha string) {
	t.Helper()
	m, err := v.Client.Sys().GetMount("github")
	if err != nil {
		t.Fatalf("%s: reading mount github: %v", v.Name, err)
	}
	if m.RunningVersion != version || m.RunningSha256 != sha {
		t.Fatalf("%s: mount github runs version %q sha256 %q, want %q %q", v.Name, m.RunningVersion, m.RunningSha256, version, sha)
	}
}

// leaseRoles lists the roles with leases under prefix (e.g.
// "github/token/"), as sys/leases/lookup names them ("short/").
func leaseRoles(t testing.TB, v *vaultServer, prefix string) []string {
	t.Helper()
	s, err := v.Client.Logical().List("sys/leases/lookup/" + strings.TrimSuffix(prefix, "/"))
	if err != nil {
		t.Fatalf("%s: listing leases under %s: %v", v.Name, prefix, err)
	}
	var out []string
	if s == nil {
		return out
	}
	keys, _ := s.Data["keys"].([]any)
	for _, k := range keys {
		if name, _ := k.(string); strings.HasSuffix(name, "/") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// leasesByTokenAll is leasesByToken across every role under prefix.
func leasesByTokenAll(t testing.TB, v *vaultServer, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, role := range leaseRoles(t, v, prefix) {
		for tok, id := range leasesByToken(t, v, prefix+role) {
			out[tok] = id
		}
	}
	return out
}

// countLeases counts the leases under prefix, role by role, through v.
func countLeases(t testing.TB, v *vaultServer, prefix string) int {
	t.Helper()
	n := 0
	for _, role := range leaseRoles(t, v, prefix) {
		s, err := v.Client.Logical().List("sys/leases/lookup/" + prefix + strings.TrimSuffix(role, "/"))
		if err != nil {
			t.Fatalf("%s: listing leases under %s%s: %v", v.Name, prefix, role, err)
		}
		if s != nil {
			keys, _ := s.Data["keys"].([]any)
			n += len(keys)
		}
	}
	return n
}

// clip shortens s to at most n bytes for a log line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
