//go:build acceptance

package acceptance

// The runner in proxy mode as docs/agent-isolation.md tells a platform to
// run it, checked against examples/runner/k8s/proxy-pod.yaml:
//   - the docs' block of the runner's environment, run by bash, exports
//     exactly the runner container's env of the manifest, and the try-it's
//     agent function gives its commands the same (with this machine's
//     paths) and nothing else (TestDocsRunnerEnv);
//   - one placeholder for GH_TOKEN and GITHUB_TOKEN everywhere: the
//     manifest, the docs, the examples and github-token-proxy -h;
//   - the real binary with the manifest's command line and startup probe,
//     and real curl, Python requests and Node fetch with the manifest's
//     runner environment and nothing else: GitHub's hosts get the token,
//     a tunnelled host verifies with the CA bundle alone, and Node 20's
//     fetch goes through the proxy only with the preload
//     (TestProxyModeClients).

import (
	"context"
	"crypto/tls"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// proxyPodSpec is what the tests need of proxy-pod.yaml's Pod.
type proxyPodSpec struct {
	proxyArgs  []string          // the proxy container's command
	probe      []string          // its startup probe's command
	uid, gid   string            // its runAsUser and runAsGroup
	runnerEnv  map[string]string // the runner container's env
	listen     string            // -listen
	caOut      string            // -ca-cert-out
	bundleOut  string            // -ca-bundle-out
	credential string            // -credentials
}

func proxyPod(t testing.TB) proxyPodSpec {
	t.Helper()
	var spec any
	for _, o := range k8sObjects(t) {
		if o.Kind == "Pod" && filepath.Base(o.File) == "proxy-pod.yaml" {
			spec = o.Raw["spec"]
		}
	}
	if spec == nil {
		t.Fatal("proxy-pod.yaml has no Pod")
	}
	var p proxyPodSpec
	p.runnerEnv = map[string]string{}
	for _, list := range []string{"initContainers", "containers"} {
		for _, c := range fieldList(spec, list) {
			switch fieldString(c, "name") {
			case "github-token-proxy":
				for _, a := range fieldList(c, "command") {
					p.proxyArgs = append(p.proxyArgs, fmt.Sprint(a))
				}
				for _, a := range fieldList(c, "startupProbe", "exec", "command") {
					p.probe = append(p.probe, fmt.Sprint(a))
				}
				p.uid = fmt.Sprint(field(c, "securityContext", "runAsUser"))
				p.gid = fmt.Sprint(field(c, "securityContext", "runAsGroup"))
			case "runner":
				for _, e := range fieldList(c, "env") {
					p.runnerEnv[fieldString(e, "name")] = fieldString(e, "value")
				}
			}
		}
	}
	flag := func(name string) string {
		for i, a := range p.proxyArgs {
			if a == name && i+1 < len(p.proxyArgs) {
				return p.proxyArgs[i+1]
			}
		}
		return ""
	}
	p.listen, p.caOut, p.bundleOut, p.credential = flag("-listen"), flag("-ca-cert-out"), flag("-ca-bundle-out"), flag("-credentials")
	if len(p.proxyArgs) == 0 || len(p.probe) == 0 || len(p.runnerEnv) == 0 || p.listen == "" || p.bundleOut == "" || p.credential == "" {
		t.Fatalf("proxy-pod.yaml: the proxy's command %q, probe %q, the runner's env %v", p.proxyArgs, p.probe, p.runnerEnv)
	}
	return p
}

// runnerEnvAt is proxy-pod.yaml's runner environment on this machine:
// the proxy's address addr for the pod's, moved(p) for each of the pod's
// files p (the proxy's CA and bundle, the session's gitconfig), and
// SSL_CERT_DIR certDir ("": the manifest's).
func (p proxyPodSpec) runnerEnvAt(addr string, moved func(string) string, certDir string) []string {
	var env []string
	for k, v := range p.runnerEnv {
		v = strings.ReplaceAll(v, "http://"+p.listen, "http://"+addr)
		switch {
		case k == "SSL_CERT_DIR":
			if certDir != "" {
				v = certDir
			}
		case strings.HasPrefix(v, "/var/run/"):
			v = moved(v)
		}
		env = append(env, k+"="+v)
	}
	return env
}

// shellEnv runs script in bash with nothing in the environment but PATH
// and returns what it prints with `env -0` at its end, PATH and bash's own
// variables left out.
func shellEnv(t testing.TB, script string) map[string]string {
	t.Helper()
	out, errOut, err := runBounded(t, t.TempDir(), []string{"PATH=" + os.Getenv("PATH")}, "", 30*time.Second,
		"bash", "--norc", "--noprofile", "-euo", "pipefail", "-c", script)
	if err != nil {
		t.Fatalf("bash: %v\n%s\nscript:\n%s", err, errOut, script)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(out, "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "", "PWD", "OLDPWD", "SHLVL", "_":
			continue
		}
		env[k] = v
	}
	return env
}

// TestDocsRunnerEnv: the runner's environment as docs/agent-isolation.md
// prints it pastes into bash and exports exactly what proxy-pod.yaml sets
// in the runner container; the try-it's agent function runs its commands
// with the same (the proxy's files where the try-it's proxy and Agent
// write them) and nothing else; and the placeholder credential is the
// same everywhere.
func TestDocsRunnerEnv(t *testing.T) {
	t.Parallel()
	pod := proxyPod(t)
	const doc = "docs/agent-isolation.md"
	var envBlock, tryIt string
	for _, b := range docBlocks(t, doc) {
		switch {
		case strings.HasPrefix(b.body, "export HTTPS_PROXY="):
			if envBlock != "" {
				t.Errorf("%s:%d: a second block of the runner's environment", doc, b.line)
			}
			envBlock = b.body
		case strings.Contains(b.body, "\nagent() {\n"):
			tryIt = b.body
		}
	}
	if envBlock == "" || tryIt == "" {
		t.Fatalf("%s: no block starting with export HTTPS_PROXY= (found %v) or no try-it block with agent() (found %v)", doc, envBlock != "", tryIt != "")
	}

	got := shellEnv(t, envBlock+"env -0\n")
	delete(got, "PATH")
	for k, v := range pod.runnerEnv {
		if got[k] != v {
			t.Errorf("the docs' runner environment: %s=%q, proxy-pod.yaml %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := pod.runnerEnv[k]; !ok {
			t.Errorf("the docs' runner environment exports %s=%q, which proxy-pod.yaml does not set", k, v)
		}
	}

	// The try-it's agent(): its definition, called with this machine's
	// values for what it refers to.
	_, fn, _ := strings.Cut(tryIt, "\nagent() {\n")
	fn, _, ok := strings.Cut(fn, "\n}\n")
	if !ok {
		t.Fatalf("%s: the try-it's agent() has no closing brace on a line of its own", doc)
	}
	const podDir, addr, undici = "/try/pod", "127.0.0.1:8118", "/try/undici"
	agentEnv := shellEnv(t, fmt.Sprintf("pod=%s DEV_PROXY_ADDR=%s undici=%s\nagent() {\n%s\n}\nagent env -0\n", podDir, addr, undici, fn))
	moved := func(v string) string {
		v = strings.ReplaceAll(v, "/var/run/github-proxy/", podDir+"/github-proxy/")
		v = strings.ReplaceAll(v, "/var/run/github-session/", podDir+"/github-session/")
		return strings.ReplaceAll(v, "http://"+pod.listen, "http://"+addr)
	}
	for k, v := range pod.runnerEnv {
		if agentEnv[k] != moved(v) {
			t.Errorf("the try-it's agent side: %s=%q, want proxy-pod.yaml's %q as %q", k, agentEnv[k], v, moved(v))
		}
	}
	extra := map[string]string{
		"PATH":         os.Getenv("PATH"),
		"HOME":         podDir + "/home",
		"NODE_PATH":    undici + "/node_modules",
		"NODE_OPTIONS": "--require " + podDir + "/node-env-proxy.cjs",
	}
	for k, v := range agentEnv {
		if _, ok := pod.runnerEnv[k]; ok {
			continue
		}
		if want, ok := extra[k]; !ok || v != want {
			t.Errorf("the try-it's agent side has %s=%q, which is not the runner's environment (the extras allowed: %v)", k, v, extra)
		}
	}

	// One placeholder.
	placeholder := pod.runnerEnv["GH_TOKEN"]
	if placeholder == "" || pod.runnerEnv["GITHUB_TOKEN"] != placeholder || strings.HasPrefix(placeholder, "gh") || !strings.Contains(placeholder, "placeholder") {
		t.Fatalf("proxy-pod.yaml: GH_TOKEN %q and GITHUB_TOKEN %q: want one placeholder that says it is one", placeholder, pod.runnerEnv["GITHUB_TOKEN"])
	}
	assignRE := regexp.MustCompile(`\b(GH_TOKEN|GITHUB_TOKEN)=([^\s$'"{][^\s'"]*)`)
	check := func(where, text string) int {
		n := 0
		for _, m := range assignRE.FindAllStringSubmatch(text, -1) {
			if strings.HasPrefix(m[2], "...") || strings.HasPrefix(m[2], "…") {
				continue // a value left out, not one written down
			}
			n++
			if m[2] != placeholder {
				t.Errorf("%s: %s=%s; the placeholder everywhere is proxy-pod.yaml's %q", where, m[1], m[2], placeholder)
			}
		}
		return n
	}
	n := 0
	files := docFiles(t)
	err := filepath.WalkDir(filepath.Join(repoRoot, "examples"), func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(repoRoot, path)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		n += check(f, string(data))
	}
	bin, err := buildProxy()
	if err != nil {
		t.Fatal(err)
	}
	help, _, err := runBounded(t, t.TempDir(), nil, "", 30*time.Second, bin, "-h")
	if err != nil {
		t.Fatalf("github-token-proxy -h: %v", err)
	}
	if check("github-token-proxy -h", help) == 0 {
		t.Errorf("github-token-proxy -h shows no GH_TOKEN placeholder")
	}
	t.Logf("%d placeholder assignments in the docs and examples, all %q", n, placeholder)
}

// proxyModeUndici is the undici the docs' Node preload needs on Node 20,
// in the cache the try-it uses ($HOME/.cache/vault-plugin-github-app/npm/
// undici@VERSION, VERSION the one docs/agent-isolation.md names),
// installed with npm when missing: into a directory of its own, then
// moved into place, so that a try-it installing at the same moment never
// sees half of it. It returns the node_modules directory.
func proxyModeUndici(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "agent-isolation.md"))
	if err != nil {
		t.Fatal(err)
	}
	var version string
	for _, m := range regexp.MustCompile(`undici@(\d+\.\d+\.\d+)`).FindAllStringSubmatch(string(data), -1) {
		if version != "" && m[1] != version {
			t.Fatalf("docs/agent-isolation.md names undici@%s and undici@%s", version, m[1])
		}
		version = m[1]
	}
	if version == "" {
		t.Fatal("docs/agent-isolation.md names no undici@VERSION")
	}
	dir := filepath.Join(os.Getenv("HOME"), ".cache", "vault-plugin-github-app", "npm", "undici@"+version)
	complete := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "node_modules", "undici", "package.json"))
		return err == nil
	}
	if complete(dir) {
		return filepath.Join(dir, "node_modules")
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".undici-")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runBounded(t, tmp, os.Environ(), "", 5*time.Minute, "npm", "install", "--prefix", tmp,
		"--no-package-lock", "--no-audit", "--no-fund", "--ignore-scripts", "--silent", "undici@"+version)
	if err != nil || !complete(tmp) {
		os.RemoveAll(tmp)
		t.Fatalf("npm install undici@%s (the npm registry must be reachable): %v\n%s%s", version, err, out, errOut)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if !complete(dir) {
			t.Cleanup(func() { os.RemoveAll(tmp) })
			return filepath.Join(tmp, "node_modules")
		}
		os.RemoveAll(tmp)
	}
	return filepath.Join(dir, "node_modules")
}

