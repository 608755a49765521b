//go:build acceptance

package acceptance

// Every file under examples/ is exercised here by the real thing:
//
//   - agent-approle.hcl and the three templates, unchanged, by a real
//     `vault agent -exit-after-auth` against a test Vault, after
//     session-start.sh created the session's role; git-credential-vault.sh
//     (through real git too) and gh-wrapper.sh read what Agent rendered;
//     session-end.sh removes the role and revokes the token at GitHub
//     (TestExamplesRunnerAppRole). The Vault Agent Injector's inline
//     templates in k8s/injector-pod.yaml are rendered by the same Agent.
//   - agent.hcl, with only the paths its header says the pod provides
//     moved into a temporary directory, by a real `vault agent` that logs
//     in with Kubernetes auth: vault-k8s-auth.sh sets the auth method up
//     against a fake Kubernetes TokenReview API on 127.0.0.1 (TLS, its CA
//     passed as K8S_CA_CERT), so the session-templated.hcl policy it loads
//     is the one deciding (TestExamplesRunnerKubernetes).
//   - k8s/*.yaml parsed as YAML (python3 with PyYAML, Debian package
//     python3-yaml) into Kubernetes-shaped objects; ConfigMaps equal the
//     files they copy byte for byte; pods refer only to volumes, config
//     maps and service accounts that exist, and mount what agent.hcl
//     expects where it expects it (TestExamplesManifests).
//   - *.sh: bash -n, sh -n for /bin/sh scripts, shellcheck when installed
//     (TestExamplesShellScripts).
//   - policies/*.hcl: `vault policy fmt` changes nothing, each file's
//     placeholders are the ones the README lists, and after substitution
//     the real Vault accepts it; the README's sed commands run as written
//     (TestExamplesPolicies). session_policy_test.go checks what the
//     shipped policies allow and deny.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// ---------------------------------------------------------------------------
// Helpers for examples

// examplePath is a path under examples/.
func examplePath(elem ...string) string {
	return filepath.Join(append([]string{repoRoot, "examples"}, elem...)...)
}

func readExample(t testing.TB, elem ...string) string {
	t.Helper()
	data, err := os.ReadFile(examplePath(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// copyExample copies examples/<elem...> to dir unchanged.
func copyExample(t testing.TB, dir string, elem ...string) {
	t.Helper()
	data := readExample(t, elem...)
	if err := os.WriteFile(filepath.Join(dir, elem[len(elem)-1]), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hclCode is an HCL or shell text without its comment lines.
func hclCode(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

var placeholderRE = regexp.MustCompile(`<[A-Za-z_]+>`)

// placeholders are the <PLACEHOLDER>s in text outside comments, sorted.
func placeholders(text string) []string {
	found := placeholderRE.FindAllString(hclCode(text), -1)
	slices.Sort(found)
	return slices.Compact(found)
}

// substitute replaces each placeholder everywhere, as the documented sed
// commands do, and fails if one does not occur outside comments or if a
// placeholder is left.
func substitute(t testing.TB, name, text string, subst map[string]string) string {
	t.Helper()
	for from, to := range subst {
		if !strings.Contains(hclCode(text), from) {
			t.Fatalf("%s: %q does not occur outside comments", name, from)
		}
		text = strings.ReplaceAll(text, from, to)
	}
	if left := placeholders(text); len(left) > 0 {
		t.Fatalf("%s: placeholders left after substitution: %v", name, left)
	}
	return text
}

// exampleEnv is the environment the example scripts and Agent run with:
// ours without VAULT_*, GH_*, GITHUB_* and GIT_* variables, the pinned
// vault binary first on PATH, and extra.
func exampleEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "PATH" || strings.HasPrefix(name, "VAULT_") || strings.HasPrefix(name, "GH_") ||
			strings.HasPrefix(name, "GITHUB_") || strings.HasPrefix(name, "GIT_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+filepath.Dir(vaultBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	return append(env, extra...)
}

// vaultEnv adds VAULT_ADDR and, if token is not empty, VAULT_TOKEN.
func vaultEnv(v *vaultServer, token string, extra ...string) []string {
	env := []string{"VAULT_ADDR=" + v.Addr}
	if token != "" {
		env = append(env, "VAULT_TOKEN="+token)
	}
	return exampleEnv(append(env, extra...)...)
}

// runBounded runs bin with args in dir, stdin as its input, and kills it
// after timeout. Output is returned, not logged: it may hold tokens.
func runBounded(t testing.TB, dir string, env []string, stdin string, timeout time.Duration, bin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: killed after %s: %v", filepath.Base(bin), strings.Join(args, " "), timeout, err)
	}
	return out.String(), errOut.String(), err
}

// runScript runs an example script by its path (so its shebang decides
// the shell) with the given environment.
func runExampleScript(t testing.TB, env []string, stdin string, script string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runBounded(t, filepath.Dir(script), env, stdin, 60*time.Second, script, args...)
}

// runAgentOnce runs `vault agent -config=config -exit-after-auth` in dir
// and waits (at most 90 s) for it to log in, render its templates once and
// exit 0. Its log goes to dir/agent.log, dumped if the test fails.
func runAgentOnce(t testing.TB, dir string, env []string, config string) {
	t.Helper()
	logPath := filepath.Join(dir, "agent.log")
	watchLog(t, "vault agent", logPath)
	start := time.Now()
	out, errOut, err := runBounded(t, dir, env, "", 90*time.Second, agentBin, "agent", "-config="+config, "-exit-after-auth")
	if werr := os.WriteFile(logPath, []byte(out+errOut), 0o600); werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("vault agent -config=%s -exit-after-auth: %v (log %s)", filepath.Base(config), err, logPath)
	}
	if strings.Contains(out+errOut, "error loading configuration") {
		t.Fatalf("vault agent reported a configuration error (log %s)", logPath)
	}
	t.Logf("vault agent -config=%s -exit-after-auth: logged in, rendered and exited 0 in %s", filepath.Base(config), time.Since(start).Round(time.Millisecond))
}

// runnerTemplates are the templates agent.hcl and agent-approle.hcl
// render, as examples/runner ships them.
var runnerTemplates = []string{"github-token.ctmpl", "gh-env.ctmpl", "credentials.json.ctmpl", "gitconfig.ctmpl", "branches.txt.ctmpl"}

// credentialsJSON is credentials.json.ctmpl's output: the platform
// backend's old answer, and the write scope.
type credentialsJSON struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expiresAt"`
	// ValidUntil is when the lease ends and Vault revokes the token (unix
	// seconds): what the credential helper and the gh wrapper measure
	// their margin against.
	ValidUntil int64  `json:"validUntil"`
	Provider   string `json:"provider"`
	UserName   string `json:"userName"`
	Email      string `json:"email"`
	// Branches is the role's write scope; absent (nil) when unscoped.
	Branches []string `json:"branches"`
}

// renderedFiles names the files the example templates render into dir.
type renderedFiles struct {
	Token, GHEnv, Credentials string
}

func renderedIn(dir string) renderedFiles {
	return renderedFiles{
		Token:       filepath.Join(dir, "token"),
		GHEnv:       filepath.Join(dir, "gh.env"),
		Credentials: filepath.Join(dir, "credentials.json"),
	}
}

// checkRendered checks the three files: one token, live at the double,
// covering wantRepos; gh.env exports it (as a shell sees it);
// credentials.json holds it with the double's expires_at, the App's bot
// identity as userName and email, and wantBranches as branches (no key
// when wantBranches is nil: an unscoped role). It returns the token.
func checkRendered(t testing.TB, d *githubtest.Server, f renderedFiles, wantRepos, wantBranches []string) string {
	t.Helper()
	for _, p := range []string{f.Token, f.GHEnv, f.Credentials} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("not rendered: %v", err)
		}
		if fi.Mode().Perm() != 0o440 {
			t.Errorf("%s has mode %v, want 0440 (perms in the template stanza)", filepath.Base(p), fi.Mode().Perm())
		}
	}
	raw, err := os.ReadFile(f.Token)
	if err != nil {
		t.Fatal(err)
	}
	token := string(raw)
	if !strings.HasPrefix(token, "ghs_") || strings.ContainsAny(token, " \n\r\t") {
		t.Fatalf("token file holds %d bytes that are not a bare installation token (no newline allowed)", len(raw))
	}
	tok := lookupToken(t, d, token)
	if !tok.Live(time.Now()) {
		t.Errorf("rendered token %s is not live at the double", github.HashToken(token))
	}
	if got := slices.Sorted(slices.Values(tok.Repositories)); !slices.Equal(got, wantRepos) {
		t.Errorf("rendered token covers %v, want %v", got, wantRepos)
	}

	env, err := os.ReadFile(f.GHEnv)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("export GH_TOKEN='%s'\nexport GITHUB_TOKEN='%s'\n", token, token); string(env) != want {
		t.Errorf("gh.env is not the two exports of the rendered token (%d bytes)", len(env))
	}
	out, _, err := runBounded(t, filepath.Dir(f.GHEnv), exampleEnv(), "", 10*time.Second,
		"/bin/sh", "-c", `. "$1" && printf '%s\n%s\n' "$GH_TOKEN" "$GITHUB_TOKEN"`, "sh", f.GHEnv)
	if err != nil || out != token+"\n"+token+"\n" {
		t.Errorf("sourcing gh.env with /bin/sh does not set GH_TOKEN and GITHUB_TOKEN to the rendered token (%v)", err)
	}

	data, err := os.ReadFile(f.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	var creds credentialsJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&creds); err != nil {
		t.Fatalf("credentials.json: %v", err)
	}
	var fields map[string]any
	wantFields := 6
	if wantBranches != nil {
		wantFields++
	}
	if err := json.Unmarshal(data, &fields); err != nil || len(fields) != wantFields {
		t.Errorf("credentials.json has fields %v, want token, expiresAt, validUntil, provider, userName, email (and branches when scoped: %v)", slices.Sorted(maps.Keys(fields)), wantBranches)
	}
	if _, has := fields["branches"]; has != (wantBranches != nil) || !slices.Equal(creds.Branches, wantBranches) {
		t.Errorf("credentials.json branches %v (present %v), want %v", creds.Branches, has, wantBranches)
	}
	// The engine's default expiry_buffer (5m) ends the lease 5 minutes
	// before expires_at; validUntil is that moment, rounded down, a second
	// early.
	if until, leaseEnd := time.Unix(creds.ValidUntil, 0), tok.ExpiresAt.Add(-5*time.Minute); until.After(leaseEnd) || until.Before(leaseEnd.Add(-5*time.Second)) {
		t.Errorf("credentials.json validUntil %s, want the lease end %s (expires_at - expiry_buffer) or up to 5s before", until.UTC().Format(time.RFC3339), leaseEnd.UTC().Format(time.RFC3339))
	}
	if creds.Token != token {
		t.Errorf("credentials.json token is %s, the token file %s", github.HashToken(creds.Token), github.HashToken(token))
	}
	exp, err := time.Parse(time.RFC3339, creds.ExpiresAt)
	if err != nil {
		t.Errorf("credentials.json expiresAt %q is not RFC 3339: %v", creds.ExpiresAt, err)
	} else if !exp.Equal(tok.ExpiresAt) {
		t.Errorf("credentials.json expiresAt %s, the double's expires_at %s", exp.Format(time.RFC3339), tok.ExpiresAt.Format(time.RFC3339))
	}
	user, email := d.BotLogin(), botEmailOf(d)
	if creds.Provider != "github" || creds.UserName != user || creds.Email != email {
		t.Errorf("credentials.json provider/userName/email = %q/%q/%q, want github/%q/%q", creds.Provider, creds.UserName, creds.Email, user, email)
	}
	return token
}

// botEmailOf is the commit email of the double's App's bot.
func botEmailOf(d *githubtest.Server) string {
	return fmt.Sprintf("%d+%s@users.noreply.github.com", d.BotUserID(), d.BotLogin())
}

// checkSessionFiles checks what Agent renders for the runner without a
// token, in dir: gitconfig names the App's bot as git's user, and real
// git including it (as the pods configure it, GIT_CONFIG_*) authors
// commits as the bot; branches.txt says which branches the session may
// write (wantBranches; nil: unscoped). Both are mode perms and hold no
// token.
func checkSessionFiles(t testing.TB, d *githubtest.Server, dir string, perms os.FileMode, wantBranches []string) {
	t.Helper()
	gitconfig, sentence := filepath.Join(dir, "gitconfig"), filepath.Join(dir, "branches.txt")
	for _, p := range []string{gitconfig, sentence} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("not rendered: %v", err)
		}
		if fi.Mode().Perm() != perms {
			t.Errorf("%s has mode %v, want %v", filepath.Base(p), fi.Mode().Perm(), perms)
		}
		data, _ := os.ReadFile(p)
		for _, tk := range d.Tokens() {
			if strings.Contains(string(data), tk.Value) {
				t.Errorf("%s holds a token", filepath.Base(p))
			}
		}
	}
	data, err := os.ReadFile(gitconfig)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[user]\n\tname = " + d.BotLogin() + "\n\temail = " + botEmailOf(d) + "\n"; string(data) != want {
		t.Errorf("gitconfig is %q, want %q", data, want)
	}
	gitEnv := exampleEnv("HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=include.path", "GIT_CONFIG_VALUE_0="+gitconfig)
	out, errOut, err := runBounded(t, dir, gitEnv, "", 30*time.Second, "git", "var", "GIT_AUTHOR_IDENT")
	if want := d.BotLogin() + " <" + botEmailOf(d) + "> "; err != nil || !strings.HasPrefix(out, want) {
		t.Errorf("git with include.path=%s: author %q (%v %s), want %q...", gitconfig, out, err, errOut, want)
	}
	data, err = os.ReadFile(sentence)
	if err != nil {
		t.Fatal(err)
	}
	want := "This session's GitHub token has no branch scope: no branch write is refused by its name.\n"
	if wantBranches != nil {
		want = "You may create, push to and delete only branches matching: " + strings.Join(wantBranches, ", ") +
			" ('*' matches any characters within one '/'-separated part). Writes to any other branch, by git push, gh or the GitHub API, are refused: work on a branch of your own under these names and open a pull request from it.\n"
	}
	if string(data) != want {
		t.Errorf("branches.txt is %q, want %q", data, want)
	}
}

