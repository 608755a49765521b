//go:build acceptance

package acceptance

// The continuity soak (issue 11): the promise "a runner never holds a dead
// token", measured from the runner's side, through a real Vault and a real
// Vault Agent running the shipped recipe (examples/runner/agent-approle.hcl
// and its templates), under faults.
//
// Time is compressed: 60 s tokens and a 15 s expiry_buffer stand for
// GitHub's hour and the default 5 minutes. Every duration in the recipe's
// Agent config is divided by soakScale (1 h -> 60 s) when it is copied;
// nothing else in it changes but addresses and paths.
//
// A sampler reads the rendered token and credentials.json every 250 ms and
// asks the GitHub double about the token it finds: a sample is good when the
// token is live at GitHub (not revoked, not expired) with at least 5 s left.
// A prober runs the shipped git credential helper every 2 s and checks what
// it hands out the same way. Agent is restarted whenever it exits, as
// Kubernetes restarts a sidecar (CrashLoopBackOff, scaled). The token proxy
// (cmd/github-token-proxy) reads the same file, with the session's write
// scope (session-start.sh gives the role ambient/s1/*), and an agent
// side's git goes through it every 3 s to the GitHub double's git hosting
// (over TLS, under github.com's names): a round fetches, then pushes a new
// commit to the session's branch ambient/s1/soak, and every tenth round
// also pushes to main. Every fetch and every push to the session's branch
// succeeds (the branch then holds the pushed commit), or fails with the
// proxy's 503 when a fault outlasted the file's token and succeeds on a
// later try; every push to main is refused by the proxy (git prints its
// reason) or meets the same 503, and main never moves.
//
// SOAK_DURATION (default 2m30s) is how long the faults keep cycling; one
// full cycle always runs. SOAK_REPORT names a Markdown file to write the
// figures and the fault timeline to (make soak: docs/continuity.md).
// SOAK_LEASE_RENEWAL_THRESHOLD overrides the recipe's
// lease_renewal_threshold, to measure another choice.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

const (
	soakTokenLife = 60 * time.Second // GitHub's hour
	soakBuffer    = 15 * time.Second // the 5-minute expiry_buffer
	// soakScale divides the recipe's durations: 1 h -> 60 s.
	soakScale = 60
	// soakMinLeft: a good sample's token has at least this left at GitHub.
	soakMinLeft  = 5 * time.Second
	soakInterval = 250 * time.Millisecond
	// The credential helper's margin and wait, scaled (2 minutes is 2 s at
	// this scale; the sample rule's 5 s is stricter, so the soak uses it).
	soakHelperMargin = 5
	soakHelperWait   = 10
	// The GitHub mint outage: 40% of a token's life.
	soakMintOutage = 24 * time.Second
	soakSlowGitHub = 2 * time.Second
	soakSlowFor    = 15 * time.Second
	// Agent's AppRole token: token_ttl is the recipe's 1 h, scaled; the max
	// TTL is compressed so that Agent's token reaches it about every 45 s
	// of an Agent's life (a rollover), not once a day.
	soakAgentTokenTTL    = 60 * time.Second
	soakAgentTokenMaxTTL = 70 * time.Second
	soakRole             = "session_" + soakAppRole              // session_<namespace>_<serviceaccount>, as session-start.sh names it
	soakAppRole          = "ambient-sessions_ambient-session-s1" // the AppRole role: <namespace>_<serviceaccount>
	// soakBranch is where every round pushes: inside the session's write
	// scope (session-start.sh's default for session s1, ambient/s1/*).
	soakBranch = "ambient/s1/soak"
	// soakMainEvery: every soakMainEvery-th round (the first included)
	// also tries main.
	soakMainEvery = 10
	// soakNumRetries compresses Agent's retry window (see soakAgentConfig).
	soakNumRetries = 2
)

// TestSoak runs the continuity soak on one Vault server with raft storage:
// Vault restarts, a Vault outage longer than Agent's retry window, SIGKILL
// of Agent and of the plugin, a GitHub mint outage of 40% of a token's life
// starting at Agent's re-read, a slow GitHub, and Agent's token reaching its
// max TTL at least twice. It asserts 100% good samples, no helper answer
// with a dying token, no leak, no lease whose token is gone.
func TestSoak(t *testing.T) {
	duration := 150 * time.Second
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		var err error
		if duration, err = time.ParseDuration(s); err != nil {
			t.Fatalf("SOAK_DURATION=%q: %v", s, err)
		}
	}
	d := newTLSDouble(t, githubtest.WithTokenLifetime(soakTokenLife))
	v := startVault(t, vaultOptions{Storage: "raft", ExtraConfig: "raw_storage_endpoint = true\n", LogLevel: "info"})
	s := newSoak(t, "single", d, v, v.Addr, func() *vaultServer { return v })

	for cycle := 1; cycle == 1 || time.Since(s.start) < duration; cycle++ {
		s.event("cycle %d", cycle)
		s.waitRotations(1, 90*time.Second)

		s.killPlugin(v)
		s.sleep(5 * time.Second)

		s.event("GitHub slow: %s per call, for %s", soakSlowGitHub, soakSlowFor)
		d.SetLatency(soakSlowGitHub)
		s.faults["slow GitHub"]++
		s.sleep(soakSlowFor)
		d.SetLatency(0)
		s.event("GitHub fast again")

		// Arm the outage right after a render, when neither a restart nor a
		// rollover is due: the next mint is Agent's re-read.
		s.waitRollovers(s.rollovers()+1, 2*soakAgentTokenMaxTTL)
		s.mintOutage()

		s.sleep(5 * time.Second)
		s.event("Vault restart (stop, start, unseal)")
		down := time.Now()
		v.restart(t)
		s.faults["Vault restart"]++
		s.event("Vault back after %.1fs", time.Since(down).Seconds())

		s.sleep(10 * time.Second)
		s.killAgent()

		s.vaultOutage(v)
		s.waitRollovers(s.rollovers()+1, 2*soakAgentTokenMaxTTL)
	}
	s.finish()
	s.check()
}

