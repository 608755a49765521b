//go:build acceptance

// Package acceptance runs the engine inside real Vault servers and real Vault
// Agents, started as processes on 127.0.0.1, against the in-process GitHub
// API double. Run it with `make testacc` (go test -tags acceptance).
//
// The harness in this file is meant to be reused:
//
//	d := newDouble(t)                                   // GitHub API double, App installed on "acme"
//	v := startVault(t, vaultOptions{Storage: "file"})   // initialised, unsealed, root client in v.Client
//	v.enableEngine(t, "github")                         // registered by sha256 + version, mounted
//	v.configureEngine(t, "github", d, map[string]any{"expiry_buffer": "10s"})
//	v.restart(t)                                        // file/raft storage: stop, start, unseal
//	a := startAgent(t, agentOptions{Vault: v, ...})     // vault agent with approle auto_auth
//
// Every process writes its log to a file under t.TempDir(); the logs are
// dumped when the test fails and are checked never to contain a GitHub token.
package acceptance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

const (
	// pluginName is the binary's name and the name it is registered under.
	pluginName = "vault-plugin-github-app"
	// pluginVersion is stamped into the binary TestMain builds and used to
	// register it; Vault refuses a registration whose version differs from
	// the binary's.
	pluginVersion = "v0.1.0-acceptance"
)

// Set once by TestMain, read-only afterwards.
var (
	repoRoot  string // the module's root directory
	vaultBin  string // the pinned Vault binary (server, CLI and agent)
	agentBin  string // the Vault binary run as Agent: vaultBin unless VAULT_AGENT_BIN
	pluginDir string // plugin_directory of every server: holds the plugin only
	pluginSHA string // sha256 of the plugin binary, hex
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, "acceptance:", err)
		return 1
	}
	// VAULT_BIN points at a Vault binary to use; otherwise the pinned build
	// (cached outside the repository) is used, built first if missing.
	vaultBin = os.Getenv("VAULT_BIN")
	if vaultBin == "" {
		out, err := runScript("scripts/build-vault.sh")
		if err != nil {
			fmt.Fprintln(os.Stderr, "acceptance: building Vault:", err)
			return 1
		}
		vaultBin = lastLine(out)
	}
	// VAULT_AGENT_BIN runs Agent from another Vault binary than the server,
	// as a pod's Agent image may be newer than the cluster's Vault.
	agentBin = os.Getenv("VAULT_AGENT_BIN")
	if agentBin == "" {
		agentBin = vaultBin
	}
	dir, err := os.MkdirTemp("", "acceptance-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "acceptance:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	out, err := runScript("scripts/build-plugin.sh", dir, pluginVersion)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acceptance: building the plugin:", err)
		return 1
	}
	path, sum, ok := strings.Cut(lastLine(out), " ")
	if !ok || filepath.Base(path) != pluginName || len(sum) != 64 {
		fmt.Fprintf(os.Stderr, "acceptance: build-plugin.sh printed %q, want \"PATH SHA256\"\n", lastLine(out))
		return 1
	}
	pluginDir, pluginSHA = filepath.Dir(path), sum
	return m.Run()
}

// runScript runs a script of the repository with bash and returns its
// standard output; its standard error goes to ours.
func runScript(script string, args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot, script)}, args...)...)
	cmd.Dir = repoRoot
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return string(out), err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ---------------------------------------------------------------------------
// GitHub API double

// newDouble starts the in-process GitHub API double on 127.0.0.1 with the App
// installed on the organization "acme" (repositories widgets, gadgets,
// tools): the first installation, so its id is githubtest.FirstInstallationID
// and its repositories' ids follow githubtest.FirstRepositoryID. It is closed
// when the test ends.
func newDouble(t testing.TB, opts ...githubtest.Option) *githubtest.Server {
	t.Helper()
	d := githubtest.NewT(t, opts...)
	d.AddInstallation("acme", "Organization", "widgets", "gadgets", "tools")
	return d
}

// lookupToken finds a token the double issued, failing the test if it
// never did.
func lookupToken(t testing.TB, d *githubtest.Server, value string) githubtest.Token {
	t.Helper()
	tok, ok := d.LookupToken(value)
	if !ok {
		t.Fatalf("the double never issued token %s", github.HashToken(value))
	}
	return tok
}

