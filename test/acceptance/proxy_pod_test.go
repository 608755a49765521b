//go:build acceptance

package acceptance

// examples/runner/k8s/proxy-pod.yaml, the pod where the runner never
// holds the token, checked as Kubernetes would run it:
//   - its shape: Vault Agent and github-token-proxy are native sidecars,
//     each with its own user; the token volume (an in-memory emptyDir) is
//     mounted only into them, the projected service account token only
//     into Agent, no service account token is automounted, no pod fsGroup
//     puts the runner into the token files' group; Agent's agent.hcl
//     renders credentials.json where the proxy's -credentials reads it;
//   - the runner's environment: the proxy's address, the CA certificate
//     the proxy writes (in a volume the runner mounts read-only), and a
//     placeholder GH_TOKEN; nothing from a Secret;
//   - the real binary started with the pod's command (paths moved into a
//     temporary directory): it writes the CA certificate, and real curl,
//     with the runner's environment from the manifest, reaches a server
//     standing in for api.github.com, which receives the token that curl
//     never had;
//   - the NetworkPolicy selects the pod.

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

func TestExamplesProxyPod(t *testing.T) {
	t.Parallel()
	var pod, policy *k8sObject
	agentHCLByConfigMap := map[string]string{}
	configMaps := map[string]any{}
	for _, o := range k8sObjects(t) {
		if o.Kind == "ConfigMap" {
			agentHCLByConfigMap[o.Name] = fieldString(o.Raw, "data", "agent.hcl")
			configMaps[o.Name] = o.Raw
		}
		if filepath.Base(o.File) != "proxy-pod.yaml" {
			continue
		}
		switch o.Kind {
		case "Pod":
			pod = &o
		case "NetworkPolicy":
			policy = &o
		}
	}
	if pod == nil || policy == nil {
		t.Fatalf("proxy-pod.yaml: want a Pod and a NetworkPolicy (pod %v, policy %v)", pod != nil, policy != nil)
	}
	spec := pod.Raw["spec"]
	if v, ok := field(spec, "automountServiceAccountToken").(bool); !ok || v {
		t.Errorf("automountServiceAccountToken is %v, want false", field(spec, "automountServiceAccountToken"))
	}
	if v, _ := field(spec, "shareProcessNamespace").(bool); v {
		t.Error("shareProcessNamespace lets the runner see the proxy's and Agent's processes")
	}
	if field(spec, "securityContext", "fsGroup") != nil || field(spec, "securityContext", "supplementalGroups") != nil {
		t.Error("a pod fsGroup or supplementalGroups puts every container, the runner's too, into the token files' group")
	}

	volumes := map[string]any{}
	for _, v := range fieldList(spec, "volumes") {
		volumes[fieldString(v, "name")] = v
	}
	containers := map[string]any{}
	for _, list := range []string{"initContainers", "containers"} {
		for _, c := range fieldList(spec, list) {
			containers[fieldString(c, "name")] = c
		}
	}
	agent, proxy, runner := containers["vault-agent"], containers["github-token-proxy"], containers["runner"]
	if agent == nil || proxy == nil || runner == nil {
		t.Fatalf("want containers vault-agent, github-token-proxy and runner; have %v", slices.Sorted(maps.Keys(containers)))
	}
	for name, c := range map[string]any{"vault-agent": agent, "github-token-proxy": proxy} {
		if !slices.ContainsFunc(fieldList(spec, "initContainers"), func(x any) bool { return fieldString(x, "name") == name }) ||
			fieldString(c, "restartPolicy") != "Always" {
			t.Errorf("%s is not a native sidecar (an init container with restartPolicy: Always)", name)
		}
	}
	uid := func(c any) string { return fmt.Sprint(field(c, "securityContext", "runAsUser")) }
	gid := func(c any) string { return fmt.Sprint(field(c, "securityContext", "runAsGroup")) }
	if uid(agent) == "<nil>" || uid(proxy) == "<nil>" || uid(runner) == "<nil>" ||
		uid(agent) == uid(proxy) || uid(agent) == uid(runner) || uid(proxy) == uid(runner) {
		t.Errorf("want three different users; vault-agent %s, github-token-proxy %s, runner %s", uid(agent), uid(proxy), uid(runner))
	}
	if gid(runner) == gid(agent) || gid(runner) == gid(proxy) {
		t.Errorf("the runner's group %s is the token files' group (Agent %s, proxy %s)", gid(runner), gid(agent), gid(proxy))
	}

	// mounts lists, for each volume, the containers mounting it and where.
	type mount struct {
		container, path string
		readOnly        bool
	}
	mounts := map[string][]mount{}
	for name, c := range containers {
		for _, m := range fieldList(c, "volumeMounts") {
			ro, _ := field(m, "readOnly").(bool)
			mounts[fieldString(m, "name")] = append(mounts[fieldString(m, "name")], mount{name, fieldString(m, "mountPath"), ro})
		}
	}
	mountedBy := func(vol string) []string {
		var names []string
		for _, m := range mounts[vol] {
			names = append(names, m.container)
		}
		slices.Sort(names)
		return names
	}
	mountAt := func(container, dir string) (vol string, m mount) {
		for v, ms := range mounts {
			for _, m := range ms {
				if m.container == container && m.path == dir {
					return v, m
				}
			}
		}
		return "", mount{}
	}

	// The proxy's command line, as fixed in issue 17.
	var args []string
	for _, a := range fieldList(proxy, "command") {
		args = append(args, fmt.Sprint(a))
	}
	flagValue := func(name string) string {
		for i, a := range args {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}
	if len(args) == 0 || args[0] != "github-token-proxy" {
		t.Fatalf("the proxy's command %q does not run github-token-proxy", args)
	}
	listen, credentials, caOut, bundleOut := flagValue("-listen"), flagValue("-credentials"), flagValue("-ca-cert-out"), flagValue("-ca-bundle-out")
	if host, _, err := net.SplitHostPort(listen); err != nil || host != "127.0.0.1" {
		t.Errorf("-listen %q: want 127.0.0.1:PORT", listen)
	}

	// The token volume: where the proxy reads -credentials, in memory,
	// mounted by Agent and the proxy only, and Agent renders
	// credentials.json there.
	tokenVol, pm := mountAt("github-token-proxy", filepath.Dir(credentials))
	if tokenVol == "" || !pm.readOnly {
		t.Fatalf("the proxy does not mount %s read-only", filepath.Dir(credentials))
	}
	if fieldString(volumes[tokenVol], "emptyDir", "medium") != "Memory" {
		t.Errorf("volume %s (the token) is not an emptyDir in memory", tokenVol)
	}
	if got := mountedBy(tokenVol); !slices.Equal(got, []string{"github-token-proxy", "vault-agent"}) {
		t.Errorf("volume %s (the token) is mounted by %v, want vault-agent and github-token-proxy only", tokenVol, got)
	}
	if v, _ := mountAt("vault-agent", filepath.Dir(credentials)); v != tokenVol {
		t.Errorf("Agent does not mount volume %s at %s", tokenVol, filepath.Dir(credentials))
	}
	cm := fieldString(volumes["vault-agent-config"], "configMap", "name")
	if hcl := hclCode(agentHCLByConfigMap[cm]); !strings.Contains(hcl, `destination          = "`+credentials+`"`) {
		t.Errorf("agent.hcl in ConfigMap %q does not render %s (the proxy's -credentials)", cm, credentials)
	}
	for _, private := range []string{"vault-sa-token", "vault-agent-private"} {
		if got := mountedBy(private); !slices.Equal(got, []string{"vault-agent"}) {
			t.Errorf("volume %s is mounted by %v, want vault-agent only", private, got)
		}
	}
	var aud string
	for _, src := range fieldList(volumes["vault-sa-token"], "projected", "sources") {
		aud += fieldString(src, "serviceAccountToken", "audience")
	}
	if aud != "vault" {
		t.Errorf("projected token audience %q, want vault", aud)
	}

	// The CA volume: written by the proxy, read by the runner.
	caVol, cpm := mountAt("github-token-proxy", filepath.Dir(caOut))
	if caVol == "" || cpm.readOnly {
		t.Fatalf("the proxy does not mount %s writable for -ca-cert-out", filepath.Dir(caOut))
	}
	if v, rm := mountAt("runner", filepath.Dir(caOut)); v != caVol || !rm.readOnly {
		t.Errorf("the runner does not mount volume %s read-only at %s", caVol, filepath.Dir(caOut))
	}
	// The session volume: what Agent renders without a token for the
	// runner (gitconfig, branches.txt), written by Agent, read by the
	// runner; every template agent.hcl renders there reads no token.
	const sessionDir = "/var/run/github-session"
	sessionVol, sm := mountAt("runner", sessionDir)
	if sessionVol == "" || !sm.readOnly {
		t.Errorf("the runner does not mount %s read-only", sessionDir)
	}
	if got := mountedBy(sessionVol); sessionVol != "" && !slices.Equal(got, []string{"runner", "vault-agent"}) {
		t.Errorf("volume %s (%s) is mounted by %v, want vault-agent and the runner only", sessionVol, sessionDir, got)
	}
	if v, am := mountAt("vault-agent", sessionDir); v != sessionVol || am.readOnly {
		t.Errorf("Agent does not mount volume %s writable at %s", sessionVol, sessionDir)
	}
	stanzas := regexp.MustCompile(`source\s*=\s*"([^"]+)"\s*\n\s*destination\s*=\s*"([^"]+)"`).FindAllStringSubmatch(hclCode(agentHCLByConfigMap[cm]), -1)
	rendered := 0
	for _, st := range stanzas {
		if filepath.Dir(st[2]) != sessionDir {
			continue
		}
		rendered++
		if tmpl := fieldString(configMaps[cm], "data", filepath.Base(st[1])); tmpl == "" || strings.Contains(tmpl, ".Data.token") {
			t.Errorf("agent.hcl renders %s into the runner's %s, and it reads the token", st[1], sessionDir)
		}
	}
	if rendered == 0 {
		t.Errorf("agent.hcl renders nothing into %s", sessionDir)
	}
	for vol := range mounts {
		if vol != caVol && vol != sessionVol && slices.Contains(mountedBy(vol), "runner") {
			t.Errorf("the runner mounts volume %s; it should see the CA certificate and %s only", vol, sessionDir)
		}
	}

	// The runner's environment.
	env := map[string]string{}
	for _, e := range fieldList(runner, "env") {
		if field(e, "valueFrom") != nil {
			t.Errorf("the runner's %s comes from valueFrom; it should hold literal values only", fieldString(e, "name"))
		}
		env[fieldString(e, "name")] = fieldString(e, "value")
	}
	if field(runner, "envFrom") != nil {
		t.Error("the runner has envFrom")
	}
	for _, name := range []string{"HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"} {
		if env[name] != "http://"+listen {
			t.Errorf("the runner's %s = %q, want http://%s", name, env[name], listen)
		}
	}
	// The runner trusts the proxy's bundle (system roots and the CA) if
	// the proxy writes one, else its CA certificate, beside it.
	trust, trustFlag := caOut, "-ca-cert-out"
	if bundleOut != "" {
		trust, trustFlag = bundleOut, "-ca-bundle-out"
		if filepath.Dir(bundleOut) != filepath.Dir(caOut) {
			t.Errorf("-ca-bundle-out %s is not beside -ca-cert-out %s (the volume the runner mounts)", bundleOut, caOut)
		}
	}
	for _, name := range []string{"SSL_CERT_FILE", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"} {
		if env[name] != trust {
			t.Errorf("the runner's %s = %q, want %s (%s)", name, env[name], trust, trustFlag)
		}
	}
	if env["GH_TOKEN"] == "" || strings.HasPrefix(env["GH_TOKEN"], "gh") {
		t.Errorf("the runner's GH_TOKEN %q: want a placeholder", env["GH_TOKEN"])
	}
	// git commits as the App's bot: it includes the gitconfig Agent renders.
	if env["GIT_CONFIG_COUNT"] != "1" || env["GIT_CONFIG_KEY_0"] != "include.path" || env["GIT_CONFIG_VALUE_0"] != sessionDir+"/gitconfig" {
		t.Errorf("the runner's git does not include %s/gitconfig (GIT_CONFIG_* %q %q %q)", sessionDir, env["GIT_CONFIG_COUNT"], env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"])
	}

	// The NetworkPolicy selects this pod and limits its egress.
	labels, _ := field(pod.Raw, "metadata", "labels").(map[string]any)
	sel, _ := field(policy.Raw, "spec", "podSelector", "matchLabels").(map[string]any)
	if len(sel) == 0 {
		t.Error("the NetworkPolicy selects every pod in the namespace")
	}
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("the NetworkPolicy selects %s=%v; the pod has %v", k, v, labels[k])
		}
	}
	if !slices.ContainsFunc(fieldList(policy.Raw, "spec", "policyTypes"), func(x any) bool { return x == "Egress" }) {
		t.Error("the NetworkPolicy has no Egress policy type")
	}

	runProxyPod(t, args, listen, credentials, caOut, bundleOut, env)
}