// TestSoakFailover runs the soak on a 3-node raft cluster (the setup of
// TestCluster) with Agent talking to the cluster through a loopback TCP
// balancer, as it would through a Kubernetes service, and kills the active
// node with SIGKILL while the sampler runs.
func TestSoakFailover(t *testing.T) {
	d := newTLSDouble(t, githubtest.WithTokenLifetime(soakTokenLife))
	const extra = "raw_storage_endpoint = true\n"
	n1 := startVault(t, vaultOptions{Storage: "raft", RaftNodeID: "node1", ExtraConfig: extra, LogLevel: "info"})
	join := fmt.Sprintf("  retry_join {\n    leader_api_addr = %q\n  }\n", n1.Addr)
	nodes := []*vaultServer{n1}
	for _, id := range []string{"node2", "node3"} {
		n := startVault(t, vaultOptions{Storage: "raft", RaftNodeID: id, RaftExtra: join, NoInit: true, ExtraConfig: extra, LogLevel: "info"})
		n.RootToken, n.UnsealKey = n1.RootToken, n1.UnsealKey
		n.Client.SetToken(n.RootToken)
		n.unsealStandby(t)
		nodes = append(nodes, n)
	}
	var mu sync.Mutex
	active := n1
	current := func() *vaultServer { mu.Lock(); defer mu.Unlock(); return active }
	lb := startBalancer(t, nodes)

	s := newSoak(t, "failover", d, n1, lb, current)
	s.waitRotations(2, 120*time.Second)

	s.event("SIGKILL of the active node %s", n1.Name)
	killed := time.Now()
	n1.kill(t)
	s.faults["leader failover"]++
	var next *vaultServer
	waitUntil(t, killed.Add(2*time.Minute), 250*time.Millisecond, func() (bool, string) {
		for _, n := range nodes[1:] {
			if h, err := n.Client.Sys().Health(); err == nil && !h.Sealed && !h.Standby {
				next = n
				return true, ""
			}
		}
		return false, "no new active node"
	})
	mu.Lock()
	active = next
	mu.Unlock()
	s.event("%s active %.1fs after the kill", next.Name, time.Since(killed).Seconds())
	// Rotations through the new active node.
	s.waitRotations(s.rotations()+2, 120*time.Second)
	s.finish()
	s.check()
}

// ---------------------------------------------------------------------------
// The soak

type soakEvent struct {
	at   time.Duration
	what string
}

// soakToken is one token as the runner saw it in the file.
type soakToken struct {
	value     string
	firstSeen time.Time
	leftAt    time.Time // first sample showing the next token; zero while current
	tok       githubtest.Token
}

type soak struct {
	t       *testing.T
	name    string
	d       *githubtest.Server
	active  func() *vaultServer
	start   time.Time
	work    string
	files   renderedFiles
	env     []string
	helper  []string // the prober's environment
	thresh  string   // lease_renewal_threshold used
	config  string   // Agent's config as run
	faults  map[string]int
	stopped chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	timeline []soakEvent
	// sampler
	samples, good     int
	badRun, worstRun  int
	badSince          time.Time
	worstFrom         time.Time
	worstFor          time.Duration
	badReasons        []string
	tokens            []*soakToken
	unknownSeen       int
	helperCalls       int
	helperGood        int
	helperRefused     int
	helperBad         int
	helperReasons     []string
	agentStarts       int
	agentExits        []string
	agentProcs        []*process
	agentLogs         []string
	outageAgentExited bool
	// git through the token proxy (fetch, push)
	gitEnv                 []string
	gitDir                 string
	rounds                 int
	fetched, pushed        gitTally
	fetchReasons           []string
	mainTries, mainRefused int
	main503, mainBad       int
	mainMoved              int
	// results
	gaps       []time.Duration
	unrevoked  int
	leaks      int
	goneLeases int
	// goneNeverRendered: leases whose token is gone and was never in the
	// file (see check).
	goneNeverRendered int
	liveAtEnd         int
	leasesAtEnd       int
	finishedAt        time.Duration
	rolloverSeen      int
}