// waitRevoked polls the double until it has seen the token revoked and
// returns the token; it fails the test if that has not happened by deadline.
func waitRevoked(t testing.TB, d *githubtest.Server, value string, deadline time.Time) githubtest.Token {
	t.Helper()
	var tok githubtest.Token
	waitUntil(t, deadline, 100*time.Millisecond, func() (bool, string) {
		tok = lookupToken(t, d, value)
		return !tok.RevokedAt.IsZero(), fmt.Sprintf("token %s (expires %s) still not revoked at the double", github.HashToken(value), tok.ExpiresAt.Format(time.RFC3339))
	})
	return tok
}

// waitUntil polls cond every interval until it returns true, failing the
// test with cond's message if it has not by deadline.
func waitUntil(t testing.TB, deadline time.Time, interval time.Duration, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", msg)
		}
		time.Sleep(interval)
	}
}

// tokenData is the data of a token/<role> read.
type tokenData struct {
	Token          string
	ExpiresAt      time.Time
	InstallationID int64
	HashedToken    string
	Repositories   []string
	Permissions    map[string]string
}

// mintedToken is one token/<role> read: the lease and the token.
type mintedToken struct {
	LeaseID   string
	LeaseTTL  time.Duration
	Renewable bool
	// Before and After bracket the request.
	Before, After time.Time
	Data          tokenData
}

// mint reads path (e.g. "github/token/demo") with c and parses the answer.
func mint(t testing.TB, c *api.Client, path string) mintedToken {
	t.Helper()
	m, err := tryMint(c, path, nil)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return m
}

// tryMint reads path, or writes data to it when data is not nil.
func tryMint(c *api.Client, path string, data map[string]any) (mintedToken, error) {
	m := mintedToken{Before: time.Now()}
	var s *api.Secret
	var err error
	if data == nil {
		s, err = c.Logical().Read(path)
	} else {
		s, err = c.Logical().Write(path, data)
	}
	m.After = time.Now()
	if err != nil {
		return m, err
	}
	if s == nil || s.Data == nil {
		return m, fmt.Errorf("reading %s: empty answer", path)
	}
	m.LeaseID, m.LeaseTTL, m.Renewable = s.LeaseID, time.Duration(s.LeaseDuration)*time.Second, s.Renewable
	m.Data.Token, _ = s.Data["token"].(string)
	m.Data.HashedToken, _ = s.Data["hashed_token"].(string)
	exp, _ := s.Data["expires_at"].(string)
	if m.Data.ExpiresAt, err = time.Parse(time.RFC3339, exp); err != nil {
		return m, fmt.Errorf("reading %s: expires_at %q: %v", path, exp, err)
	}
	if n, ok := s.Data["installation_id"].(interface{ Int64() (int64, error) }); ok {
		m.Data.InstallationID, _ = n.Int64()
	}
	if rs, ok := s.Data["repositories"].([]any); ok {
		for _, r := range rs {
			if name, ok := r.(string); ok {
				m.Data.Repositories = append(m.Data.Repositories, name)
			}
		}
	}
	if ps, ok := s.Data["permissions"].(map[string]any); ok {
		m.Data.Permissions = map[string]string{}
		for k, v := range ps {
			m.Data.Permissions[k], _ = v.(string)
		}
	}
	if m.Data.Token == "" || m.LeaseID == "" {
		return m, fmt.Errorf("reading %s: no token or no lease in the answer", path)
	}
	return m, nil
}

// ---------------------------------------------------------------------------
// Processes, ports and logs

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// freePort returns a loopback port nothing listens on now and that this
// test binary has not handed out before.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsUsed[p] {
			portsUsed[p] = true
			return p
		}
	}
	t.Fatal("no free port after 50 tries")
	return 0
}

// processEnv is our environment without VAULT_* variables, so that a
// developer's VAULT_ADDR or VAULT_TOKEN never reaches a child process.
func processEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// process is a child process whose output goes to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited
	err     error         // its exit status, set before done is closed
}

// startProcess starts bin with args, appending its output to logPath. The
// process gets SIGTERM if the test binary dies.
func startProcess(t testing.TB, name, logPath string, env []string, bin string, args ...string) *process {
	t.Helper()
	return startProcessIn(t, "", name, logPath, env, bin, args...)
}