// runProxyPod runs the real github-token-proxy with the pod's command
// (its paths under a temporary directory, -listen on a free port, and
// -resolve/-upstream-ca sending api.github.com to a local TLS server),
// then real curl with the runner's environment from the manifest.
func runProxyPod(t *testing.T, args []string, listen, credentials, caOut, bundleOut string, env map[string]string) {
	dir := t.TempDir()
	bin, err := buildProxy()
	if err != nil {
		t.Fatal(err)
	}
	moved := func(p string) string { return filepath.Join(dir, p) }
	for _, p := range []string{credentials, caOut} {
		if err := os.MkdirAll(moved(filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().String()
	l.Close()

	// api.github.com: answers only with the token.
	token := "ghs_" + strings.Repeat("k", githubtest.TokenLength-4)
	ca, err := githubtest.NewTestCA("api.github.com stand-in CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate("api.github.com")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"total_count":1}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	upstreamCA := filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(upstreamCA, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	creds := fmt.Sprintf(`{"token":%q,"expiresAt":%q,"validUntil":%d,"provider":"github","userName":"","email":""}`,
		token, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), time.Now().Add(55*time.Minute).Unix())
	if err := os.WriteFile(moved(credentials), []byte(creds), 0o440); err != nil {
		t.Fatal(err)
	}

	var cmdArgs []string
	for _, a := range args[1:] {
		switch a {
		case listen:
			a = port
		case credentials, caOut, bundleOut:
			a = moved(a)
		}
		if strings.HasPrefix(a, "127.0.0.1:") && a != port {
			a = "127.0.0.1:0" // -metrics-listen
		}
		cmdArgs = append(cmdArgs, a)
	}
	cmdArgs = append(cmdArgs, "-resolve", "api.github.com="+srv.Listener.Addr().String(), "-upstream-ca", upstreamCA)
	cmd := exec.Command(bin, cmdArgs...)
	logPath := filepath.Join(dir, "proxy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	watchLog(t, "github-token-proxy", logPath)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("github-token-proxy after SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("github-token-proxy did not stop within 10s of SIGTERM")
		}
	}()
	// As the pod's startup probe does: wait for the CA certificate (and
	// the bundle, written after it).
	last := caOut
	if bundleOut != "" {
		last = bundleOut
	}
	for i := 0; ; i++ {
		if fi, err := os.Stat(moved(last)); err == nil && fi.Size() > 0 {
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("%s has mode %v, want 0644", last, fi.Mode().Perm())
			}
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("github-token-proxy exited at start: %v (log %s)", err, logPath)
		default:
		}
		if i == 200 {
			t.Fatalf("no %s after 10s (log %s)", last, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if bundleOut != "" {
		bundle, err := os.ReadFile(moved(bundleOut))
		ca, _ := os.ReadFile(moved(caOut))
		if err != nil || !strings.HasSuffix(string(bundle), string(ca)) || len(bundle) <= len(ca) {
			t.Errorf("-ca-bundle-out is not the system roots followed by -ca-cert-out: %v", err)
		}
	}

	// curl with the runner's environment, paths moved likewise.
	curlEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		v = strings.ReplaceAll(v, "http://"+listen, "http://"+port)
		if v == caOut || bundleOut != "" && v == bundleOut {
			v = moved(v)
		}
		curlEnv = append(curlEnv, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	curl := exec.CommandContext(ctx, "curl", "-sS", "--fail-with-body", "https://api.github.com/installation/repositories")
	curl.Env = curlEnv
	out, err := curl.CombinedOutput()
	if err != nil || string(out) != `{"total_count":1}` {
		t.Errorf("curl with the runner's environment: %v\n%s", err, out)
	}
	if strings.Contains(strings.Join(curlEnv, "\n"), token) {
		t.Error("the token is in the runner's environment")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "Bearer "+token {
		t.Errorf("api.github.com saw %d requests; want one with the token", len(seen))
	}
}