// newSoak sets the session up as the README does (AppRole, the session
// policy, session-start.sh), copies the recipe into a scratch directory and
// starts the Agent supervisor, the sampler and the helper prober. vaultAddr
// is what Agent talks to; active returns the active node.
func newSoak(t *testing.T, name string, td *tlsDouble, v *vaultServer, vaultAddr string, active func() *vaultServer) *soak {
	d := td.Server
	s := &soak{t: t, name: name, d: d, active: active, faults: map[string]int{}, stopped: make(chan struct{})}
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, map[string]any{"expiry_buffer": soakBuffer.String(), "ca_certificate": string(td.ca.CertPEM)})
	roleID, secretID := v.approle(t, soakAppRole, "github-session-approle")
	if _, err := v.Client.Logical().Write("auth/approle/role/"+soakAppRole, map[string]any{
		"token_policies": "github-session-approle",
		"token_ttl":      soakAgentTokenTTL.String(),
		"token_max_ttl":  soakAgentTokenMaxTTL.String(),
	}); err != nil {
		t.Fatal(err)
	}
	putSessionPolicy(t, v)
	writeSessionBound(t, v)
	if out, errOut, err := runExampleScript(t, vaultEnv(v, v.RootToken), "", examplePath("runner", "session-start.sh"), "s1", "acme/widgets", "acme/gadgets"); err != nil {
		t.Fatalf("session-start.sh s1: %v\n%s%s", err, out, errOut)
	}

	s.work = t.TempDir()
	for _, f := range runnerTemplates {
		copyExample(t, s.work, "runner", f)
	}
	s.config, s.thresh = soakAgentConfig(t, readExample(t, "runner", "agent-approle.hcl"))
	if err := os.WriteFile(filepath.Join(s.work, "agent-approle.hcl"), []byte(s.config), 0o644); err != nil {
		t.Fatal(err)
	}
	for f, val := range map[string]string{"role-id": roleID, "secret-id": secretID} {
		if err := os.WriteFile(filepath.Join(s.work, f), []byte(val), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.files = renderedIn(filepath.Join(s.work, "github"))
	s.env = exampleEnv("VAULT_ADDR="+vaultAddr, "GITHUB_ROLE="+soakRole, "GIT_USER_NAME=Soak", "GIT_USER_EMAIL=soak@example.com")
	s.helper = exampleEnv("GITHUB_CREDENTIALS_FILE="+s.files.Credentials,
		"GITHUB_TOKEN_MARGIN="+strconv.Itoa(soakHelperMargin), "GITHUB_TOKEN_WAIT="+strconv.Itoa(soakHelperWait))

	s.start = time.Now()
	t.Cleanup(func() {
		s.stop()
		if s.finishedAt == 0 { // the test stopped early: report what was seen
			s.finishedAt = time.Since(s.start)
			s.event("the test stopped before the end of the run")
			s.report()
		}
	})
	s.event("%s soak: tokens %s, buffer %s, lease_renewal_threshold %s, Agent token_ttl %s / token_max_ttl %s, num_retries %d", name, soakTokenLife, soakBuffer, s.thresh, soakAgentTokenTTL, soakAgentTokenMaxTTL, soakNumRetries)
	s.wg.Add(3)
	go s.supervise()
	go s.sample()
	go s.probe()
	waitUntil(t, time.Now().Add(60*time.Second), 100*time.Millisecond, func() (bool, string) {
		return s.rotations() >= 0, "Agent rendered nothing within 60s"
	})
	s.event("first token rendered")

	// The agent side's git, through the token proxy reading the same
	// file: a clone now, a round every 3 s for the whole run. Its commits
	// are the App's bot's, from the gitconfig Agent renders, as in the
	// pod (proxy-pod.yaml).
	var creds credentialsJSON
	if data, err := os.ReadFile(s.files.Credentials); err != nil || json.Unmarshal(data, &creds) != nil || !slices.Equal(creds.Branches, []string{"ambient/s1/*"}) {
		t.Fatalf("credentials.json: branches %v (%v), want the session's scope [ambient/s1/*]", creds.Branches, err)
	}
	tp := startTokenProxy(t, s.files.Credentials, td.addr, td.caFile, "tunnel")
	s.gitEnv = append(agentSideEnv(t.TempDir(), tp),
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=include.path", "GIT_CONFIG_VALUE_0="+filepath.Join(s.work, "github-session", "gitconfig"))
	clones := t.TempDir()
	if out, errOut, err := runBounded(t, clones, s.gitEnv, "", 2*time.Minute, "git", "clone", "--quiet", "https://github.com/acme/widgets.git", "widgets"); err != nil {
		t.Fatalf("git clone through the proxy: %v\n%s%s", err, out, errOut)
	}
	s.gitDir = filepath.Join(clones, "widgets")
	s.wg.Add(1)
	go s.gitRounds()
	return s
}

// proxy503 reports whether git's output is the proxy's 503: its token
// source had no usable token (a fault outlasted the file's token).
func proxy503(msg string) bool {
	return strings.Contains(msg, "error: 503") && strings.Contains(msg, "github-token-proxy")
}

// gitRounds runs a round of git through the proxy every 3 s: a fetch, a
// push to the session's branch, and every tenth round a push to main.
func (s *soak) gitRounds() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stopped:
			return
		case <-time.After(3 * time.Second):
		}
		s.mu.Lock()
		s.rounds++
		round := s.rounds
		s.mu.Unlock()
		s.fetch()
		s.push(round)
		if round%soakMainEvery == 1 { // rounds 1, 11, 21...: even a short soak tries
			s.pushMain()
		}
	}
}

// git runs git in the agent side's clone.
func (s *soak) git(args ...string) (string, error) {
	out, errOut, err := runBounded(s.t, s.gitDir, s.gitEnv, "", proxyWait+30*time.Second, "git", args...)
	return strings.TrimSpace(out + errOut), err
}