// startProcessIn is startProcess in directory dir ("": ours).
func startProcessIn(t testing.TB, dir, name, logPath string, env []string, bin string, args ...string) *process {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "---- %s: starting %s\n", time.Now().Format(time.RFC3339Nano), name)
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. Processes it started (Vault's plugins) are killed if they
// outlive it.
func (p *process) stop(t testing.TB, grace time.Duration) {
	t.Helper()
	if p.exited() {
		return
	}
	children := childPIDs(p.cmd.Process.Pid)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Logf("signalling %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		t.Errorf("%s did not exit within %s of SIGTERM; killing it", p.name, grace)
		p.cmd.Process.Kill()
		<-p.done
	}
	for _, c := range children {
		if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.pid)); err == nil && bytes.Equal(cmdline, c.cmdline) {
			// Give Vault's own plugin shutdown a moment before killing.
			time.Sleep(500 * time.Millisecond)
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", c.pid)); err == nil {
				t.Logf("%s left process %d running; killing it", p.name, c.pid)
				syscall.Kill(c.pid, syscall.SIGKILL)
			}
		}
	}
}

type childProc struct {
	pid     int
	cmdline []byte
}

// childPIDs lists the children of pid (Linux /proc; empty elsewhere).
func childPIDs(pid int) []childProc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []childProc
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n))
		if err != nil {
			continue
		}
		out = append(out, childProc{n, cmdline})
	}
	return out
}

