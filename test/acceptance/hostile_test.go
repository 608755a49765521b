//go:build acceptance

package acceptance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
	"github.com/hashicorp/vault/api"
)

// Vault's default listener limits (Vault 1.21): max_request_size, and the
// JSON limits its HTTP layer checks before a request reaches any engine —
// longer strings or arrays are answered with a 500 by Vault itself.
const (
	vaultMaxRequestSize = 32 << 20
	vaultMaxJSONString  = 1 << 20
	vaultMaxJSONArray   = 10_000
)

// rawStorage reads a mount's storage through sys/raw (the server needs
// raw_storage_endpoint = true).
type rawStorage struct {
	c      *api.Client
	prefix string // "logical/<mount uuid>/"
}

// mountStorage finds where the mount at path keeps its storage: under
// logical/<uuid>/ in Vault's barrier.
func mountStorage(t testing.TB, v *vaultServer, path string) rawStorage {
	t.Helper()
	m, err := v.Client.Sys().GetMount(path)
	if err != nil {
		t.Fatalf("reading mount %s: %v", path, err)
	}
	if m.UUID == "" {
		t.Fatalf("mount %s has no uuid", path)
	}
	return rawStorage{c: v.Client, prefix: "logical/" + m.UUID + "/"}
}

// snapshot lists the mount's storage recursively and reads every entry:
// key -> value. Values hold the private key: never print them.
func (r rawStorage) snapshot(t testing.TB) map[string]string {
	t.Helper()
	const maxKeys = 10_000
	out := map[string]string{}
	dirs := []string{""}
	for len(dirs) > 0 {
		dir := dirs[0]
		dirs = dirs[1:]
		s, err := r.c.Logical().List("sys/raw/" + r.prefix + dir)
		if err != nil {
			t.Fatalf("listing raw storage %s%s: %v", r.prefix, dir, err)
		}
		if s == nil {
			continue
		}
		keys, _ := s.Data["keys"].([]any)
		for _, k := range keys {
			key := dir + k.(string)
			if strings.HasSuffix(key, "/") {
				dirs = append(dirs, key)
				continue
			}
			e, err := r.c.Logical().Read("sys/raw/" + r.prefix + key)
			if err != nil || e == nil {
				t.Fatalf("reading raw storage %s%s: %v", r.prefix, key, err)
			}
			out[key], _ = e.Data["value"].(string)
			if len(out) > maxKeys {
				t.Fatalf("more than %d storage entries under %s", maxKeys, r.prefix)
			}
		}
	}
	return out
}

// diffSnapshots describes how two snapshots differ by key and value hash.
func diffSnapshots(before, after map[string]string) string {
	var d []string
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			d = append(d, "deleted "+k)
		case a != b:
			d = append(d, fmt.Sprintf("changed %s (sha256 %x -> %x)", k, sha256.Sum256([]byte(b)), sha256.Sum256([]byte(a))))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	slices.Sort(d)
	return strings.Join(d, "; ")
}

// answer is what Vault said to a request.
type answer struct {
	status int
	text   string // the errors, joined
}

// vaultAnswer turns an api client result into an answer.
func vaultAnswer(s *api.Secret, err error) answer {
	if err == nil {
		if s == nil {
			return answer{status: http.StatusNoContent}
		}
		return answer{status: http.StatusOK}
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		return answer{status: re.StatusCode, text: strings.Join(re.Errors, "; ")}
	}
	return answer{text: err.Error()}
}