// push commits a small file and pushes it to the session's branch. A
// push must succeed and leave the branch at the pushed commit, or fail
// with the proxy's 503 and succeed on a later try.
func (s *soak) push(round int) {
	name := fmt.Sprintf("round-%d.txt", round)
	if err := os.WriteFile(filepath.Join(s.gitDir, name), []byte(name+"\n"), 0o644); err != nil {
		s.t.Errorf("soak push: %v", err)
		return
	}
	if out, err := s.git("add", name); err != nil {
		s.t.Errorf("soak: git add: %v: %s", err, out)
		return
	}
	if out, err := s.git("commit", "--quiet", "-m", "Round "+strconv.Itoa(round)); err != nil {
		s.t.Errorf("soak: git commit: %v: %s", err, out)
		return
	}
	head, _ := s.git("rev-parse", "HEAD")
	msg, err := s.git("push", "--quiet", "origin", "HEAD:refs/heads/"+soakBranch)
	now := time.Now()
	var at string
	if err == nil {
		refs, rerr := s.d.Refs("acme/widgets")
		if at = refs["refs/heads/"+soakBranch]; rerr != nil || at != head {
			err = fmt.Errorf("the push succeeded, yet %s is at %q, not the pushed %s (%v)", soakBranch, at, head, rerr)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gitReason(now, "push", s.pushed.add(err, msg))
}

// pushMain pushes the clone's HEAD (a fast-forward of main, which GitHub
// would take) to main: the proxy must refuse it in git's report-status, or
// answer its 503 when it has no token; main must not move either way.
func (s *soak) pushMain() {
	before, err := s.d.Refs("acme/widgets")
	if err != nil {
		s.t.Errorf("soak: %v", err)
		return
	}
	msg, perr := s.git("push", "origin", "HEAD:refs/heads/main")
	after, err := s.d.Refs("acme/widgets")
	if err != nil {
		s.t.Errorf("soak: %v", err)
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mainTries++
	if after["refs/heads/main"] != before["refs/heads/main"] {
		s.mainMoved++
	}
	switch {
	case perr != nil && strings.Contains(msg, "! [remote rejected] HEAD -> main (github-token-proxy: refused: git push would write branch \"main\""):
		s.mainRefused++
	case perr != nil && proxy503(msg):
		s.main503++
	default:
		s.mainBad++
		if len(s.fetchReasons) < 20 {
			s.fetchReasons = append(s.fetchReasons, fmt.Sprintf("+%.1fs: push to main not refused by the scope: %v: %s", now.Sub(s.start).Seconds(), perr, msg))
		}
	}
}

// fetch runs git fetch through the proxy. A fetch must succeed, or fail
// with the proxy's 503 (its token source had no usable token: a fault
// outlasted the file's token) and then succeed on a later try.
func (s *soak) fetch() {
	out, errOut, err := runBounded(s.t, s.gitDir, s.gitEnv, "", proxyWait+30*time.Second, "git", "fetch", "--quiet", "origin")
	now := time.Now()
	s.mu.Lock()
	s.gitReason(now, "fetch", s.fetched.add(err, strings.TrimSpace(out+errOut)))
	s.mu.Unlock()
}

// gitTally counts one kind of git operation through the proxy: each
// succeeds, or fails with the proxy's 503 (a run of those must end in a
// success), or fails otherwise.
type gitTally struct {
	n, ok, c503, bad, streaks int
	failing                   bool // the last one failed with a 503
}

// add counts one operation that ended with err and printed msg, and
// says why it failed ("" when it did not).
func (g *gitTally) add(err error, msg string) string {
	g.n++
	switch {
	case err == nil:
		g.ok++
		g.failing = false
		return ""
	case proxy503(msg):
		g.c503++
		if !g.failing {
			g.streaks++
		}
		g.failing = true
		return "the proxy's 503: " + msg
	default:
		g.bad++
		return fmt.Sprintf("failed: %v: %s", err, msg)
	}
}

// gitReason keeps the first 20 reasons git operations failed (s.mu held).
func (s *soak) gitReason(now time.Time, op, reason string) {
	if reason != "" && len(s.fetchReasons) < 20 {
		s.fetchReasons = append(s.fetchReasons, fmt.Sprintf("+%.1fs: %s: %s", now.Sub(s.start).Seconds(), op, reason))
	}
}

var hclDuration = regexp.MustCompile(`= "([0-9]+(?:ms|s|m|h))"`)

// soakAgentConfig is agent-approle.hcl as the soak runs it: every duration
// divided by soakScale, and lease_renewal_threshold overridden by
// SOAK_LEASE_RENEWAL_THRESHOLD if set. It returns the threshold in force.
func soakAgentConfig(t testing.TB, cfg string) (string, string) {
	cfg = hclDuration.ReplaceAllStringFunc(cfg, func(m string) string {
		d, err := time.ParseDuration(hclDuration.FindStringSubmatch(m)[1])
		if err != nil {
			t.Fatalf("agent-approle.hcl: %s: %v", m, err)
		}
		return fmt.Sprintf("= %q", (d / soakScale).String())
	})
	// Agent's retry window is a number of retries, not a duration: 12
	// retries are about 5-6 minutes (a tenth of a token's life) at real
	// scale but over a minute here, longer than a token's life. Two retries
	// (15-20 s here) compress it like everything else.
	if strings.Contains(cfg, "num_retries") {
		t.Fatal("agent-approle.hcl sets num_retries; the soak's compression of the retry window needs revisiting")
	}
	cfg += "\n# Added by the soak: Agent's retry window, compressed.\nvault {\n  retry {\n    num_retries = " + strconv.Itoa(soakNumRetries) + "\n  }\n}\n"
	re := regexp.MustCompile(`(?m)^(\s*lease_renewal_threshold\s*=\s*)([0-9.]+)`)
	m := re.FindStringSubmatch(cfg)
	thresh := "0.9 (Agent's default)"
	if m != nil {
		thresh = m[2]
	}
	if o := os.Getenv("SOAK_LEASE_RENEWAL_THRESHOLD"); o != "" {
		if _, err := strconv.ParseFloat(o, 64); err != nil {
			t.Fatalf("SOAK_LEASE_RENEWAL_THRESHOLD=%q: %v", o, err)
		}
		if m != nil {
			cfg = re.ReplaceAllString(cfg, "${1}"+o)
		} else {
			cfg = strings.Replace(cfg, "template_config {", "template_config {\n  lease_renewal_threshold = "+o, 1)
		}
		thresh = o + " (SOAK_LEASE_RENEWAL_THRESHOLD)"
	}
	return cfg, thresh
}

func (s *soak) event(format string, args ...any) {
	at := time.Since(s.start)
	what := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.timeline = append(s.timeline, soakEvent{at, what})
	s.mu.Unlock()
	s.t.Logf("soak %s +%6.1fs  %s", s.name, at.Seconds(), what)
}

func (s *soak) sleep(d time.Duration) { time.Sleep(d) }

// rotations is the number of tokens seen in the file minus one (-1 before
// the first).
func (s *soak) rotations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens) - 1
}

func (s *soak) waitRotations(n int, within time.Duration) {
	s.t.Helper()
	waitUntil(s.t, time.Now().Add(within), 100*time.Millisecond, func() (bool, string) {
		return s.rotations() >= n, fmt.Sprintf("%d rotations, want %d", s.rotations(), n)
	})
}

// rollovers counts Agent's logins after its first, per Agent process: a
// running Agent logs in again only when its token cannot be renewed any
// more, at its max TTL.
func (s *soak) rollovers() int {
	s.mu.Lock()
	logs := slices.Clone(s.agentLogs)
	s.mu.Unlock()
	n := 0
	for _, p := range logs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if c := strings.Count(string(data), "authentication successful"); c > 1 {
			n += c - 1
		}
	}
	return n
}