// ---------------------------------------------------------------------------
// YAML through python3 and PyYAML (no YAML module in go.mod)

// pythons caches, per module, the python3 that can import it.
var pythons sync.Map // module name → *foundPython

type foundPython struct {
	once sync.Once
	bin  string
	err  error
}

// pythonWith finds a python3 that can `import module`: the one on PATH,
// else /usr/bin/python3, where the Debian package pkg puts it (what
// scripts/deps.sh checks). It fails the test when there is none.
func pythonWith(t testing.TB, module, pkg string) string {
	t.Helper()
	v, _ := pythons.LoadOrStore(module, &foundPython{})
	p := v.(*foundPython)
	p.once.Do(func() {
		var tried []string
		for _, cand := range []string{"python3", "/usr/bin/python3"} {
			bin, err := exec.LookPath(cand)
			if err != nil {
				tried = append(tried, cand+": not found")
				continue
			}
			if out, err := exec.Command(bin, "-c", "import "+module).CombinedOutput(); err != nil {
				tried = append(tried, fmt.Sprintf("%s: %v: %s", bin, err, strings.TrimSpace(string(out))))
				continue
			}
			p.bin = bin
			return
		}
		p.err = fmt.Errorf("no python3 with %s (install the Debian/Ubuntu package %s): %s", module, pkg, strings.Join(tried, "; "))
	})
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.bin
}

// pythonWithYAML finds a python3 that can `import yaml`: the manifests
// must not go unchecked.
func pythonWithYAML(t testing.TB) string { return pythonWith(t, "yaml", "python3-yaml") }

// pythonWithRequests finds a python3 that can `import requests`, the
// proxy's Python client.
func pythonWithRequests(t testing.TB) string { return pythonWith(t, "requests", "python3-requests") }

// yamlDocs parses every document of a YAML file (yaml.safe_load_all) and
// returns them as JSON-decoded values.
func yamlDocs(t testing.TB, path string) []any {
	t.Helper()
	const prog = `import json, sys, yaml
with open(sys.argv[1]) as f:
    json.dump(list(yaml.safe_load_all(f)), sys.stdout)
`
	out, errOut, err := runBounded(t, filepath.Dir(path), exampleEnv(), "", 30*time.Second, pythonWithYAML(t), "-c", prog, path)
	if err != nil {
		t.Fatalf("%s is not valid YAML: %v\n%s", path, err, errOut)
	}
	var docs []any
	if err := json.Unmarshal([]byte(out), &docs); err != nil {
		t.Fatalf("%s: decoding the parsed documents: %v", path, err)
	}
	return docs
}