// nodeHasEnvProxy reports whether this node reads the proxy variables
// itself under NODE_USE_ENV_PROXY=1: 22.21 and later 22s, 24.5 and later.
func nodeHasEnvProxy(t testing.TB) (version string, has bool) {
	t.Helper()
	out, err := exec.Command("node", "-p", "process.versions.node").Output()
	if err != nil {
		t.Fatalf("node (Node 20 or later, with npm, for the proxy's Node clients): %v", err)
	}
	version = strings.TrimSpace(string(out))
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("node version %q: %v", version, err)
	}
	return version, major > 24 || major == 24 && minor >= 5 || major == 22 && minor >= 21
}

// TestProxyModeClients runs github-token-proxy with proxy-pod.yaml's
// command line (paths under a temporary directory, -listen on a free
// port, -resolve and -upstream-ca sending api.github.com to a local
// server that wants the token), the system roots of a made-up world (the
// CA of tunnel.invalid, a TLS server the proxy tunnels to) as the proxy's
// SSL_CERT_FILE, and waits for it with the manifest's startup probe. Then
// real curl, Python requests and Node fetch (with the docs' preload),
// with the manifest's runner environment alone and SSL_CERT_DIR emptied,
// so the bundle is all they trust: api.github.com answers them with the
// token they never had, tunnel.invalid verifies with the bundle's system
// roots and gets no token. Node without the preload reaches the proxy
// only where Node reads NODE_USE_ENV_PROXY (22.21+, 24.5+); Node 20 looks
// tunnel.invalid up itself and fails.
func TestProxyModeClients(t *testing.T) {
	t.Parallel()
	pod := proxyPod(t)
	bin, err := buildProxy()
	if err != nil {
		t.Fatal(err)
	}
	nodeVersion, envProxy := nodeHasEnvProxy(t)
	python := pythonWithRequests(t)
	undici := proxyModeUndici(t)
	dir := t.TempDir()
	moved := func(p string) string { return filepath.Join(dir, p) }
	for _, p := range []string{pod.credential, pod.caOut, pod.bundleOut} {
		if err := os.MkdirAll(moved(filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// api.github.com, behind its own CA (-upstream-ca): only the token.
	token := "ghs_" + strings.Repeat("m", githubtest.TokenLength-4)
	upstream, err := githubtest.NewTestCA("api.github.com stand-in CA")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var apiAuth, worldAuth []string
	apiCert, err := upstream.ServerCertificate("api.github.com")
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		apiAuth = append(apiAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "hello from api.github.com")
	}))
	api.TLS = &tls.Config{Certificates: []tls.Certificate{apiCert}}
	api.StartTLS()
	defer api.Close()
	upstreamFile := moved("upstream-ca.pem")
	// The world: tunnel.invalid, whose CA is among the "system roots".
	world, err := githubtest.NewTestCA("the world's root CA")
	if err != nil {
		t.Fatal(err)
	}
	worldCert, err := world.ServerCertificate("tunnel.invalid")
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		worldAuth = append(worldAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, "hello from tunnel.invalid")
	}))
	other.TLS = &tls.Config{Certificates: []tls.Certificate{worldCert}}
	other.StartTLS()
	defer other.Close()
	systemRoots := moved("system-roots.pem")
	emptyDir := moved("no-certs")
	for f, data := range map[string][]byte{upstreamFile: upstream.CertPEM, systemRoots: world.CertPEM} {
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	creds := fmt.Sprintf(`{"token":%q,"expiresAt":%q,"validUntil":%d,"provider":"github","userName":"","email":""}`,
		token, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), time.Now().Add(55*time.Minute).Unix())
	if err := os.WriteFile(moved(pod.credential), []byte(creds), 0o440); err != nil {
		t.Fatal(err)
	}

	// The proxy, as the pod runs it.
	port := strconv.Itoa(freePort(t))
	addr := "127.0.0.1:" + port
	var args []string
	for _, a := range pod.proxyArgs[1:] {
		switch {
		case a == pod.listen:
			a = addr
		case a == pod.credential || a == pod.caOut || a == pod.bundleOut:
			a = moved(a)
		case strings.HasPrefix(a, "127.0.0.1:"):
			a = "127.0.0.1:0" // -metrics-listen
		}
		args = append(args, a)
	}
	args = append(args, "-upstream-ca", upstreamFile,
		"-resolve", "api.github.com="+api.Listener.Addr().String(),
		"-resolve", "tunnel.invalid="+other.Listener.Addr().String())
	probe := func() error {
		if pod.probe[0] != "github-token-proxy" {
			t.Fatalf("proxy-pod.yaml's startup probe %q does not run github-token-proxy (the image has no shell)", pod.probe)
		}
		var pargs []string
		for _, a := range pod.probe[1:] {
			if a == pod.bundleOut || a == pod.caOut {
				a = moved(a)
			}
			pargs = append(pargs, a)
		}
		_, _, err := runBounded(t, dir, nil, "", 10*time.Second, bin, pargs...)
		return err
	}
	if probe() == nil {
		t.Fatal("the startup probe passes before the proxy started")
	}
	logPath := moved("proxy.log")
	watchLog(t, "github-token-proxy", logPath)
	p := startProcess(t, "github-token-proxy", logPath,
		[]string{"PATH=" + os.Getenv("PATH"), "SSL_CERT_FILE=" + systemRoots, "SSL_CERT_DIR=" + emptyDir}, bin, args...)
	t.Cleanup(func() { p.stop(t, 10*time.Second) })
	waitUntil(t, time.Now().Add(20*time.Second), 100*time.Millisecond, func() (bool, string) {
		if p.exited() {
			t.Fatalf("github-token-proxy exited at start (log %s)", logPath)
		}
		return probe() == nil, "proxy-pod.yaml's startup probe did not pass within 20s"
	})

	// The runner: the manifest's environment, paths moved, and its
	// SSL_CERT_DIR emptied so that the bundle is all it trusts.
	runner := append(pod.runnerEnvAt(addr, moved, emptyDir), "HOME="+moved("home"))
	preload := []string{"NODE_PATH=" + undici, "NODE_OPTIONS=--require " + filepath.Join(repoRoot, "examples", "runner", "node-env-proxy.cjs")}
	const (
		apiURL   = "https://api.github.com/installation/repositories"
		worldURL = "https://tunnel.invalid/elsewhere"
		pyGet    = `import sys, requests; r = requests.get(sys.argv[1], timeout=30); print(r.status_code, r.text)`
		nodeGet  = `fetch(process.argv[1]).then(async r => console.log(r.status, await r.text()), e => { console.log("failed", e.cause ? e.cause.message : e.message); process.exitCode = 1 })`
	)
	run := func(extra []string, name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH")}, runner...), extra...)
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), token) {
			t.Errorf("%s printed the token", name)
		}
		return string(out), err
	}
	for _, c := range []struct {
		what  string
		extra []string
		name  string
		args  []string
		want  string
	}{
		{"curl to api.github.com", nil, "curl", []string{"-sS", "--fail-with-body", apiURL}, "hello from api.github.com"},
		{"curl to a tunnelled host", nil, "curl", []string{"-sS", "--fail-with-body", worldURL}, "hello from tunnel.invalid"},
		{"Python requests to api.github.com", nil, python, []string{"-c", pyGet, apiURL}, "200 hello from api.github.com"},
		{"Python requests to a tunnelled host", nil, python, []string{"-c", pyGet, worldURL}, "200 hello from tunnel.invalid"},
		{"Node " + nodeVersion + " fetch with the preload to api.github.com", preload, "node", []string{"-e", nodeGet, apiURL}, "200 hello from api.github.com"},
		{"Node " + nodeVersion + " fetch with the preload to a tunnelled host", preload, "node", []string{"-e", nodeGet, worldURL}, "200 hello from tunnel.invalid"},
	} {
		out, err := run(c.extra, c.name, c.args...)
		if err != nil || strings.TrimSuffix(out, "\n") != c.want {
			t.Errorf("%s: %v\n%s", c.what, err, out)
		}
	}
	out, err := run(nil, "node", "-e", nodeGet, worldURL)
	switch {
	case envProxy && (err != nil || !strings.Contains(out, "200 hello from tunnel.invalid")):
		t.Errorf("Node %s fetch without the preload (NODE_USE_ENV_PROXY=1) to a tunnelled host: %v\n%s", nodeVersion, err, out)
	case !envProxy && (err == nil || !strings.Contains(out, "getaddrinfo ENOTFOUND tunnel.invalid")):
		t.Errorf("Node %s fetch without the preload: want it to go around the proxy and fail to look tunnel.invalid up (getaddrinfo ENOTFOUND); %v\n%s", nodeVersion, err, out)
	}
	t.Logf("Node %s without the preload: %s", nodeVersion, strings.TrimSpace(out))

	mu.Lock()
	defer mu.Unlock()
	if len(apiAuth) != 3 || slices.ContainsFunc(apiAuth, func(a string) bool { return a != "Bearer "+token }) {
		t.Errorf("api.github.com saw %d requests; want 3 (curl, Python, Node), each with the token", len(apiAuth))
	}
	wantWorld := 3
	if envProxy {
		wantWorld = 4
	}
	if len(worldAuth) != wantWorld || slices.ContainsFunc(worldAuth, func(a string) bool { return a != "" }) {
		t.Errorf("tunnel.invalid saw %d requests (authorization %q); want %d, none with a credential", len(worldAuth), worldAuth, wantWorld)
	}
}