func (s *soak) waitRollovers(n int, within time.Duration) {
	s.t.Helper()
	waitUntil(s.t, time.Now().Add(within), 200*time.Millisecond, func() (bool, string) {
		return s.rollovers() >= n, fmt.Sprintf("%d Agent token rollovers, want %d", s.rollovers(), n)
	})
	s.event("Agent's token reached its max TTL: rollover %d (Agent logged in again)", s.rollovers())
	s.faults["Agent token max-TTL rollover"] = s.rollovers()
}

// waitRender waits for the next token in the file.
func (s *soak) waitRender(within time.Duration) {
	s.t.Helper()
	n := s.rotations()
	s.waitRotations(n+1, within)
}

func (s *soak) killPlugin(v *vaultServer) {
	s.t.Helper()
	for _, c := range childPIDs(v.proc.cmd.Process.Pid) {
		if strings.Contains(string(c.cmdline), pluginName) {
			if err := syscall.Kill(c.pid, syscall.SIGKILL); err != nil {
				s.t.Fatalf("SIGKILL of the plugin: %v", err)
			}
			s.faults["plugin SIGKILL"]++
			s.event("SIGKILL of the plugin process %d (Vault starts it again on the next request)", c.pid)
			return
		}
	}
	s.t.Fatalf("no plugin process under %s", v.Name)
}

func (s *soak) killAgent() {
	s.t.Helper()
	s.mu.Lock()
	p := s.agentProcs[len(s.agentProcs)-1]
	s.mu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("SIGKILL of Agent: %v", err)
	}
	s.faults["Agent SIGKILL"]++
	s.event("SIGKILL of Agent (pid %d)", p.cmd.Process.Pid)
	s.waitRender(60 * time.Second)
	s.event("the restarted Agent rendered a new token")
}

// mintOutage arms the GitHub mint outage right after a render and waits
// until it is over and Agent has rendered again.
func (s *soak) mintOutage() {
	s.t.Helper()
	s.waitRender(90 * time.Second)
	before := len(s.d.MintOutages())
	s.d.ArmMintOutage(soakMintOutage)
	s.event("GitHub mint outage of %s armed: it starts at the next mint, Agent's re-read", soakMintOutage)
	var o githubtest.Outage
	waitUntil(s.t, time.Now().Add(90*time.Second), 100*time.Millisecond, func() (bool, string) {
		all := s.d.MintOutages()
		if len(all) == before {
			return false, "the mint outage never started"
		}
		o = all[len(all)-1]
		return time.Now().After(o.End), "the mint outage is not over"
	})
	s.faults["GitHub mint outage (40% of a token's life)"]++
	s.event("GitHub mint outage ran from +%.1fs to +%.1fs, %d mints refused with 503", o.Start.Sub(s.start).Seconds(), o.End.Sub(s.start).Seconds(), o.Refused)
	s.waitRender(90 * time.Second)
	s.event("first token after the outage rendered")
}

// vaultOutage stops Vault right after a render (Agent's token and the
// file's lease are then fresh) until Agent has given up its retries and
// exited, then 2 s more, and starts it again.
func (s *soak) vaultOutage(v *vaultServer) {
	s.t.Helper()
	s.waitRender(60 * time.Second)
	s.mu.Lock()
	exits := len(s.agentExits)
	s.mu.Unlock()
	s.event("Vault outage: stopped, until Agent has exhausted its retries and exited")
	down := time.Now()
	v.stop(s.t)
	waitUntil(s.t, down.Add(90*time.Second), 100*time.Millisecond, func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.agentExits) > exits, "Agent did not exit within 90s of Vault going down"
	})
	s.event("Agent exited after %.1fs of outage (its retry window)", time.Since(down).Seconds())
	time.Sleep(2 * time.Second)
	v.start(s.t)
	s.faults["Vault outage longer than Agent's retry window"]++
	s.event("Vault back after an outage of %.1fs", time.Since(down).Seconds())
	s.waitRender(60 * time.Second)
	s.event("first token after the outage rendered")
}

// supervise runs Agent from the scratch directory and starts it again when
// it exits, after a CrashLoopBackOff scaled like everything else (10 s
// doubling to 5 min, reset after 10 min of running).
func (s *soak) supervise() {
	defer s.wg.Done()
	backoff := 10 * time.Second / soakScale
	for n := 1; ; n++ {
		logPath := filepath.Join(s.work, fmt.Sprintf("agent-%d.log", n))
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			s.t.Errorf("agent log: %v", err)
			return
		}
		cmd := exec.Command(agentBin, "agent", "-config=agent-approle.hcl")
		cmd.Dir, cmd.Env = s.work, s.env
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			logf.Close()
			s.t.Errorf("starting Agent: %v", err)
			return
		}
		p := &process{name: "vault agent", cmd: cmd, logPath: logPath, done: make(chan struct{})}
		go func() {
			p.err = cmd.Wait()
			logf.Close()
			close(p.done)
		}()
		started := time.Now()
		s.mu.Lock()
		s.agentStarts++
		s.agentProcs = append(s.agentProcs, p)
		s.agentLogs = append(s.agentLogs, logPath)
		s.mu.Unlock()
		select {
		case <-s.stopped:
			p.stop(s.t, 15*time.Second)
			return
		case <-p.done:
		}
		s.mu.Lock()
		s.agentExits = append(s.agentExits, fmt.Sprintf("+%.1fs: %v", time.Since(s.start).Seconds(), p.err))
		s.mu.Unlock()
		if time.Since(started) > 10*time.Minute/soakScale {
			backoff = 10 * time.Second / soakScale
		}
		s.event("Agent exited (%v) after %.1fs; restarting it in %s", p.err, time.Since(started).Seconds(), backoff)
		select {
		case <-s.stopped:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Minute/soakScale)
	}
}