// k8sObject is a manifest document with the Kubernetes object shape.
type k8sObject struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Raw        map[string]any
	File       string
}

// field walks nested maps: field(obj, "spec", "volumes").
func field(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func fieldString(v any, path ...string) string {
	s, _ := field(v, path...).(string)
	return s
}

func fieldList(v any, path ...string) []any {
	l, _ := field(v, path...).([]any)
	return l
}

// k8sObjects parses every examples/**/*.yaml into objects, failing on a
// document without apiVersion, kind or metadata.name.
func k8sObjects(t testing.TB) []k8sObject {
	t.Helper()
	var files []string
	err := filepath.WalkDir(examplePath(), func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no YAML files under examples/")
	}
	var objs []k8sObject
	for _, path := range files {
		rel, _ := filepath.Rel(repoRoot, path)
		docs := yamlDocs(t, path)
		if len(docs) == 0 {
			t.Errorf("%s: no YAML documents", rel)
		}
		for i, doc := range docs {
			m, ok := doc.(map[string]any)
			if !ok {
				t.Errorf("%s: document %d is %T, not a mapping", rel, i+1, doc)
				continue
			}
			o := k8sObject{
				APIVersion: fieldString(m, "apiVersion"),
				Kind:       fieldString(m, "kind"),
				Name:       fieldString(m, "metadata", "name"),
				Namespace:  fieldString(m, "metadata", "namespace"),
				Raw:        m,
				File:       path,
			}
			if o.APIVersion == "" || o.Kind == "" || o.Name == "" {
				t.Errorf("%s: document %d lacks apiVersion, kind or metadata.name (%q, %q, %q)", rel, i+1, o.APIVersion, o.Kind, o.Name)
				continue
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// ---------------------------------------------------------------------------
// A fake Kubernetes API: TokenReview only

// kubeSA is a service account as a token names it.
type kubeSA struct {
	Namespace, Name, UID string
}

// fakeKube answers POST /apis/authentication.k8s.io/v1/tokenreviews over
// TLS on 127.0.0.1 for the service account tokens it issued, like the
// Kubernetes API does for projected tokens: authenticated only for a token
// it issued, only for audiences the token has.
type fakeKube struct {
	URL    string
	CAFile string // the server's certificate, PEM

	key *rsa.PrivateKey
	mu  sync.Mutex
	// issued maps each token to its service account and audiences.
	issued  map[string]issuedSAToken
	reviews int
}

type issuedSAToken struct {
	sa  kubeSA
	aud []string
}

func newFakeKube(t testing.TB) *fakeKube {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKube{key: key, issued: map[string]issuedSAToken{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(k.serveHTTP))
	t.Cleanup(srv.Close)
	k.URL = srv.URL
	k.CAFile = filepath.Join(t.TempDir(), "k8s-ca.crt")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(k.CAFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// issue returns a projected service account token (RS256 JWT with the
// claims Kubernetes puts in one) for sa with the given audiences.
func (k *fakeKube) issue(t testing.TB, sa kubeSA, aud ...string) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"aud": aud,
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"iss": "https://kubernetes.default.svc.cluster.local",
		"sub": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		"kubernetes.io": map[string]any{
			"namespace":      sa.Namespace,
			"pod":            map[string]any{"name": sa.Name, "uid": "pod-" + sa.UID},
			"serviceaccount": map[string]any{"name": sa.Name, "uid": sa.UID},
		},
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "kid": "fake", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	jwt := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	k.mu.Lock()
	k.issued[jwt] = issuedSAToken{sa: sa, aud: aud}
	k.mu.Unlock()
	return jwt
}

func (k *fakeKube) reviewCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reviews
}

func (k *fakeKube) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
		return
	}
	var req struct {
		Spec struct {
			Token     string   `json:"token"`
			Audiences []string `json:"audiences"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	k.reviews++
	issued, ok := k.issued[req.Spec.Token]
	_, callerOK := k.issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	k.mu.Unlock()
	// Vault without a reviewer JWT sends the reviewed token as the bearer.
	if !callerOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`)
		return
	}
	status := map[string]any{"authenticated": false, "error": "invalid bearer token"}
	if ok {
		var aud []string
		for _, a := range req.Spec.Audiences {
			if slices.Contains(issued.aud, a) {
				aud = append(aud, a)
			}
		}
		if len(req.Spec.Audiences) == 0 {
			aud = issued.aud
		}
		if len(aud) > 0 {
			status = map[string]any{
				"authenticated": true,
				"user": map[string]any{
					"username": "system:serviceaccount:" + issued.sa.Namespace + ":" + issued.sa.Name,
					"uid":      issued.sa.UID,
					"groups":   []string{"system:serviceaccounts", "system:serviceaccounts:" + issued.sa.Namespace},
				},
				"audiences": aud,
			}
		} else {
			status = map[string]any{"authenticated": false, "error": "token audiences do not match"}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"kind":       "TokenReview",
		"apiVersion": "authentication.k8s.io/v1",
		"spec":       req.Spec,
		"status":     status,
	})
}

// ---------------------------------------------------------------------------
// Tests

// TestExamplesRunnerAppRole runs the AppRole recipe of examples/runner as
// its README does, with the real scripts, Agent config and templates:
//
//   - session-start.sh s1 (as the backend, root token) writes the role;
//   - Agent, from a scratch directory holding agent-approle.hcl and the
//     templates as shipped plus ./role-id and ./secret-id (the only things
//     its header says to provide), logs in with the session's AppRole role
//     (policy session-templated-approle.hcl) and renders token, gh.env and
//     credentials.json: all one token (one mint), live at the double,
//     covering the session's repositories, expiresAt = the double's
//     expires_at;
//   - git-credential-vault.sh get answers username=x-access-token and
//     password=<token> for https://github.com only, also through real git
//     configured the way the pods configure it (GIT_CONFIG_*);
//   - gh-wrapper.sh hands the token to a fake gh in GH_TOKEN, or only in
//     GH_ENTERPRISE_TOKEN for GH_HOST (TestGhWrapperTokenHosts runs the
//     real gh);
//   - the Injector pod's inline templates (k8s/injector-pod.yaml, session
//     "example" substituted) render the same shapes;
//   - session-end.sh s1 removes the role and revokes the session's tokens
//     at GitHub, and not those of session s10.
func TestExamplesRunnerAppRole(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)

	// One-time setup from the README: AppRole and the session policy.
	roleID, secretID := v.approle(t, "ambient-sessions_ambient-session-s1", "github-session-approle")
	putSessionPolicy(t, v)

	// The operator's bound for the project, then session start, as the
	// platform backend.
	writeSessionBound(t, v)
	backendEnv := vaultEnv(v, v.RootToken)
	out, errOut, err := runExampleScript(t, backendEnv, "", examplePath("runner", "session-start.sh"), "s1", "acme/widgets", "acme/gadgets")
	if err != nil {
		t.Fatalf("session-start.sh s1: %v\n%s%s", err, out, errOut)
	}
	if want := "session s1: role github/roles/session_ambient-sessions_ambient-session-s1; its pod reads github/token/session_ambient-sessions_ambient-session-s1\n"; !strings.HasSuffix(out, want) {
		t.Errorf("session-start.sh printed %q, want it to end with %q", out, want)
	}
	role, err := v.Client.Logical().Read("github/roles/session_ambient-sessions_ambient-session-s1")
	if err != nil || role == nil {
		t.Fatalf("reading the role session-start.sh wrote: %v", err)
	}
	t.Logf("session-start.sh wrote github/roles/session_ambient-sessions_ambient-session-s1: %v", role.Data)
	first := role.Data
	// The session's write scope: ambient/<session>/*, in the role and in
	// the token answer, with the App's bot identity.
	if got, _ := secretBranches(role); !slices.Equal(got, []string{"ambient/s1/*"}) {
		t.Errorf("session-start.sh wrote branches %v, want [ambient/s1/*]", role.Data["branches"])
	}
	answer, err := v.Client.Logical().Read("github/token/session_ambient-sessions_ambient-session-s1")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := secretBranches(answer); !slices.Equal(got, []string{"ambient/s1/*"}) || answer.Data["bot_login"] != d.BotLogin() || answer.Data["bot_email"] != botEmailOf(d) {
		t.Errorf("the session's token answer: branches %v, bot_login %v, bot_email %v", answer.Data["branches"], answer.Data["bot_login"], answer.Data["bot_email"])
	}
	if err := v.Client.Sys().Revoke(answer.LeaseID); err != nil {
		t.Fatal(err)
	}
	// A restarted session re-runs it with other arguments: the role is
	// exactly what that run asks for (nothing kept from the first run)...
	out, errOut, err = runExampleScript(t, append(slices.Clone(backendEnv), "PERMISSIONS=", "TTL=20m", "EXPIRY_BUFFER=2m", "BRANCHES="), "", examplePath("runner", "session-start.sh"), "s1", "acme/tools")
	if err != nil {
		t.Fatalf("session-start.sh s1 again: %v\n%s%s", err, out, errOut)
	}
	again, err := v.Client.Logical().Read("github/roles/session_ambient-sessions_ambient-session-s1")
	if err != nil || again == nil {
		t.Fatalf("reading the re-written role: %v", err)
	}
	if got, _ := secretBranches(again); fmt.Sprint(again.Data["repositories"]) != "[tools]" || again.Data["permissions"] != nil ||
		again.Data["ttl"] != "20m0s" || again.Data["expiry_buffer"] != "2m0s" || again.Data["bound"] != "ambient-sessions" || got == nil || len(got) != 0 {
		t.Errorf("session-start.sh re-run wrote %v, want exactly repositories [tools], no permissions and no branches (the bound's), ttl 20m, expiry_buffer 2m", again.Data)
	}
	if answer, err := v.Client.Logical().Read("github/token/session_ambient-sessions_ambient-session-s1"); err != nil {
		t.Fatal(err)
	} else if got, _ := secretBranches(answer); !slices.Equal(got, []string{"ambient/*/*"}) {
		t.Errorf("a session role with BRANCHES= answers branches %v, want the bound's [ambient/*/*]", answer.Data["branches"])
	} else if err := v.Client.Sys().Revoke(answer.LeaseID); err != nil {
		t.Fatal(err)
	}
	// ...and running it as the first time gives the first role back.
	if out, errOut, err := runExampleScript(t, backendEnv, "", examplePath("runner", "session-start.sh"), "s1", "acme/widgets", "acme/gadgets"); err != nil {
		t.Fatalf("session-start.sh s1 a third time: %v\n%s%s", err, out, errOut)
	}
	if third, err := v.Client.Logical().Read("github/roles/session_ambient-sessions_ambient-session-s1"); err != nil || !reflect.DeepEqual(third.Data, first) {
		t.Errorf("session-start.sh re-run with the first arguments wrote %v (%v), want %v", third.Data, err, first)
	}
	// Its refusals write nothing.
	for _, args := range [][]string{{"s2"}, {"s2", "widgets"}, {"s2", "acme/widgets", "other/tools"}} {
		if _, _, err := runExampleScript(t, backendEnv, "", examplePath("runner", "session-start.sh"), args...); err == nil {
			t.Errorf("session-start.sh %v succeeded", args)
		}
	}
	if s, err := v.Client.Logical().Read("github/roles/session_ambient-sessions_ambient-session-s2"); err != nil || s != nil {
		t.Errorf("a refused session-start.sh wrote ambient-session-s2 (%v)", err)
	}

	// The "pod": Agent in a scratch directory, as agent-approle.hcl's
	// header says: the config and templates copied, ./role-id, ./secret-id.
	work := t.TempDir()
	for _, f := range append([]string{"agent-approle.hcl"}, runnerTemplates...) {
		copyExample(t, work, "runner", f)
	}
	if err := os.WriteFile(filepath.Join(work, "role-id"), []byte(roleID), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "secret-id"), []byte(secretID), 0o600); err != nil {
		t.Fatal(err)
	}
	tokensBefore := len(d.Tokens())
	runAgentOnce(t, work, vaultEnv(v, "", "GITHUB_ROLE=session_ambient-sessions_ambient-session-s1"), "agent-approle.hcl")

	files := renderedIn(filepath.Join(work, "github"))
	token := checkRendered(t, d, files, []string{"gadgets", "widgets"}, []string{"ambient/s1/*"})
	checkSessionFiles(t, d, filepath.Join(work, "github-session"), 0o444, []string{"ambient/s1/*"})
	if n := len(d.Tokens()) - tokensBefore; n != 1 {
		t.Errorf("the double issued %d tokens for %d templates reading one path, want 1", n, len(runnerTemplates))
	}
	tok := lookupToken(t, d, token)
	if want := map[string]string{"contents": "write", "pull_requests": "write", "metadata": "read"}; !maps.Equal(tok.Permissions, want) {
		t.Errorf("token permissions %v, want session-start.sh's default %v", tok.Permissions, want)
	}
	if fi, err := os.Stat(filepath.Join(work, "vault-token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("Agent's sink ./vault-token: %v (mode %v), want mode 0600", err, fi)
	}

	t.Run("git-credential-vault.sh", func(t *testing.T) {
		helper := examplePath("runner", "git-credential-vault.sh")
		env := exampleEnv("GITHUB_CREDENTIALS_FILE=" + files.Credentials)
		want := "username=x-access-token\npassword=" + token + "\n"
		// The token has its 55-minute lease (less the seconds since it was
		// rendered) left: a 50-minute margin is met, a 60-minute one is not.
		cases := []struct {
			name, stdin string
			env         []string
			args        []string
			answer      bool
			refusal     string // exit 1 with this on stderr
		}{
			{"get github.com", "protocol=https\nhost=github.com\npath=acme/widgets.git\n\n", env, []string{"get"}, true, ""},
			{"get another host", "protocol=https\nhost=gitlab.com\n\n", env, []string{"get"}, false, ""},
			{"get over http", "protocol=http\nhost=github.com\n\n", env, []string{"get"}, false, ""},
			{"get GHES host", "protocol=https\nhost=ghe.example.com\n\n", append(slices.Clone(env), "GITHUB_HOST=ghe.example.com"), []string{"get"}, true, ""},
			{"get github.com with GITHUB_HOST set elsewhere", "protocol=https\nhost=github.com\n\n", append(slices.Clone(env), "GITHUB_HOST=ghe.example.com"), []string{"get"}, false, ""},
			{"store", "protocol=https\nhost=github.com\nusername=x\npassword=y\n\n", env, []string{"store"}, false, ""},
			{"erase", "protocol=https\nhost=github.com\n\n", env, []string{"erase"}, false, ""},
			{"get with a 50-minute margin", "protocol=https\nhost=github.com\n\n", append(slices.Clone(env), "GITHUB_TOKEN_MARGIN=3000"), []string{"get"}, true, ""},
			{"get with a 60-minute margin", "protocol=https\nhost=github.com\n\n", append(slices.Clone(env), "GITHUB_TOKEN_MARGIN=3600", "GITHUB_TOKEN_WAIT=1"), []string{"get"}, false,
				"less than the 3600s margin, and Vault Agent has not rendered a fresh one in 1s"},
			{"get without the file", "protocol=https\nhost=github.com\n\n", exampleEnv("GITHUB_CREDENTIALS_FILE="+filepath.Join(work, "missing"), "GITHUB_TOKEN_WAIT=1"), []string{"get"}, false,
				"git-credential-vault: no token in " + filepath.Join(work, "missing") + " after 1s; is Vault Agent running?"},
		}
		for _, c := range cases {
			out, errOut, err := runExampleScript(t, c.env, c.stdin, helper, c.args...)
			if c.refusal != "" {
				if err == nil || out != "" || !strings.Contains(errOut, c.refusal) {
					t.Errorf("%s: exit %v, %d bytes answered, stderr %q; want exit 1, nothing, and %q", c.name, err, len(out), errOut, c.refusal)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: exit %v: %s", c.name, err, errOut)
				continue
			}
			switch {
			case c.answer && out != want:
				t.Errorf("%s: answered %d bytes, not username=x-access-token and the rendered token", c.name, len(out))
			case !c.answer && out != "":
				t.Errorf("%s: answered %d bytes, want nothing", c.name, len(out))
			}
		}

		// The file appears while the helper waits (Agent rendering): it
		// answers with the token once it is there.
		late := filepath.Join(t.TempDir(), "credentials.json")
		data, err := os.ReadFile(files.Credentials)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(1500 * time.Millisecond)
			if err := os.WriteFile(late+".tmp", data, 0o440); err == nil {
				os.Rename(late+".tmp", late)
			}
		}()
		if out, errOut, err := runExampleScript(t, exampleEnv("GITHUB_CREDENTIALS_FILE="+late, "GITHUB_TOKEN_WAIT=10"), "protocol=https\nhost=github.com\n\n", helper, "get"); err != nil || out != want {
			t.Errorf("get while Agent renders: exit %v, %d bytes answered (%s); want the token once the file is there", err, len(out), errOut)
		}

		// Real git, configured as the pods do with GIT_CONFIG_* variables.
		gitEnv := exampleEnv("HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "SSH_ASKPASS=/bin/false",
			"GITHUB_CREDENTIALS_FILE="+files.Credentials,
			"GIT_CONFIG_COUNT=2",
			"GIT_CONFIG_KEY_0=credential.https://github.com.helper", "GIT_CONFIG_VALUE_0=",
			"GIT_CONFIG_KEY_1=credential.https://github.com.helper", "GIT_CONFIG_VALUE_1="+helper)
		out, errOut, err := runBounded(t, work, gitEnv, "protocol=https\nhost=github.com\npath=acme/widgets.git\n\n", 30*time.Second, "git", "credential", "fill")
		if err != nil {
			t.Fatalf("git credential fill: %v: %s", err, errOut)
		}
		if !strings.Contains(out, "username=x-access-token\n") || !strings.Contains(out, "password="+token+"\n") {
			t.Errorf("git credential fill with the helper did not produce the rendered token (%d bytes)", len(out))
		}
	})

	t.Run("gh-wrapper.sh", func(t *testing.T) {
		bin := t.TempDir()
		fakeGH := filepath.Join(bin, "gh")
		script := "#!/bin/sh\nprintf 'GH_TOKEN=%s\\nGH_ENTERPRISE_TOKEN=%s\\nargs=%s\\n' \"${GH_TOKEN-unset}\" \"${GH_ENTERPRISE_TOKEN-unset}\" \"$*\"\n"
		if err := os.WriteFile(fakeGH, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		wrapper := examplePath("runner", "gh-wrapper.sh")
		env := func(extra ...string) []string {
			e := exampleEnv(append([]string{"GH_REAL=" + fakeGH}, extra...)...)
			for i, kv := range e {
				if strings.HasPrefix(kv, "PATH=") {
					e[i] = "PATH=" + bin + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
				}
			}
			return e
		}
		for _, c := range []struct {
			name    string
			env     []string
			want    string
			refusal string // exit 1 with this on stderr, gh not run
		}{
			{"github.com", env("GITHUB_CREDENTIALS_FILE=" + files.Credentials), "GH_TOKEN=" + token + "\nGH_ENTERPRISE_TOKEN=unset\nargs=pr list --repo acme/widgets\n", ""},
			{"GH_HOST", env("GITHUB_CREDENTIALS_FILE="+files.Credentials, "GH_HOST=ghe.example.com"), "GH_TOKEN=unset\nGH_ENTERPRISE_TOKEN=" + token + "\nargs=pr list --repo acme/widgets\n", ""},
			{"60-minute margin", env("GITHUB_CREDENTIALS_FILE="+files.Credentials, "GITHUB_TOKEN_MARGIN=3600", "GITHUB_TOKEN_WAIT=1"), "", "less than the 3600s margin"},
			{"no token file", env("GITHUB_CREDENTIALS_FILE="+filepath.Join(work, "missing"), "GITHUB_TOKEN_WAIT=1"), "", "gh-wrapper: no token in " + filepath.Join(work, "missing") + " after 1s"},
		} {
			out, errOut, err := runExampleScript(t, c.env, "", wrapper, "pr", "list", "--repo", "acme/widgets")
			if c.refusal != "" {
				if err == nil || out != "" || !strings.Contains(errOut, c.refusal) {
					t.Errorf("%s: exit %v, gh printed %d bytes, stderr %q; want exit 1 without running gh, and %q", c.name, err, len(out), errOut, c.refusal)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v: %s", c.name, err, errOut)
				continue
			}
			if out != c.want {
				t.Errorf("%s: the fake gh saw other variables or arguments than expected (%d bytes)", c.name, len(out))
			}
			if errOut != "" {
				t.Errorf("%s: stderr %q, want nothing", c.name, errOut)
			}
		}
	})

	t.Run("injector-pod.yaml templates", func(t *testing.T) {
		renderInjectorTemplates(t, v, d, roleID, secretID)
	})

	// Session s10, to show session-end.sh s1 does not reach it.
	if out, errOut, err := runExampleScript(t, backendEnv, "", examplePath("runner", "session-start.sh"), "s10", "acme/tools"); err != nil {
		t.Fatalf("session-start.sh s10: %v\n%s%s", err, out, errOut)
	}
	other := mint(t, v.Client, "github/token/session_ambient-sessions_ambient-session-s10")

	// Session end, as the backend, waiting for GitHub (SYNC=1).
	out, errOut, err = runExampleScript(t, append(slices.Clone(backendEnv), "SYNC=1"), "", examplePath("runner", "session-end.sh"), "s1")
	if err != nil {
		t.Fatalf("session-end.sh s1: %v\n%s%s", err, out, errOut)
	}
	if s, err := v.Client.Logical().Read("github/roles/session_ambient-sessions_ambient-session-s1"); err != nil || s != nil {
		t.Errorf("role ambient-session-s1 still readable after session-end.sh (%v)", err)
	}
	if s, err := v.Client.Logical().List("sys/leases/lookup/github/token/session_ambient-sessions_ambient-session-s1/"); err != nil || (s != nil && len(fieldList(s.Data, "keys")) > 0) {
		t.Errorf("leases of ambient-session-s1 left after session-end.sh: %v (%v)", s, err)
	}
	revoked := waitRevoked(t, d, token, time.Now().Add(10*time.Second))
	t.Logf("session-end.sh: role deleted, token %s revoked at the double %s after it was issued",
		github.HashToken(token), revoked.RevokedAt.Sub(revoked.IssuedAt).Round(time.Millisecond))
	for _, tk := range d.Tokens() {
		if slices.Equal(slices.Sorted(slices.Values(tk.Repositories)), []string{"gadgets", "widgets"}) && tk.RevokedAt.IsZero() {
			t.Errorf("a token of session s1 (%s) is still live", github.HashToken(tk.Value))
		}
	}
	if !lookupToken(t, d, other.Data.Token).Live(time.Now()) || !v.leaseExists(t, other.LeaseID) {
		t.Error("session-end.sh s1 revoked session s10's token")
	}
	// Agent cannot mint for the ended session any more.
	sink, err := readTrimmed(filepath.Join(work, "vault-token"))
	if err != nil || sink == "" {
		t.Fatalf("Agent's sink token: %v", err)
	}
	c := v.newClient(t, sink)
	c.SetMaxRetries(0)
	if _, err := c.Logical().Read("github/token/session_ambient-sessions_ambient-session-s1"); statusOf(err) != http.StatusBadRequest {
		t.Errorf("minting for the ended session: %v, want 400 (no such role)", err)
	}
}

// renderInjectorTemplates renders k8s/injector-pod.yaml's inline
// templates the way the Injector's Agent would (each annotation's template
// into its file, with its perms), with the session name "example"
// substituted by s1 and AppRole instead of Kubernetes auth.
func renderInjectorTemplates(t *testing.T, v *vaultServer, d *githubtest.Server, roleID, secretID string) {
	var pod *k8sObject
	for _, o := range k8sObjects(t) {
		if o.Kind == "Pod" && filepath.Base(o.File) == "injector-pod.yaml" {
			pod = &o
		}
	}
	if pod == nil {
		t.Fatal("no Pod in k8s/injector-pod.yaml")
	}
	ann, _ := field(pod.Raw, "metadata", "annotations").(map[string]any)
	const prefix = "vault.hashicorp.com/agent-inject-template-"
	work := t.TempDir()
	out := filepath.Join(work, "out")
	var stanzas strings.Builder
	var names []string
	for key, val := range ann {
		name, ok := strings.CutPrefix(key, prefix)
		if !ok {
			continue
		}
		names = append(names, name)
		tmpl, _ := val.(string)
		secret, _ := ann["vault.hashicorp.com/agent-inject-secret-"+name].(string)
		file, _ := ann["vault.hashicorp.com/agent-inject-file-"+name].(string)
		perms, _ := ann["vault.hashicorp.com/agent-inject-perms-"+name].(string)
		if secret == "" || file == "" || perms == "" {
			t.Errorf("template %s lacks its agent-inject-secret, -file or -perms annotation", name)
			continue
		}
		want := "github/token/session_" + fieldString(pod.Raw, "metadata", "namespace") + "_" + fieldString(pod.Raw, "spec", "serviceAccountName")
		if secret != want {
			t.Errorf("agent-inject-secret-%s is %q, want %s (session_<namespace>_<service account>)", name, secret, want)
		}
		if reads := regexp.MustCompile(`secret "([^"]*)"`).FindAllStringSubmatch(tmpl, -1); len(reads) != 1 || reads[0][1] != want {
			t.Errorf("agent-inject-template-%s reads %v, want %s (session_<namespace>_<service account>) once", name, reads, want)
		}
		tmpl = strings.ReplaceAll(tmpl, "ambient-session-example", "ambient-session-s1")
		fmt.Fprintf(&stanzas, "template {\n  contents    = %q\n  destination = %q\n  perms       = %q\n  error_on_missing_key = true\n}\n\n",
			tmpl, filepath.Join(out, file), perms)
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"branches", "credentials", "gh-env", "gitconfig", "github-token"}) {
		t.Fatalf("injector templates %v, want branches, credentials, gh-env, gitconfig, github-token", names)
	}
	if t.Failed() {
		t.FailNow()
	}
	for path, val := range map[string]string{"role-id": roleID, "secret-id": secretID} {
		if err := os.WriteFile(filepath.Join(work, path), []byte(val), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// One retry: a refused read fails the run at once instead of after
	// Agent's default dozen.
	cfg := fmt.Sprintf(`vault {
  retry {
    num_retries = 1
  }
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = "./role-id"
      secret_id_file_path                 = "./secret-id"
      remove_secret_id_file_after_reading = false
    }
  }
}

template_config {
  exit_on_retry_failure = true
}

%s`, stanzas.String())
	if err := os.WriteFile(filepath.Join(work, "injector.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(d.Tokens())
	runAgentOnce(t, work, vaultEnv(v, ""), "injector.hcl")
	checkRendered(t, d, renderedIn(out), []string{"gadgets", "widgets"}, []string{"ambient/s1/*"})
	checkSessionFiles(t, d, out, 0o444, []string{"ambient/s1/*"})
	if n := len(d.Tokens()) - before; n != 1 {
		t.Errorf("the Injector templates minted %d tokens, want 1", n)
	}
}

// TestExamplesRunnerKubernetes runs agent.hcl, the pod's Agent config,
// with Kubernetes auth for real. vault-k8s-auth.sh configures the auth
// method against a fake Kubernetes API (TokenReview over TLS on
// 127.0.0.1, its certificate given as K8S_CA_CERT, as for a Vault outside
// the cluster) and loads session-templated.hcl. agent.hcl is used with
// only the paths its header lists as provided by the pod moved under a
// temporary directory (/etc/vault-agent/, /var/run/github/, /vault/agent/
// and the projected token); every other line is as shipped. So this
// checks that the config parses, that its auth stanza logs in with the
// role vault-k8s-auth.sh creates, and that the templated policy lets
// service account ambient-session-s1 mint its own role and no other.
// Tokens the role must refuse (wrong audience, service account or
// namespace) are refused. vault-k8s-auth.sh runs twice (it must be
// rerunnable).
//
// What "parses" covers: Agent rejects syntax errors, unknown auth method
// or sink types and unknown keys inside template stanzas ("error loading
// configuration"), but ignores unknown keys at the top level and in
// template_config (a misspelled exit_on_retry_failure goes unnoticed), so
// those are only as right as their spelling.
func TestExamplesRunnerKubernetes(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	k := newFakeKube(t)

	operatorEnv := vaultEnv(v, v.RootToken, "K8S_HOST="+k.URL, "K8S_CA_CERT="+k.CAFile)
	if out, errOut, err := runExampleScript(t, operatorEnv, "", examplePath("runner", "vault-k8s-auth.sh")); err != nil {
		t.Fatalf("vault-k8s-auth.sh: %v\n%s%s", err, out, errOut)
	}
	// Running it again is harmless (auth method already enabled).
	if out, errOut, err := runExampleScript(t, operatorEnv, "", examplePath("runner", "vault-k8s-auth.sh")); err != nil {
		t.Fatalf("vault-k8s-auth.sh, second run: %v\n%s%s", err, out, errOut)
	}
	auths, err := v.Client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	policy, err := v.Client.Sys().GetPolicy("github-session")
	if err != nil {
		t.Fatal(err)
	}
	if want := "identity.entity.aliases." + auths["kubernetes/"].Accessor + ".metadata.service_account_name"; !strings.Contains(policy, want) {
		t.Errorf("policy github-session does not use %s:\n%s", want, policy)
	}

	writeSessionBound(t, v)
	for _, s := range []struct{ session, repo string }{{"s1", "acme/widgets"}, {"s2", "acme/gadgets"}} {
		if out, errOut, err := runExampleScript(t, vaultEnv(v, v.RootToken), "", examplePath("runner", "session-start.sh"), s.session, s.repo); err != nil {
			t.Fatalf("session-start.sh %s: %v\n%s%s", s.session, err, out, errOut)
		}
	}

	// The pod: what agent.hcl's header says the pod provides, under work.
	work := t.TempDir()
	dirs := map[string]string{
		"/etc/vault-agent/":        filepath.Join(work, "etc-vault-agent") + "/",
		"/var/run/github/":         filepath.Join(work, "var-run-github") + "/",
		"/var/run/github-session/": filepath.Join(work, "var-run-github-session") + "/",
		"/vault/agent/":            filepath.Join(work, "vault-agent") + "/",
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range runnerTemplates {
		copyExample(t, dirs["/etc/vault-agent/"], "runner", f)
	}
	saToken := filepath.Join(work, "sa-token")
	sa := kubeSA{Namespace: "ambient-sessions", Name: "ambient-session-s1", UID: "2b9a6c0e-4a1f-4a56-9d7e-000000000001"}
	if err := os.WriteFile(saToken, []byte(k.issue(t, sa, "vault")), 0o600); err != nil {
		t.Fatal(err)
	}
	subst := map[string]string{
		"/var/run/secrets/vault.hashicorp.com/serviceaccount/token": saToken,
	}
	for from, to := range dirs {
		subst[from] = to
	}
	shipped := readExample(t, "runner", "agent.hcl")
	cfg := shipped
	for from, to := range subst {
		if !strings.Contains(hclCode(cfg), from) {
			t.Fatalf("agent.hcl does not use %s outside comments", from)
		}
		cfg = strings.ReplaceAll(cfg, from, to)
	}
	// Nothing else in the config points into the pod's filesystem.
	for _, l := range strings.Split(hclCode(cfg), "\n") {
		if strings.Contains(l, `"/`) && !strings.Contains(l, work) {
			t.Errorf("agent.hcl uses an absolute path its header does not list: %s", strings.TrimSpace(l))
		}
	}
	if a, b := strings.Count(shipped, "\n"), strings.Count(cfg, "\n"); a != b {
		t.Fatalf("substitution changed agent.hcl's line count (%d -> %d)", a, b)
	}
	cfgPath := filepath.Join(work, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// GITHUB_ROLE as sidecar-pod.yaml sets it for the Agent container:
	// session_<namespace>_<service account>, from the downward API.
	role := ""
	for _, o := range k8sObjects(t) {
		if o.Kind != "Pod" || filepath.Base(o.File) != "sidecar-pod.yaml" {
			continue
		}
		for _, c := range fieldList(o.Raw, "spec", "initContainers") {
			for _, e := range fieldList(c, "env") {
				if fieldString(e, "name") == "GITHUB_ROLE" {
					role = strings.NewReplacer("$(POD_NAMESPACE)", sa.Namespace, "$(POD_SERVICE_ACCOUNT)", sa.Name).Replace(fieldString(e, "value"))
				}
			}
		}
	}
	if role != "session_ambient-sessions_ambient-session-s1" {
		t.Fatalf("sidecar-pod.yaml sets GITHUB_ROLE to %q for %s/%s, want session_ambient-sessions_ambient-session-s1", role, sa.Namespace, sa.Name)
	}
	runAgentOnce(t, work, vaultEnv(v, "", "GITHUB_ROLE="+role), cfgPath)
	if k.reviewCount() == 0 {
		t.Error("Vault never asked the fake Kubernetes API to review the token")
	}
	checkRendered(t, d, renderedIn(dirs["/var/run/github/"]), []string{"widgets"}, []string{"ambient/s1/*"})
	checkSessionFiles(t, d, dirs["/var/run/github-session/"], 0o444, []string{"ambient/s1/*"})

	// Agent's Vault token (sink /vault/agent/token): the session's
	// templated policy, its own role only.
	sinkPath := filepath.Join(dirs["/vault/agent/"], "token")
	if fi, err := os.Stat(sinkPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sink %s: %v, want mode 0600", sinkPath, err)
	}
	sink, err := readTrimmed(sinkPath)
	if err != nil {
		t.Fatal(err)
	}
	c := v.newClient(t, sink)
	c.SetMaxRetries(0)
	self, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if pols, _ := self.TokenPolicies(); !slices.Contains(pols, "github-session") {
		t.Errorf("the pod's Vault token has policies %v, want github-session", pols)
	}
	if _, err := tryMint(c, "github/token/session_ambient-sessions_ambient-session-s1", nil); err != nil {
		t.Errorf("the pod minting its own role: %v", err)
	}
	for _, path := range []string{"github/token/session_ambient-sessions_ambient-session-s2", "github/roles/session_ambient-sessions_ambient-session-s1", "github/config"} {
		if _, err := c.Logical().Read(path); statusOf(err) != http.StatusForbidden {
			t.Errorf("the pod reading %s: %v, want 403", path, err)
		}
	}

	// What the ambient-session role must refuse.
	login := func(jwt string) error {
		lc := v.newClient(t, "")
		lc.SetMaxRetries(0)
		_, err := lc.Logical().Write("auth/kubernetes/login", map[string]any{"role": "ambient-session", "jwt": jwt})
		return err
	}
	if err := login(k.issue(t, sa, "vault")); err != nil {
		t.Errorf("a fresh Vault-audience token of ambient-session-s1: %v", err)
	}
	for _, c := range []struct {
		name string
		sa   kubeSA
		aud  string
	}{
		{"the pod's API token (audience kubernetes)", sa, "https://kubernetes.default.svc.cluster.local"},
		{"service account default", kubeSA{"ambient-sessions", "default", "uid-default"}, "vault"},
		{"another namespace", kubeSA{"other", "ambient-session-s1", "uid-other"}, "vault"},
	} {
		if err := login(k.issue(t, c.sa, c.aud)); err == nil {
			t.Errorf("%s logged in", c.name)
		}
	}
}

// TestExamplesManifests parses every examples/**/*.yaml as YAML and checks
// the objects: apiVersion, kind and metadata.name everywhere, one
// namespace; ConfigMap entries equal the files they copy byte for byte;
// pods refer only to volumes, config maps and service accounts the
// manifests define; the sidecar pod mounts agent.hcl, its templates, the
// token directory, the sink directory and the projected token where
// agent.hcl expects them, the runner sees the token directory read-only
// and not the sink or the projected token.
func TestExamplesManifests(t *testing.T) {
	t.Parallel()
	objs := k8sObjects(t)
	byKind := map[string]map[string]k8sObject{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]k8sObject{}
		}
		byKind[o.Kind][o.Name] = o
		if o.Namespace != "ambient-sessions" {
			t.Errorf("%s %s: namespace %q, want ambient-sessions (the placeholder used everywhere)", o.Kind, o.Name, o.Namespace)
		}
		rel, _ := filepath.Rel(repoRoot, o.File)
		t.Logf("%s: %s %s/%s", rel, o.APIVersion, o.Kind, o.Name)
	}
	for _, kind := range []string{"ConfigMap", "Pod", "ServiceAccount"} {
		if len(byKind[kind]) == 0 {
			t.Errorf("no %s in the manifests", kind)
		}
	}

	// ConfigMaps hold copies of the example files next to k8s/.
	for _, cm := range byKind["ConfigMap"] {
		data, _ := cm.Raw["data"].(map[string]any)
		if len(data) == 0 {
			t.Errorf("ConfigMap %s has no data", cm.Name)
		}
		for key, val := range data {
			src := filepath.Join(filepath.Dir(filepath.Dir(cm.File)), key)
			want, err := os.ReadFile(src)
			if err != nil {
				t.Errorf("ConfigMap %s entry %s is not a copy of an example file: %v", cm.Name, key, err)
				continue
			}
			if s, _ := val.(string); s != string(want) {
				t.Errorf("ConfigMap %s entry %s differs from %s; regenerate it (command in its header)", cm.Name, key, src)
			}
		}
	}

	agentHCL := hclCode(readExample(t, "runner", "agent.hcl"))
	for _, pod := range byKind["Pod"] {
		spec := pod.Raw["spec"]
		saName := fieldString(spec, "serviceAccountName")
		if _, ok := byKind["ServiceAccount"][saName]; !ok {
			t.Errorf("Pod %s: service account %q is not in the manifests", pod.Name, saName)
		}
		volumes := map[string]any{}
		for _, vol := range fieldList(spec, "volumes") {
			volumes[fieldString(vol, "name")] = vol
			if cm := fieldString(vol, "configMap", "name"); cm != "" {
				if _, ok := byKind["ConfigMap"][cm]; !ok {
					t.Errorf("Pod %s: volume %s uses ConfigMap %q, not in the manifests", pod.Name, fieldString(vol, "name"), cm)
				}
			}
		}
		containers := map[string]any{}
		for _, list := range []string{"initContainers", "containers"} {
			for _, c := range fieldList(spec, list) {
				name := fieldString(c, "name")
				containers[name] = c
				if name == "" || fieldString(c, "image") == "" {
					t.Errorf("Pod %s: a container without a name or image", pod.Name)
				}
				for _, m := range fieldList(c, "volumeMounts") {
					if _, ok := volumes[fieldString(m, "name")]; !ok {
						t.Errorf("Pod %s container %s mounts volume %q, not defined", pod.Name, name, fieldString(m, "name"))
					}
					if sub := fieldString(m, "subPath"); sub != "" {
						if cm := fieldString(volumes[fieldString(m, "name")], "configMap", "name"); cm != "" {
							if _, ok := field(byKind["ConfigMap"][cm].Raw, "data", sub).(string); !ok {
								t.Errorf("Pod %s container %s mounts subPath %s of ConfigMap %s, which has no such key", pod.Name, name, sub, cm)
							}
						}
					}
				}
			}
		}
		// mountOf finds the volume container c mounts at dir, if any.
		mountOf := func(c any, dir string) (vol any, readOnly, ok bool) {
			for _, m := range fieldList(c, "volumeMounts") {
				if strings.TrimSuffix(fieldString(m, "mountPath"), "/") == strings.TrimSuffix(dir, "/") {
					ro, _ := field(m, "readOnly").(bool)
					return volumes[fieldString(m, "name")], ro, true
				}
			}
			return nil, false, false
		}
		if filepath.Base(pod.File) != "sidecar-pod.yaml" {
			continue
		}
		agent, runner := containers["vault-agent"], containers["runner"]
		if agent == nil || runner == nil {
			t.Fatalf("Pod %s: want containers vault-agent and runner, have %v", pod.Name, slices.Sorted(maps.Keys(containers)))
		}
		cmd := strings.Join(func() []string {
			var s []string
			for _, a := range fieldList(agent, "command") {
				s = append(s, fmt.Sprint(a))
			}
			return s
		}(), " ")
		cfgFile, ok := strings.CutPrefix(regexp.MustCompile(`-config=\S+`).FindString(cmd), "-config=")
		if !ok {
			t.Fatalf("Pod %s: the agent's command %q has no -config=", pod.Name, cmd)
		}
		vol, _, ok := mountOf(agent, filepath.Dir(cfgFile))
		cm := fieldString(vol, "configMap", "name")
		if !ok || cm == "" {
			t.Fatalf("Pod %s: %s is not in a ConfigMap volume of the agent container", pod.Name, cfgFile)
		}
		if got := fieldString(byKind["ConfigMap"][cm].Raw, "data", filepath.Base(cfgFile)); got != readExample(t, "runner", "agent.hcl") {
			t.Errorf("Pod %s: %s (ConfigMap %s) is not agent.hcl", pod.Name, cfgFile, cm)
		}
		// Every absolute path agent.hcl uses is mounted in the agent
		// container: templates from the ConfigMap, the rest from volumes.
		for _, p := range regexp.MustCompile(`"(/[^"]+)"`).FindAllStringSubmatch(agentHCL, -1) {
			path := p[1]
			vol, _, ok := mountOf(agent, filepath.Dir(path))
			if !ok {
				t.Errorf("Pod %s: agent.hcl uses %s; the agent container mounts nothing at %s", pod.Name, path, filepath.Dir(path))
				continue
			}
			if cm := fieldString(vol, "configMap", "name"); cm != "" && fieldString(byKind["ConfigMap"][cm].Raw, "data", filepath.Base(path)) == "" {
				t.Errorf("Pod %s: agent.hcl reads %s; ConfigMap %s has no %s", pod.Name, path, cm, filepath.Base(path))
			}
		}
		// The runner: the rendered files read-only, not Agent's own token
		// or the projected service account token.
		if _, ro, ok := mountOf(runner, "/var/run/github"); !ok || !ro {
			t.Errorf("Pod %s: the runner should mount /var/run/github read-only (mounted %v, readOnly %v)", pod.Name, ok, ro)
		}
		for _, private := range []string{"/vault/agent", "/var/run/secrets/vault.hashicorp.com/serviceaccount"} {
			vol, _, _ := mountOf(agent, private)
			for _, m := range fieldList(runner, "volumeMounts") {
				if vol != nil && fieldString(m, "name") == fieldString(vol, "name") {
					t.Errorf("Pod %s: the runner mounts %s, Agent's private volume", pod.Name, fieldString(vol, "name"))
				}
			}
		}
		var aud string
		for _, src := range fieldList(volumes["vault-sa-token"], "projected", "sources") {
			aud += fieldString(src, "serviceAccountToken", "audience")
		}
		if aud != "vault" {
			t.Errorf("Pod %s: projected token audience %q, want vault (the Kubernetes auth role's audience)", pod.Name, aud)
		}
	}
}

// TestExamplesShellScripts: every examples/**/*.sh passes bash -n;
// /bin/sh scripts also sh -n (POSIX sh, dash on Debian); and shellcheck
// when it is installed.
func TestExamplesShellScripts(t *testing.T) {
	t.Parallel()
	var scripts []string
	err := filepath.WalkDir(examplePath(), func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(path, ".sh") {
			scripts = append(scripts, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) == 0 {
		t.Fatal("no scripts under examples/")
	}
	shellcheck, _ := exec.LookPath("shellcheck")
	if shellcheck == "" {
		t.Log("shellcheck not installed: only bash -n and sh -n")
	}
	for _, s := range scripts {
		rel, _ := filepath.Rel(repoRoot, s)
		text, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(s)
		if fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", rel)
		}
		shebang, _, _ := strings.Cut(string(text), "\n")
		checks := [][]string{{"bash", "-n", s}}
		switch shebang {
		case "#!/bin/sh":
			checks = append(checks, []string{"sh", "-n", s})
		case "#!/usr/bin/env bash", "#!/bin/bash":
		default:
			t.Errorf("%s: unexpected shebang %q", rel, shebang)
		}
		if shellcheck != "" {
			checks = append(checks, []string{shellcheck, "-x", s})
		}
		for _, c := range checks {
			out, errOut, err := runBounded(t, filepath.Dir(s), exampleEnv(), "", 30*time.Second, c[0], c[1:]...)
			if err != nil {
				t.Errorf("%s %s: %v\n%s%s", filepath.Base(c[0]), strings.Join(c[1:len(c)-1], " "), err, out, errOut)
			}
		}
	}
	t.Logf("%d scripts checked", len(scripts))
}

// TestExamplesPolicies: for every examples/policies/*.hcl, `vault policy
// fmt` on a copy changes nothing; its placeholders outside comments are
// the ones the README's table lists for it; after substituting them the
// real Vault accepts it (sys/policies/acl) and reads it back unchanged.
// The README's sed | vault policy write commands run as written.
func TestExamplesPolicies(t *testing.T) {
	t.Parallel()
	v := startVault(t, vaultOptions{})
	for _, method := range []string{"approle", "kubernetes"} {
		if err := v.Client.Sys().EnableAuthWithOptions(method, &api.EnableAuthOptions{Type: method}); err != nil {
			t.Fatal(err)
		}
	}
	auths, err := v.Client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"<team>":                "team-b",
		"<project>":             "ambient-sessions",
		"<app>":                 "ghes",
		"<APPROLE_ACCESSOR>":    auths["approle/"].Accessor,
		"<KUBERNETES_ACCESSOR>": auths["kubernetes/"].Accessor,
	}

	// The README's table: file -> placeholders.
	documented := map[string][]string{}
	readme := readExample(t, "policies", "README.md")
	for _, l := range strings.Split(readme, "\n") {
		cols := strings.Split(l, "|")
		if len(cols) < 4 || !strings.Contains(cols[1], ".hcl`") {
			continue
		}
		ph := placeholderRE.FindAllString(cols[len(cols)-2], -1)
		slices.Sort(ph)
		for _, f := range regexp.MustCompile("`([^`]+\\.hcl)`").FindAllStringSubmatch(cols[1], -1) {
			documented[f[1]] = ph
		}
	}

	files, err := filepath.Glob(examplePath("policies", "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no policies: %v", err)
	}
	tmp := t.TempDir()
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			text := readExample(t, "policies", name)
			// vault policy fmt rewrites the file in place.
			cp := filepath.Join(tmp, name)
			if err := os.WriteFile(cp, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := v.cli(nil, "policy", "fmt", cp); err != nil {
				t.Fatalf("vault policy fmt: %v: %s", err, out)
			}
			if formatted, _ := os.ReadFile(cp); string(formatted) != text {
				t.Errorf("vault policy fmt changes %s:\n%s", name, formatted)
			}

			want, ok := documented[name]
			if !ok {
				t.Errorf("the README's table does not list %s", name)
			}
			if got := placeholders(text); !slices.Equal(got, want) {
				t.Errorf("placeholders %v, the README lists %v", got, want)
			}
			subst := map[string]string{}
			for _, p := range placeholders(text) {
				subst[p] = values[p]
			}
			policy := substitute(t, name, text, subst)
			polName := "example-" + strings.TrimSuffix(name, ".hcl")
			if _, err := v.Client.Logical().Write("sys/policies/acl/"+polName, map[string]any{"policy": policy}); err != nil {
				t.Fatalf("Vault refuses %s: %v", name, err)
			}
			s, err := v.Client.Logical().Read("sys/policies/acl/" + polName)
			if err != nil || s == nil || s.Data["policy"] != policy {
				t.Errorf("reading %s back: %v", polName, err)
			}
		})
	}
	for name := range documented {
		if _, err := os.Stat(examplePath("policies", name)); err != nil {
			t.Errorf("the README lists %s: %v", name, err)
		}
	}

	// The README's commands, as written, from the repository root (as the
	// README says).
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(readme)
	if block == nil {
		t.Fatal("no sh block in examples/policies/README.md")
	}
	out, errOut, err := runBounded(t, repoRoot, vaultEnv(v, v.RootToken), "", 60*time.Second, "bash", "-euo", "pipefail", "-c", block[1])
	if err != nil {
		t.Fatalf("the README's commands: %v\n%s%s", err, out, errOut)
	}
	for name, want := range map[string]string{
		"team-b":                 `path "github/token/team-b_*"`,
		"team-b-admin":           `"bound" = ["team-b"]`,
		"platform-backend":       `path "github/roles/session_ambient-sessions_*"`,
		"github-session-approle": "identity.entity.aliases." + auths["approle/"].Accessor + ".metadata.role_name",
	} {
		got, err := v.Client.Sys().GetPolicy(name)
		if err != nil || !strings.Contains(got, want) {
			t.Errorf("policy %s after the README's commands lacks %q (%v)", name, want, err)
		}
	}

	// The runner README's table lists every file of examples/runner.
	runnerReadme := readExample(t, "runner", "README.md")
	err = filepath.WalkDir(examplePath("runner"), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() == "README.md" {
			return err
		}
		rel, _ := filepath.Rel(examplePath("runner"), path)
		if !strings.Contains(runnerReadme, "| `"+rel+"` |") {
			t.Errorf("examples/runner/README.md's table does not list %s", rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// writeSessionBound writes the project bound that session-start.sh's roles
// lie in, as platform-backend.hcl's header tells the operator to.
func writeSessionBound(t testing.TB, v *vaultServer) {
	t.Helper()
	if _, err := v.Client.Logical().Write("github/bounds/ambient-sessions", map[string]any{
		"owner": "acme", "repositories": "*", "max_permissions": "contents=write,pull_requests=write,metadata=read",
		"branches": "ambient/*/*",
	}); err != nil {
		t.Fatalf("writing the project bound: %v", err)
	}
}