// rawRequest sends body as is, for what the api client cannot send.
func rawRequest(t testing.TB, v *vaultServer, token, method, path, contentType string, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(method, v.Addr+"/v1/"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{text: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{status: resp.StatusCode, text: err.Error()}
	}
	var parsed struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(data, &parsed) == nil && len(parsed.Errors) > 0 {
		return answer{status: resp.StatusCode, text: strings.Join(parsed.Errors, "; ")}
	}
	return answer{status: resp.StatusCode, text: string(data)}
}

// newHugeJSON is a JSON object of at least size bytes that stays within
// Vault's JSON limits: {"private_key":"AAA…","pad_1":"AAA…",…} with
// strings shorter than maxString. Only max_request_size can refuse it.
func newHugeJSON(size, maxString int) io.Reader {
	value := strings.Repeat("A", maxString-1)
	var parts []io.Reader
	n := 0
	for i := 0; n < size; i++ {
		key, sep := "private_key", "{"
		if i > 0 {
			key, sep = fmt.Sprintf("pad_%d", i), ","
		}
		head := fmt.Sprintf("%s%q:\"", sep, key)
		parts = append(parts, strings.NewReader(head), strings.NewReader(value), strings.NewReader(`"`))
		n += len(head) + len(value) + 1
	}
	return io.MultiReader(append(parts, strings.NewReader("}"))...)
}

// TestHostileInputThroughVault sends malformed and hostile input to the
// engine through a real Vault's HTTP API. Each case gets its status (400;
// 403 where it is a matter of permission, from the engine or from Vault's
// ACLs; 413 for a body over Vault's max_request_size, which Vault refuses
// before the engine sees it), an error that names the field, and leaves the
// mount's storage — every key and value, read through sys/raw — unchanged.
// Nothing is minted, and bad config input never reaches GitHub.
func TestHostileInputThroughVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{ExtraConfig: "raw_storage_endpoint = true\n"})
	v.enableEngine(t, "github")
	v.configureEngine(t, "github", d, nil)
	v.writeRole(t, "github", "web", map[string]any{"owner": "acme", "repositories": "widgets,gadgets", "permissions": "contents=read,pull_requests=write"})
	v.writeRole(t, "github", "ids", map[string]any{"owner": "acme", "repository_ids": []any{githubtest.FirstRepositoryID}})
	v.writeRole(t, "github", "team-a_web", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read"})
	store := mountStorage(t, v, "github")
	if snap := store.snapshot(t); len(snap) != 4 {
		t.Fatalf("storage under %s has %d entries, want config and 3 roles: %v", store.prefix, len(snap), slices.Sorted(maps.Keys(snap)))
	}

	root := v.newClient(t, v.RootToken)
	root.SetMaxRetries(0) // a 5xx must show, not be retried away
	teamA := v.tokenWithPolicy(t, "team-a", teamAPolicy)
	teamA.SetMaxRetries(0)

	goodKey := string(d.KeyPEM())
	keys := acceptanceHostileKeys(t, goodKey)
	config := func(field string, value any) map[string]any {
		data := map[string]any{"app_id": d.AppID, "private_key": goodKey, "base_url": d.URL}
		data[field] = value
		return data
	}
	role := func(extra map[string]any) map[string]any {
		data := map[string]any{"owner": "acme"}
		for k, val := range extra {
			if val == nil {
				delete(data, k)
			} else {
				data[k] = val
			}
		}
		return data
	}
	list := func(n int, format string) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf(format, i)
		}
		return out
	}
	manyPerms := map[string]any{}
	for i := range 10_000 {
		manyPerms[fmt.Sprintf("perm_%d", i)] = "read"
	}
	write := func(c *api.Client, path string, data map[string]any) func() answer {
		return func() answer { return vaultAnswer(c.Logical().Write("github/"+path, data)) }
	}
	read := func(c *api.Client, path string) func() answer {
		return func() answer { return vaultAnswer(c.Logical().Read("github/" + path)) }
	}
	del := func(c *api.Client, path string) func() answer {
		return func() answer { return vaultAnswer(c.Logical().Delete("github/" + path)) }
	}
	raw := func(method, path, contentType, body string) func() answer {
		return func() answer {
			return rawRequest(t, v, v.RootToken, method, "github/"+path, contentType, strings.NewReader(body))
		}
	}

	const (
		bad       = http.StatusBadRequest
		forbidden = http.StatusForbidden
	)
	type hostileCase struct {
		name   string
		do     func() answer
		status int
		words  []string // each must be in the error
		github bool     // the engine may ask GitHub before refusing
	}
	cases := []hostileCase{
		// Keys.
		{"config key not PEM", write(root, "config", config("private_key", "hello, I am a key")), bad, []string{"private_key"}, false},
		{"config key EC", write(root, "config", config("private_key", keys.ec)), bad, []string{"private_key", "ECDSA"}, false},
		{"config key RSA 1024-bit", write(root, "config", config("private_key", keys.rsa1024)), bad, []string{"private_key", "1024-bit"}, false},
		{"config key encrypted PEM", write(root, "config", config("private_key", keys.encrypted)), bad, []string{"private_key", "encrypted"}, false},
		{"config key encrypted PKCS8", write(root, "config", config("private_key", keys.encryptedPKCS8)), bad, []string{"private_key", "encrypted"}, false},
		{"config key trailing garbage", write(root, "config", config("private_key", goodKey+"trailing garbage\n")), bad, []string{"private_key", "after the PEM block"}, false},
		{"config key public key PEM", write(root, "config", config("private_key", keys.public)), bad, []string{"private_key"}, false},
		{"config key empty", write(root, "config", config("private_key", "")), bad, []string{"private_key"}, false},
		{"config key of 1 MiB (Vault's JSON string limit)", write(root, "config", config("private_key", strings.Repeat("A", vaultMaxJSONString))), bad, []string{"private_key"}, false},
		{"config key of 10 MiB (Vault refuses it: 500)", write(root, "config", config("private_key", strings.Repeat("A", 10<<20))), http.StatusInternalServerError, []string{"JSON string value exceeds allowed length"}, false},
		// app_id.
		{"config app_id 0", write(root, "config", config("app_id", 0)), bad, []string{"app_id"}, false},
		{"config app_id negative", write(root, "config", config("app_id", -7)), bad, []string{"app_id"}, false},
		{"config app_id not numeric", write(root, "config", config("app_id", "one")), bad, []string{"app_id"}, false},
		{"config app_id a JSON object", write(root, "config", config("app_id", map[string]any{"id": 1})), bad, []string{"app_id"}, false},
		{"config client_id path chars", write(root, "config", config("client_id", "Iv1/../x")), bad, []string{"client_id"}, false},
		// base_url.
		{"config base_url http", write(root, "config", config("base_url", "http://github.example.com/api/v3")), bad, []string{"base_url", "https"}, false},
		{"config base_url query", write(root, "config", config("base_url", "https://ghe.example.com/api/v3?x=1")), bad, []string{"base_url", "query"}, false},
		{"config base_url fragment", write(root, "config", config("base_url", "https://ghe.example.com/api/v3#x")), bad, []string{"base_url"}, false},
		{"config base_url credentials", write(root, "config", config("base_url", "https://u:p@ghe.example.com/api/v3")), bad, []string{"base_url"}, false},
		{"config expiry_buffer 1h", write(root, "config", config("expiry_buffer", "1h")), bad, []string{"expiry_buffer"}, false},
		// Bodies the api client would not send.
		{"config body not JSON", raw(http.MethodPut, "config", "application/json", "app_id=1&private_key=x"), bad, []string{"JSON"}, false},
		{"config body truncated JSON (Vault refuses it: 500)", raw(http.MethodPut, "config", "application/json", `{"app_id": 1, "private_key": "`), http.StatusInternalServerError, []string{"malformed JSON"}, false},
		{"config body a JSON array", raw(http.MethodPut, "config", "application/json", `[{"app_id": 1}]`), bad, []string{"JSON"}, false},
		{"config body wrong JSON types", raw(http.MethodPut, "config", "application/json", `{"app_id": [1], "private_key": 7}`), bad, []string{"app_id"}, false},
		{"role body wrong JSON types", raw(http.MethodPut, "roles/new", "application/json", `{"owner": "acme", "ttl": {"h": 1}}`), bad, []string{"ttl"}, false},
		{"config body over max_request_size (413 from Vault)", func() answer {
			return rawRequest(t, v, v.RootToken, http.MethodPut, "github/config", "application/json", newHugeJSON(vaultMaxRequestSize+1<<20, vaultMaxJSONString))
		}, http.StatusRequestEntityTooLarge, []string{"too large"}, false},

		// Installation selectors.
		{"role two selectors", write(root, "roles/new", role(map[string]any{"installation_id": githubtest.FirstInstallationID})), bad, []string{"installation_id, owner"}, false},
		{"role no selector", write(root, "roles/new", role(map[string]any{"owner": nil, "repositories": "widgets"})), bad, []string{"installation_id, owner, repository"}, false},
		{"role installation_id 0", write(root, "roles/new", role(map[string]any{"owner": nil, "installation_id": 0})), bad, []string{"installation_id"}, false},
		{"role installation_id text", write(root, "roles/new", role(map[string]any{"owner": nil, "installation_id": "acme"})), bad, []string{"installation_id"}, false},
		{"role owner with slash", write(root, "roles/new", role(map[string]any{"owner": "acme/widgets"})), bad, []string{"owner"}, false},
		{"role repository without owner", write(root, "roles/new", role(map[string]any{"owner": nil, "repository": "widgets"})), bad, []string{"repository"}, false},
		// Repositories.
		{"role 501 repositories", write(root, "roles/new", role(map[string]any{"repositories": list(501, "repo-%d")})), bad, []string{"repositories", "501"}, false},
		{"role 10,000 repositories (Vault's JSON array limit)", write(root, "roles/new", role(map[string]any{"repositories": list(vaultMaxJSONArray, "repo-%d")})), bad, []string{"repositories", "10000"}, false},
		{"role 100,000 repositories (Vault refuses it: 500)", write(root, "roles/new", role(map[string]any{"repositories": list(100_000, "repo-%d")})), http.StatusInternalServerError, []string{"JSON array exceeds allowed element count"}, false},
		{"role repository of another owner", write(root, "roles/new", role(map[string]any{"repositories": "evil/widgets"})), bad, []string{"repositories", "evil"}, false},
		{"role repository of another owner, installation_id", write(root, "roles/new", role(map[string]any{"owner": nil, "installation_id": githubtest.FirstInstallationID, "repositories": "evil/widgets"})), bad, []string{"repositories", "evil"}, true},
		{"role empty repository name", write(root, "roles/new", role(map[string]any{"repositories": "widgets,,tools"})), bad, []string{"repositories", "empty"}, false},
		{"role empty name in a list", write(root, "roles/new", role(map[string]any{"repositories": []any{"widgets", ""}})), bad, []string{"repositories"}, false},
		{"role repository 1 MB name", write(root, "roles/new", role(map[string]any{"repositories": strings.Repeat("r", 1<<20)})), bad, []string{"repositories"}, false},
		{"role repository_ids 0", write(root, "roles/new", role(map[string]any{"repository_ids": []any{0}})), bad, []string{"repository_ids"}, false},
		// Permissions.
		{"role malformed permission", write(root, "roles/new", role(map[string]any{"permissions": "content$=read"})), bad, []string{"permissions", "content$"}, false},
		{"role unknown level", write(root, "roles/new", role(map[string]any{"permissions": "contents=owner"})), bad, []string{"permissions", "owner"}, false},
		{"role permission level a number", write(root, "roles/new", role(map[string]any{"permissions": map[string]any{"contents": 3}})), bad, []string{"permissions"}, false},
		{"role 10,000 permissions", write(root, "roles/new", role(map[string]any{"permissions": manyPerms})), bad, []string{"permissions"}, false},
		// ttl.
		{"role ttl over 1h", write(root, "roles/new", role(map[string]any{"ttl": "2h"})), bad, []string{"ttl"}, false},
		{"role ttl negative", write(root, "roles/new", role(map[string]any{"ttl": -5})), bad, []string{"ttl"}, false},
		{"role update ttl 61m", write(root, "roles/web", map[string]any{"ttl": "61m"}), bad, []string{"ttl"}, false},
		// Role names.
		{"role name with a dot", write(root, "roles/a.b", role(nil)), bad, []string{"name"}, false},
		{"role name with a slash", write(root, "roles/team-a/x", role(nil)), bad, []string{"name"}, false},
		{"role name leading dash", write(root, "roles/-a", role(nil)), bad, []string{"name"}, false},
		{"role name 129 chars", write(root, "roles/"+strings.Repeat("a", 129), role(nil)), bad, []string{"name"}, false},
		{"role delete name with a dot", del(root, "roles/web.bak"), bad, []string{"name"}, false},
		{"token for a name with a dot", read(root, "token/web.x"), bad, []string{"name"}, false},
		{"token for a role that is absent", read(root, "token/nope"), bad, []string{`role "nope"`}, false},

		// Narrowing beyond the role: 403 naming what was asked.
		{"narrow to a repository not in the role", write(root, "token/web", map[string]any{"repositories": "tools"}), forbidden, []string{"permission denied", `repository "tools"`}, false},
		{"narrow to a repository id not in the role", write(root, "token/ids", map[string]any{"repository_ids": []any{githubtest.FirstRepositoryID + 1}}), forbidden, []string{"permission denied", fmt.Sprintf("repository id %d", githubtest.FirstRepositoryID+1)}, false},
		{"narrow to a permission not in the role", write(root, "token/web", map[string]any{"permissions": "issues=read"}), forbidden, []string{"permission denied", `permission "issues"`}, false},
		{"narrow to a higher level", write(root, "token/web", map[string]any{"permissions": "contents=write"}), forbidden, []string{"permission denied", "contents=write"}, false},
		{"narrow to another owner's repository", write(root, "token/web", map[string]any{"repositories": "evil/widgets"}), forbidden, []string{"permission denied", "repositories", `owner "evil"`}, false},
		{"narrow with a permission not in the role", write(root, "token/web", map[string]any{"permissions": "bogus=read"}), forbidden, []string{"permission denied", "bogus"}, false},
		{"narrow to 10,000 repositories", write(root, "token/web", map[string]any{"repositories": list(vaultMaxJSONArray, "repo-%d")}), bad, []string{"repositories"}, false},

		// Ad-hoc tokens.
		{"ad-hoc no selector", write(root, "token", map[string]any{"repositories": "widgets"}), bad, []string{"installation_id, owner, repository"}, false},
		{"ad-hoc 501 repositories", write(root, "token", role(map[string]any{"repositories": list(501, "repo-%d")})), bad, []string{"repositories"}, false},
		{"ad-hoc ttl over 1h", write(root, "token", role(map[string]any{"ttl": 3601})), bad, []string{"ttl"}, false},

		// Vault's ACLs: a team token whose policy allows only
		// token/team-a_* (the team policy of policies_test.go).
		{"team policy: write roles/team-a_web (ACL 403)", write(teamA, "roles/team-a_web", map[string]any{"permissions": "contents=admin"}), forbidden, []string{"permission denied"}, false},
		{"team policy: read token/web (ACL 403)", read(teamA, "token/web"), forbidden, []string{"permission denied"}, false},
		{"team policy: write config (ACL 403)", write(teamA, "config", config("app_id", 1)), forbidden, []string{"permission denied"}, false},
		{"team policy: ad-hoc token (ACL 403)", write(teamA, "token", map[string]any{"owner": "acme"}), forbidden, []string{"permission denied"}, false},
		{"team policy: narrow own role beyond it (engine 403)", write(teamA, "token/team-a_web", map[string]any{"repositories": "gadgets"}), forbidden, []string{"permission denied", `repository "gadgets"`}, false},
	}
	if len(cases) < 40 {
		t.Fatalf("%d cases, want at least 40", len(cases))
	}

	keyLines := strings.Split(strings.TrimSpace(goodKey), "\n")
	keyLines = keyLines[1 : len(keyLines)-1]
	statuses := map[int]int{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := store.snapshot(t)
			tokens := len(d.Tokens())
			d.ResetCalls()

			got := tc.do()
			statuses[got.status]++
			if got.status != tc.status {
				t.Errorf("HTTP %d, want %d: %s", got.status, tc.status, clipText(got.text))
			}
			for _, w := range tc.words {
				if !strings.Contains(got.text, w) {
					t.Errorf("error does not name %q: %s", w, clipText(got.text))
				}
			}
			for _, line := range keyLines {
				if strings.Contains(got.text, line) {
					t.Fatal("the error carries private key material")
				}
			}
			if after := store.snapshot(t); !maps.Equal(before, after) {
				t.Errorf("storage changed: %s", diffSnapshots(before, after))
			}
			if n := len(d.Tokens()); n != tokens {
				t.Errorf("%d tokens minted by a refused request", n-tokens)
			}
			if calls := d.Calls(); !tc.github && len(calls) != 0 {
				t.Errorf("refused input reached GitHub: %+v", calls)
			}
		})
	}
	t.Logf("%d hostile cases through Vault's HTTP API; statuses seen: %v", len(cases), statuses)

	// The mount still works: nothing above broke it.
	if m := mint(t, root, "github/token/web"); len(m.Data.Repositories) != 2 {
		t.Errorf("after the hostile cases, token/web covers %v", m.Data.Repositories)
	}
}

type acceptanceKeys struct{ ec, rsa1024, encrypted, encryptedPKCS8, public string }

func acceptanceHostileKeys(t testing.TB, good string) acceptanceKeys {
	t.Helper()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&small.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(good))
	enc := func(b *pem.Block) string { return string(pem.EncodeToMemory(b)) }
	return acceptanceKeys{
		ec:             enc(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		rsa1024:        enc(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}),
		encrypted:      enc(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"}, Bytes: block.Bytes}),
		encryptedPKCS8: enc(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: block.Bytes}),
		public:         enc(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
	}
}

func clipText(s string) string {
	if len(s) > 300 {
		return fmt.Sprintf("%s…[%d bytes]", s[:300], len(s))
	}
	return s
}