var credToken = regexp.MustCompile(`"token": "([^"]*)"`)

// sample reads the files every soakInterval and judges what they hold.
func (s *soak) sample() {
	defer s.wg.Done()
	tick := time.NewTicker(soakInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-tick.C:
		}
		tokFile, err1 := readTrimmed(s.files.Token)
		creds, err2 := readTrimmed(s.files.Credentials)
		now := time.Now()
		var credTok string
		if m := credToken.FindStringSubmatch(creds); m != nil {
			credTok = m[1]
		}
		s.mu.Lock()
		if len(s.tokens) == 0 && (tokFile == "" || credTok == "") {
			// Not rendered yet: Agent writes the files one after the
			// other, so the first render is complete when both hold a
			// token.
			s.mu.Unlock()
			continue
		}
		s.samples++
		reason := ""
		switch {
		case err1 != nil || err2 != nil:
			reason = fmt.Sprintf("reading the files: %v %v", err1, err2)
		case tokFile == "" || credTok == "":
			reason = "a file holds no token"
		default:
			for _, v := range []string{tokFile, credTok} {
				if r := s.judge(v, now, soakMinLeft); r != "" {
					reason = r
				}
			}
		}
		if tokFile != "" && (len(s.tokens) == 0 || s.tokens[len(s.tokens)-1].value != tokFile) {
			if len(s.tokens) > 0 {
				s.tokens[len(s.tokens)-1].leftAt = now
			}
			s.tokens = append(s.tokens, &soakToken{value: tokFile, firstSeen: now})
		}
		if reason == "" {
			s.good++
			s.badRun = 0
		} else {
			if s.badRun == 0 {
				s.badSince = now
			}
			s.badRun++
			if s.badRun > s.worstRun {
				s.worstRun, s.worstFrom, s.worstFor = s.badRun, s.badSince, now.Sub(s.badSince)+soakInterval
			}
			if len(s.badReasons) < 20 {
				s.badReasons = append(s.badReasons, fmt.Sprintf("+%.1fs: %s", now.Sub(s.start).Seconds(), reason))
			}
		}
		s.mu.Unlock()
	}
}

// judge says what is wrong with a token held at now ("" if nothing): it
// must be one the double issued, live, with at least minLeft left.
func (s *soak) judge(value string, now time.Time, minLeft time.Duration) string {
	tok, ok := s.d.LookupToken(value)
	switch {
	case !ok:
		return "a token the double never issued"
	case !tok.RevokedAt.IsZero():
		return fmt.Sprintf("token %s revoked at GitHub %.1fs ago", github.HashToken(value), now.Sub(tok.RevokedAt).Seconds())
	case tok.ExpiresAt.Sub(now) < minLeft:
		return fmt.Sprintf("token %s has %.1fs left at GitHub", github.HashToken(value), tok.ExpiresAt.Sub(now).Seconds())
	}
	return ""
}

// probe runs the shipped git credential helper every 2 s, as git would,
// and judges the token it hands out at the moment it answers.
func (s *soak) probe() {
	defer s.wg.Done()
	helper := examplePath("runner", "git-credential-vault.sh")
	for {
		select {
		case <-s.stopped:
			return
		case <-time.After(2 * time.Second):
		}
		out, errOut, err := runBounded(s.t, s.work, s.helper, "protocol=https\nhost=github.com\n\n", time.Duration(soakHelperWait+20)*time.Second, helper, "get")
		now := time.Now()
		s.mu.Lock()
		s.helperCalls++
		switch {
		case err != nil:
			s.helperRefused++
			if len(s.helperReasons) < 20 {
				s.helperReasons = append(s.helperReasons, fmt.Sprintf("+%.1fs: refused: %s", now.Sub(s.start).Seconds(), strings.TrimSpace(errOut)))
			}
		default:
			pw := ""
			for _, l := range strings.Split(out, "\n") {
				if v, ok := strings.CutPrefix(l, "password="); ok {
					pw = v
				}
			}
			if r := s.judge(pw, now, soakHelperMargin*time.Second); r != "" {
				s.helperBad++
				if len(s.helperReasons) < 20 {
					s.helperReasons = append(s.helperReasons, fmt.Sprintf("+%.1fs: handed out %s", now.Sub(s.start).Seconds(), r))
				}
			} else {
				s.helperGood++
			}
		}
		s.mu.Unlock()
	}
}

func (s *soak) stop() {
	select {
	case <-s.stopped:
	default:
		close(s.stopped)
		s.wg.Wait()
	}
}