// watchLog registers a log file to be dumped (its last lines) if the test
// fails, and to be checked never to contain a GitHub token.
func watchLog(t testing.TB, name, path string) {
	t.Helper()
	t.Cleanup(func() {
		data, err := os.ReadFile(path)
		if err != nil {
			return
		}
		if bytes.Contains(data, []byte("ghs_")) {
			t.Errorf("%s log %s contains a GitHub installation token", name, path)
		}
		if !t.Failed() {
			return
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		const keep = 150
		if len(lines) > keep {
			lines = lines[len(lines)-keep:]
		}
		for i, l := range lines {
			if strings.Contains(l, "ghs_") {
				lines[i] = "[line with a token elided]"
			}
		}
		t.Logf("---- last %d lines of the %s log (%s) ----\n%s", len(lines), name, path, strings.Join(lines, "\n"))
	})
}

// ---------------------------------------------------------------------------
// Vault server

// vaultOptions configure startVault.
type vaultOptions struct {
	// Storage is "inmem" (default), "file" or "raft". Only file and raft
	// survive restart.
	Storage string
	// RaftNodeID names the raft node (default "node1").
	RaftNodeID string
	// RaftExtra is HCL placed inside the raft storage block (e.g.
	// retry_join stanzas).
	RaftExtra string
	// ExtraConfig is HCL appended to the server config.
	ExtraConfig string
	// NoInit leaves the server uninitialised and sealed (for joining a
	// raft cluster later).
	NoInit bool
	// LogLevel is Vault's log level (default "debug").
	LogLevel string
}

// vaultServer is a Vault server process on 127.0.0.1 with the plugin
// directory set. Its API address, ports and storage stay the same across
// restarts.
type vaultServer struct {
	Name        string
	Dir         string // config, storage and log live here
	Addr        string // http://127.0.0.1:PORT
	ClusterAddr string // https://127.0.0.1:PORT
	RootToken   string
	UnsealKey   string
	Client      *api.Client // with the root token

	opts        vaultOptions
	port, cport int
	logPath     string
	proc        *process
}

var vaultSeq struct {
	sync.Mutex
	n int
}

// startVault starts a Vault server, initialises it (one key share), unseals
// it and returns it with a root client. It is stopped when the test ends.
func startVault(t testing.TB, opts vaultOptions) *vaultServer {
	t.Helper()
	if opts.Storage == "" {
		opts.Storage = "inmem"
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	if opts.RaftNodeID == "" {
		opts.RaftNodeID = "node1"
	}
	vaultSeq.Lock()
	vaultSeq.n++
	name := fmt.Sprintf("vault%d", vaultSeq.n)
	vaultSeq.Unlock()
	v := &vaultServer{Name: name, Dir: t.TempDir(), opts: opts}
	v.logPath = filepath.Join(v.Dir, "vault.log")
	watchLog(t, name, v.logPath)
	t.Cleanup(func() { v.stop(t) })

	// Ports are picked, then bound by Vault: another process may take one
	// in between, so retry with fresh ports when binding fails.
	for attempt := 1; ; attempt++ {
		v.port, v.cport = freePort(t), freePort(t)
		v.Addr = fmt.Sprintf("http://127.0.0.1:%d", v.port)
		v.ClusterAddr = fmt.Sprintf("https://127.0.0.1:%d", v.cport)
		v.writeConfig(t)
		err := v.launch(t)
		if err == nil {
			break
		}
		if attempt < 3 && v.logContains("address already in use") {
			t.Logf("%s: port taken, retrying: %v", name, err)
			continue
		}
		t.Fatalf("%s: %v", name, err)
	}
	v.Client = v.newClient(t, "")
	if opts.NoInit {
		return v
	}
	init, err := v.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("%s: init: %v", name, err)
	}
	v.RootToken, v.UnsealKey = init.RootToken, init.Keys[0]
	v.Client.SetToken(v.RootToken)
	v.unseal(t)
	t.Logf("%s: %s storage, %s, log %s", name, opts.Storage, v.Addr, v.logPath)
	return v
}

func (v *vaultServer) writeConfig(t testing.TB) {
	t.Helper()
	var storage string
	switch v.opts.Storage {
	case "inmem":
		storage = `storage "inmem" {}`
	case "file":
		storage = fmt.Sprintf("storage \"file\" {\n  path = %q\n}", filepath.Join(v.Dir, "data"))
	case "raft":
		storage = fmt.Sprintf("storage \"raft\" {\n  path = %q\n  node_id = %q\n%s\n}", filepath.Join(v.Dir, "raft"), v.opts.RaftNodeID, v.opts.RaftExtra)
		if err := os.MkdirAll(filepath.Join(v.Dir, "raft"), 0o700); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown storage %q", v.opts.Storage)
	}
	cfg := fmt.Sprintf(`ui               = false
disable_mlock    = true
plugin_directory = %q
api_addr         = %q
cluster_addr     = %q
log_level        = %q

listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}

%s

%s
`, pluginDir, v.Addr, v.ClusterAddr, v.opts.LogLevel, v.port, v.cport, storage, v.opts.ExtraConfig)
	if err := os.WriteFile(filepath.Join(v.Dir, "vault.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// launch starts the server process and waits until its API answers.
func (v *vaultServer) launch(t testing.TB) error {
	t.Helper()
	v.proc = startProcess(t, v.Name, v.logPath, processEnv(), vaultBin, "server", "-config="+filepath.Join(v.Dir, "vault.hcl"))
	c := v.newClient(t, "")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if v.proc.exited() {
			return fmt.Errorf("vault server exited (%v); see %s", v.proc.err, v.logPath)
		}
		if _, err := c.Sys().SealStatus(); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			v.proc.stop(t, 10*time.Second)
			return fmt.Errorf("vault server API not answering after 60s; see %s", v.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (v *vaultServer) logContains(s string) bool {
	data, err := os.ReadFile(v.logPath)
	return err == nil && bytes.Contains(data, []byte(s))
}

// unseal unseals the server and waits until it is the active node.
func (v *vaultServer) unseal(t testing.TB) {
	t.Helper()
	if _, err := v.Client.Sys().Unseal(v.UnsealKey); err != nil {
		t.Fatalf("%s: unseal: %v", v.Name, err)
	}
	v.waitActive(t)
}

// waitActive waits until the server is unsealed and active.
func (v *vaultServer) waitActive(t testing.TB) {
	t.Helper()
	waitUntil(t, time.Now().Add(60*time.Second), 100*time.Millisecond, func() (bool, string) {
		h, err := v.Client.Sys().Health()
		if err != nil {
			return false, fmt.Sprintf("%s health: %v", v.Name, err)
		}
		return h.Initialized && !h.Sealed && !h.Standby, fmt.Sprintf("%s not active: %+v", v.Name, *h)
	})
}

// newClient is an API client for this server with token (none if empty).
func (v *vaultServer) newClient(t testing.TB, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = v.Addr
	cfg.Timeout = 60 * time.Second
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	c.ClearNamespace()
	if token != "" {
		c.SetToken(token)
	}
	return c
}

// stop stops the server gracefully (SIGTERM).
func (v *vaultServer) stop(t testing.TB) {
	t.Helper()
	if v.proc != nil {
		v.proc.stop(t, 30*time.Second)
	}
}

// restart stops the server and starts it again on the same ports and
// storage, then unseals it. Only file and raft storage keep their data.
func (v *vaultServer) restart(t testing.TB) {
	t.Helper()
	if v.opts.Storage == "inmem" {
		t.Fatalf("%s: restarting an inmem server would lose everything", v.Name)
	}
	v.stop(t)
	v.start(t)
}

// start starts a stopped server again and unseals it.
func (v *vaultServer) start(t testing.TB) {
	t.Helper()
	if err := v.launch(t); err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	v.unseal(t)
}

// cli runs the vault CLI against this server with the root token (or the
// token given in env as VAULT_TOKEN=...). The output is returned, not
// logged: it may hold secrets.
func (v *vaultServer) cli(env []string, args ...string) (string, error) {
	cmd := exec.Command(vaultBin, args...)
	cmd.Env = processEnv(append([]string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.RootToken}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("vault %s: timed out", strings.Join(args, " "))
	}
}

// registerPlugin registers the plugin binary by sha256 and version.
func (v *vaultServer) registerPlugin(t testing.TB) {
	t.Helper()
	err := v.Client.Sys().RegisterPlugin(&api.RegisterPluginInput{
		Name:    pluginName,
		Type:    api.PluginTypeSecrets,
		Command: pluginName,
		SHA256:  pluginSHA,
		Version: pluginVersion,
	})
	if err != nil {
		t.Fatalf("%s: registering the plugin: %v", v.Name, err)
	}
}

// enableEngine registers the plugin (if needed) and mounts it at path with
// the registered version pinned, then checks the running version and
// sha256.
func (v *vaultServer) enableEngine(t testing.TB, path string) {
	t.Helper()
	v.registerPlugin(t)
	err := v.Client.Sys().Mount(path, &api.MountInput{
		Type:   pluginName,
		Config: api.MountConfigInput{PluginVersion: pluginVersion},
	})
	if err != nil {
		t.Fatalf("%s: mounting %s: %v", v.Name, path, err)
	}
	m, err := v.Client.Sys().GetMount(path)
	if err != nil {
		t.Fatalf("%s: reading mount %s: %v", v.Name, path, err)
	}
	if m.RunningVersion != pluginVersion || m.RunningSha256 != pluginSHA {
		t.Fatalf("%s: mount %s runs version %q sha256 %q, want %q %q", v.Name, path, m.RunningVersion, m.RunningSha256, pluginVersion, pluginSHA)
	}
}

// configureEngine writes the mount's config for the double's App; extra
// adds or overrides fields (e.g. expiry_buffer).
func (v *vaultServer) configureEngine(t testing.TB, path string, d *githubtest.Server, extra map[string]any) {
	t.Helper()
	data := map[string]any{
		"app_id":      d.AppID,
		"private_key": string(d.KeyPEM()),
		"base_url":    d.URL,
	}
	for k, val := range extra {
		data[k] = val
	}
	if _, err := v.Client.Logical().Write(path+"/config", data); err != nil {
		t.Fatalf("%s: writing %s/config: %v", v.Name, path, err)
	}
}

// writeRole writes path/roles/name.
func (v *vaultServer) writeRole(t testing.TB, path, name string, data map[string]any) {
	t.Helper()
	if _, err := v.Client.Logical().Write(path+"/roles/"+name, data); err != nil {
		t.Fatalf("%s: writing role %s: %v", v.Name, name, err)
	}
}

// tokenWithPolicy writes an ACL policy and returns a client holding a new
// token with that policy (and the default policy).
func (v *vaultServer) tokenWithPolicy(t testing.TB, policy, rules string) *api.Client {
	t.Helper()
	if err := v.Client.Sys().PutPolicy(policy, rules); err != nil {
		t.Fatalf("%s: writing policy %s: %v", v.Name, policy, err)
	}
	s, err := v.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{policy}, TTL: "1h"})
	if err != nil {
		t.Fatalf("%s: creating a token with policy %s: %v", v.Name, policy, err)
	}
	return v.newClient(t, s.Auth.ClientToken)
}

// approle enables AppRole auth (once) and creates a role with the given
// policies; it returns the role id and a new secret id.
func (v *vaultServer) approle(t testing.TB, role string, policies ...string) (roleID, secretID string) {
	t.Helper()
	auths, err := v.Client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := auths["approle/"]; !ok {
		if err := v.Client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatalf("%s: enabling approle: %v", v.Name, err)
		}
	}
	if _, err := v.Client.Logical().Write("auth/approle/role/"+role, map[string]any{
		"token_policies": strings.Join(policies, ","),
		"token_ttl":      "1h",
		"token_max_ttl":  "4h",
	}); err != nil {
		t.Fatalf("%s: writing approle role %s: %v", v.Name, role, err)
	}
	s, err := v.Client.Logical().Read("auth/approle/role/" + role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID, _ = s.Data["role_id"].(string)
	s, err = v.Client.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	secretID, _ = s.Data["secret_id"].(string)
	if roleID == "" || secretID == "" {
		t.Fatalf("%s: approle %s: no role id or secret id", v.Name, role)
	}
	return roleID, secretID
}

// leaseExists reports whether Vault still knows the lease.
func (v *vaultServer) leaseExists(t testing.TB, leaseID string) bool {
	t.Helper()
	_, err := v.Client.Sys().Lookup(leaseID)
	if err == nil {
		return true
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
		return false // "invalid lease"
	}
	t.Fatalf("%s: looking up lease %s: %v", v.Name, leaseID, err)
	return false
}

// ---------------------------------------------------------------------------
// Vault Agent

// agentTemplate is one template stanza.
type agentTemplate struct {
	Contents    string
	Destination string
}

// agentOptions configure startAgent.
type agentOptions struct {
	Vault *vaultServer
	// RoleID and SecretID are AppRole credentials for auto_auth (see
	// vaultServer.approle).
	RoleID, SecretID string
	Templates        []agentTemplate
	// ExtraConfig is HCL appended to the agent config.
	ExtraConfig string
}

// vaultAgent is a `vault agent` process.
type vaultAgent struct {
	Dir  string
	proc *process
}

// startAgent writes an agent config (auto_auth with AppRole, the
// templates, exit_on_retry_failure) and starts `vault agent`. It is stopped
// when the test ends.
func startAgent(t testing.TB, opts agentOptions) *vaultAgent {
	t.Helper()
	a := &vaultAgent{Dir: t.TempDir()}
	roleIDFile := filepath.Join(a.Dir, "role-id")
	secretIDFile := filepath.Join(a.Dir, "secret-id")
	for path, val := range map[string]string{roleIDFile: opts.RoleID, secretIDFile: opts.SecretID} {
		if err := os.WriteFile(path, []byte(val), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var tmpl strings.Builder
	for _, tp := range opts.Templates {
		fmt.Fprintf(&tmpl, "template {\n  contents    = %q\n  destination = %q\n  perms       = \"0600\"\n}\n\n", tp.Contents, tp.Destination)
	}
	cfg := fmt.Sprintf(`pid_file = %q

vault {
  address = %q
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = %q
      secret_id_file_path                 = %q
      remove_secret_id_file_after_reading = false
    }
  }
}

template_config {
  exit_on_retry_failure = true
}

%s
%s
`, filepath.Join(a.Dir, "agent.pid"), opts.Vault.Addr, roleIDFile, secretIDFile, tmpl.String(), opts.ExtraConfig)
	cfgPath := filepath.Join(a.Dir, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(a.Dir, "agent.log")
	watchLog(t, "vault agent", logPath)
	a.proc = startProcess(t, "vault agent", logPath, processEnv(), agentBin, "agent", "-log-level=debug", "-config="+cfgPath)
	t.Cleanup(func() { a.stop(t) })
	return a
}

func (a *vaultAgent) stop(t testing.TB) {
	t.Helper()
	a.proc.stop(t, 15*time.Second)
}

// readTrimmed reads a rendered file; "" if it does not exist yet.
func readTrimmed(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(data)), err
}

// statusOf returns the HTTP status of a Vault API error (0 if none).
func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}