// finish stops Agent, the sampler and the prober, then waits for every
// token that left the file to be revoked at GitHub, and compares the
// double's live tokens with Vault's leases.
func (s *soak) finish() {
	t := s.t
	s.event("end of the run: stopping Agent, the sampler and the prober")
	s.stop()
	s.finishedAt = time.Since(s.start)
	s.rolloverSeen = s.rollovers()

	for _, tk := range s.tokens[:len(s.tokens)-1] {
		tok := lookupToken(t, s.d, tk.value)
		deadline := tok.ExpiresAt.Add(5 * time.Second)
		for tok.RevokedAt.IsZero() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			tok = lookupToken(t, s.d, tk.value)
		}
		tk.tok = tok
		if tok.RevokedAt.IsZero() {
			s.unrevoked++
			continue
		}
		s.gaps = append(s.gaps, tok.RevokedAt.Sub(tk.leftAt))
	}
	last := s.tokens[len(s.tokens)-1]
	last.tok = lookupToken(t, s.d, last.value)

	// Every live token has a lease and every lease a live token. A lease
	// that has just ended may be between its end and its revocation: look
	// again for up to 15 s until both sides agree.
	v := s.active()
	rendered := map[string]bool{}
	for _, tk := range s.tokens {
		rendered[tk.value] = true
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		leases, err := soakLeases(v)
		if err != nil {
			t.Fatalf("reading leases: %v", err)
		}
		now := time.Now()
		live := map[string]bool{}
		for _, tok := range s.d.LiveTokens() {
			live[tok.Value] = true
		}
		s.leaks, s.goneLeases, s.goneNeverRendered = 0, 0, 0
		for tok := range live {
			if _, ok := leases[tok]; !ok {
				s.leaks++
			}
		}
		for tok := range leases {
			if tk, ok := s.d.LookupToken(tok); !ok || !tk.Live(now) {
				if rendered[tok] {
					s.goneLeases++
				} else {
					s.goneNeverRendered++
				}
			}
		}
		s.liveAtEnd, s.leasesAtEnd = len(live), len(leases)
		if (s.leaks == 0 && s.goneLeases == 0 && s.goneNeverRendered == 0) || now.After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.event("%d tokens live at GitHub, %d leases: %d leaks, %d leases whose token is gone", s.liveAtEnd, s.leasesAtEnd, s.leaks, s.goneLeases)
	s.mu.Lock()
	git := fmt.Sprintf("git through the token proxy, %d rounds: %d of %d fetches and %d of %d pushes to %s succeeded (%d and %d the proxy's 503); %d of %d pushes to main refused (%d the proxy's 503), main moved %d times",
		s.rounds, s.fetched.ok, s.fetched.n, s.pushed.ok, s.pushed.n, soakBranch, s.fetched.c503, s.pushed.c503, s.mainRefused, s.mainTries, s.main503, s.mainMoved)
	s.mu.Unlock()
	s.event("%s", git)
	s.report()
}

// soakLeases maps each token to its lease, from Vault's raw storage, like
// leasesByTokenAll but tolerating a lease revoked in between.
func soakLeases(v *vaultServer) (map[string]string, error) {
	prefix := "github/token/" + soakRole + "/"
	s, err := v.Client.Logical().List("sys/leases/lookup/" + strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if s == nil {
		return out, nil
	}
	keys, _ := s.Data["keys"].([]any)
	for _, k := range keys {
		id := prefix + k.(string)
		raw, err := v.Client.Logical().Read("sys/raw/sys/expire/id/" + id)
		if err != nil {
			return nil, err
		}
		if raw == nil {
			continue // revoked since the list
		}
		var entry struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(raw.Data["value"].(string)), &entry); err != nil {
			return nil, fmt.Errorf("decoding lease entry %s: %v", id, err)
		}
		if tok, _ := entry.Data["token"].(string); tok != "" {
			out[tok] = id
		}
	}
	return out, nil
}

// check asserts the promise.
func (s *soak) check() {
	t := s.t
	if s.good != s.samples {
		t.Errorf("%d of %d samples bad (longest run %d, %.1fs): %v", s.samples-s.good, s.samples, s.worstRun, s.worstFor.Seconds(), s.badReasons)
	}
	if s.helperBad > 0 {
		t.Errorf("the credential helper handed out %d dying or dead tokens: %v", s.helperBad, s.helperReasons)
	}
	if s.helperGood == 0 {
		t.Errorf("the credential helper never answered")
	}
	if s.fetched.bad > 0 || s.fetched.ok == 0 || s.fetched.failing {
		t.Errorf("git fetch through the proxy: %d of %d succeeded, %d failed otherwise than with the proxy's 503, the last failed: %v; %v",
			s.fetched.ok, s.fetched.n, s.fetched.bad, s.fetched.failing, s.fetchReasons)
	}
	if s.pushed.bad > 0 || s.pushed.ok == 0 || s.pushed.failing {
		t.Errorf("git push to %s through the proxy: %d of %d succeeded with the branch moved, %d failed otherwise than with the proxy's 503, the last failed: %v; %v",
			soakBranch, s.pushed.ok, s.pushed.n, s.pushed.bad, s.pushed.failing, s.fetchReasons)
	}
	if s.mainMoved > 0 || s.mainBad > 0 || s.mainRefused == 0 {
		t.Errorf("git push to main through the proxy: %d tries, %d refused by the write scope, %d the proxy's 503, %d otherwise; main moved %d times; %v",
			s.mainTries, s.mainRefused, s.main503, s.mainBad, s.mainMoved, s.fetchReasons)
	}
	if s.leaks > 0 || s.goneLeases > 0 {
		t.Errorf("%d tokens live at GitHub without a lease, %d leases whose token is gone", s.leaks, s.goneLeases)
	}
	// A lease whose token never reached the file and is gone at GitHub is
	// Vault's own: when it cannot register a lease (Agent's request
	// cancelled during its token rollover) it revokes the secret, and the
	// lease entry can outlive that. Agent got an error for that read, so no
	// runner ever held the token, and the lease's end revokes a dead token
	// (counted as revoked). Reported, not a failure, but only when Vault's
	// log says so.
	if s.goneNeverRendered > 0 {
		logText, err := os.ReadFile(s.active().logPath)
		if err != nil || !strings.Contains(string(logText), "failed to register lease") {
			t.Errorf("%d leases whose token is gone and never reached the file, and Vault's log shows no failed lease registration (%v)", s.goneNeverRendered, err)
		}
	}
	for _, g := range s.gaps {
		if g < 0 {
			t.Errorf("a token was revoked at GitHub %.1fs before it left the file", -g.Seconds())
		}
	}
	want := []string{"leader failover"}
	if s.name == "single" {
		want = []string{"plugin SIGKILL", "slow GitHub", "GitHub mint outage (40% of a token's life)", "Vault restart", "Agent SIGKILL", "Vault outage longer than Agent's retry window"}
		if s.rolloverSeen < 2 {
			t.Errorf("Agent's token reached its max TTL %d times, want at least 2", s.rolloverSeen)
		}
		for _, o := range s.d.MintOutages() {
			if o.End.Sub(o.Start) != soakMintOutage || o.Refused == 0 {
				t.Errorf("mint outage %+v: want %s with refused mints", o, soakMintOutage)
			}
		}
	}
	for _, f := range want {
		if s.faults[f] == 0 {
			t.Errorf("fault %q never happened", f)
		}
	}
}

// ---------------------------------------------------------------------------
// Report

func (s *soak) report() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	mints := len(s.d.Tokens())
	minutes := s.finishedAt.Minutes()
	fmt.Fprintf(&b, "### %s\n\n", map[string]string{"single": "One Vault server, every fault", "failover": "Three-node raft cluster, leader failover"}[s.name])
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(format, args...))
	}
	row("run", "%.1f min (%.1f h at real scale)", minutes, minutes)
	row("lease_renewal_threshold", "%s", s.thresh)
	row(fmt.Sprintf("samples (every %s)", soakInterval), "%d", s.samples)
	row("good samples", "%d (%.2f%%)", s.good, 100*float64(s.good)/float64(max(s.samples, 1)))
	row("longest run of bad samples", "%d (%.1f s)", s.worstRun, s.worstFor.Seconds())
	row("rotations (tokens in the file)", "%d (%d)", len(s.tokens)-1, len(s.tokens))
	row("mints at GitHub", "%d: %.1f per real hour", mints, float64(mints)/max(minutes, 1e-9))
	row("credential helper calls", "%d: %d handed out a token with >= %d s left, %d refused, %d handed out a dying token", s.helperCalls, s.helperGood, soakHelperMargin, s.helperRefused, s.helperBad)
	row("git fetches through the token proxy (every 3 s)", "%d: %d succeeded, %d failed with the proxy's 503 (in %d runs, each followed by a success), %d failed otherwise", s.fetched.n, s.fetched.ok, s.fetched.c503, s.fetched.streaks, s.fetched.bad)
	row("git pushes through the token proxy to the session's branch "+soakBranch+" (every round, inside the write scope)", "%d: %d succeeded and moved the branch, %d failed with the proxy's 503 (in %d runs, each followed by a success), %d failed otherwise", s.pushed.n, s.pushed.ok, s.pushed.c503, s.pushed.streaks, s.pushed.bad)
	row(fmt.Sprintf("git pushes through the token proxy to main (every %dth round from the first, outside the write scope)", soakMainEvery), "%d: %d refused by the proxy (git printed its reason), %d met the proxy's 503, %d otherwise; main moved %d times", s.mainTries, s.mainRefused, s.main503, s.mainBad, s.mainMoved)
	row("Agent starts / exits", "%d / %d", s.agentStarts, len(s.agentExits))
	row("Agent token max-TTL rollovers", "%d", s.rolloverSeen)
	row("leaks (live at GitHub, no lease)", "%d (of %d live tokens)", s.leaks, s.liveAtEnd)
	row("leases whose token is gone", "%d (of %d leases)", s.goneLeases, s.leasesAtEnd)
	row("leases whose token is gone and never reached the file (Vault failed to register the lease and revoked the token)", "%d", s.goneNeverRendered)
	row("tokens that left the file and expired at GitHub unrevoked (their lease ended while Vault was down)", "%d", s.unrevoked)
	if len(s.gaps) > 0 {
		g := slices.Clone(s.gaps)
		sort.Slice(g, func(i, j int) bool { return g[i] < g[j] })
		row("gap from leaving the file to revocation at GitHub", "min %.1f s, median %.1f s, max %.1f s", g[0].Seconds(), g[len(g)/2].Seconds(), g[len(g)-1].Seconds())
	}
	b.WriteString("\nFault timeline (seconds since the start):\n\n```\n")
	for _, e := range s.timeline {
		fmt.Fprintf(&b, "+%6.1f  %s\n", e.at.Seconds(), e.what)
	}
	b.WriteString("```\n")
	if len(s.badReasons) > 0 || len(s.helperReasons) > 0 || len(s.fetchReasons) > 0 {
		b.WriteString("\nBad samples, helper refusals and failed git rounds (first 20 of each):\n\n```\n")
		for _, r := range slices.Concat(s.badReasons, s.helperReasons, s.fetchReasons) {
			fmt.Fprintln(&b, r)
		}
		b.WriteString("```\n")
	}
	b.WriteString("\nEach token in the file: when it was issued, when it entered and left the file, when GitHub saw it revoked, and the gap between leaving and revocation (seconds since the start; expires_at is issue + 60 s).\n\n")
	b.WriteString("| # | issued | in file | left file | revoked | gap (s) |\n|---|---|---|---|---|---|\n")
	rel := func(at time.Time) string {
		if at.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%.1f", at.Sub(s.start).Seconds())
	}
	for i, tk := range s.tokens {
		gap := "-"
		if !tk.leftAt.IsZero() && !tk.tok.RevokedAt.IsZero() {
			gap = fmt.Sprintf("%.1f", tk.tok.RevokedAt.Sub(tk.leftAt).Seconds())
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |\n", i+1, rel(tk.tok.IssuedAt), rel(tk.firstSeen), rel(tk.leftAt), rel(tk.tok.RevokedAt), gap)
	}
	s.t.Logf("soak %s report:\n%s", s.name, b.String())
	if path := os.Getenv("SOAK_REPORT"); path != "" {
		f, err := os.OpenFile(path+"."+s.name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			s.t.Errorf("writing the report: %v", err)
			return
		}
		defer f.Close()
		if _, err := io.WriteString(f, b.String()); err != nil {
			s.t.Errorf("writing the report: %v", err)
		}
	}
}

// ---------------------------------------------------------------------------
// A loopback TCP balancer in front of a cluster, as a Kubernetes service
// would be: each connection goes to the first node that accepts it.

func startBalancer(t *testing.T, nodes []*vaultServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = strings.TrimPrefix(n.Addr, "http://")
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var up net.Conn
				for _, a := range addrs {
					if up, err = net.DialTimeout("tcp", a, time.Second); err == nil {
						break
					}
				}
				if up == nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); done <- struct{}{} }()
				go func() { io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return "http://" + l.Addr().String()
}
