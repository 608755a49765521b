//go:build acceptance

package acceptance

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAPITour sends one request to every path of the engine through Vault's
// HTTP API and logs each request and response (tokens and keys redacted),
// asserting the status of each. `go test -tags acceptance -run TestAPITour -v`
// prints the tour.
func TestAPITour(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{})
	v.enableEngine(t, "github")

	var secrets []string
	redact := func(s string) string {
		for _, sec := range secrets {
			if sec != "" {
				s = strings.ReplaceAll(s, sec, "<redacted>")
			}
		}
		return s
	}
	keyPEM := string(d.KeyPEM())
	secrets = append(secrets, keyPEM, strings.ReplaceAll(strings.TrimSpace(keyPEM), "\n", `\n`))

	call := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		var reqBody []byte
		if body != nil {
			reqBody, _ = json.Marshal(body)
		}
		req, err := http.NewRequest(method, v.Addr+"/v1/"+path, bytes.NewReader(reqBody))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Vault-Token", v.RootToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		if data, ok := out["data"].(map[string]any); ok {
			if tok, ok := data["token"].(string); ok {
				secrets = append(secrets, tok)
			}
		}
		var pretty bytes.Buffer
		if len(raw) > 0 && json.Indent(&pretty, raw, "  ", "  ") != nil {
			pretty.Reset()
			pretty.Write(raw)
		}
		t.Logf("\n%s /v1/%s %s\n→ %d\n  %s", method, path, redact(string(reqBody)), resp.StatusCode, redact(pretty.String()))
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d", method, path, resp.StatusCode, want)
		}
		return out
	}

	call("POST", "github/config", map[string]any{"app_id": d.AppID, "private_key": keyPEM, "base_url": d.URL, "expiry_buffer": "5m"}, 204)
	call("GET", "github/config", nil, 200)
	call("POST", "github/roles/team-a-web", map[string]any{"owner": "acme", "repositories": []string{"widgets", "gadgets"}, "permissions": map[string]string{"contents": "write", "pull_requests": "write"}}, 204)
	call("GET", "github/roles/team-a-web", nil, 200)
	call("LIST", "github/roles", nil, 200)
	minted := call("GET", "github/token/team-a-web", nil, 200)
	call("POST", "github/token/team-a-web", map[string]any{"repositories": []string{"widgets"}, "permissions": map[string]string{"contents": "read"}}, 200)
	call("POST", "github/token/team-a-web", map[string]any{"repositories": []string{"tools"}}, 403)
	call("POST", "github/token", map[string]any{"repository": "acme/tools", "permissions": map[string]string{"contents": "read"}}, 200)
	call("GET", "github/installations", nil, 200)
	call("GET", "github/info", nil, 200)

	// A second App: a GitHub Enterprise Server-like double (under /api/v3,
	// TLS from a CA made for the test, trusted only through ca_certificate).
	ghes, ca, corp := ghesDouble(t)
	ghesKey := string(ghes.KeyPEM())
	secrets = append(secrets, ghesKey, strings.ReplaceAll(strings.TrimSpace(ghesKey), "\n", `\n`))
	call("POST", "github/apps/ghes", map[string]any{"app_id": ghes.AppID, "private_key": ghesKey, "base_url": ghes.URL, "ca_certificate": string(ca.CertPEM)}, 204)
	call("GET", "github/apps/ghes", nil, 200)
	call("LIST", "github/apps", nil, 200)
	call("GET", "github/apps/default", nil, 200)
	call("POST", "github/roles/corp_infra", map[string]any{"app": "ghes", "owner": "corp", "repositories": []string{"infra"}, "permissions": map[string]string{"contents": "read"}, "check": true}, 200)
	call("POST", "github/roles/corp_typo", map[string]any{"app": "ghes", "owner": "corp", "repositories": []string{"infar"}, "check": true}, 400)
	call("GET", "github/roles/corp_infra/check", nil, 200)
	call("POST", "github/roles/corp_admin", map[string]any{"app": "ghes", "installation_id": corp.ID, "permissions": map[string]string{"administration": "write"}}, 204)
	call("GET", "github/roles/corp_admin/check", nil, 400)
	ghesLease := call("GET", "github/token/corp_infra", nil, 200)
	call("GET", "github/roles/corp_infra", nil, 200)
	call("GET", "github/installations?app=ghes", nil, 200)
	call("POST", "github/token", map[string]any{"app": "ghes", "repository": "corp/platform", "permissions": map[string]string{"contents": "read"}}, 200)
	call("POST", "github/bounds/corp", map[string]any{"app": "ghes", "owner": "corp", "repositories": []string{"infra", "platform"}, "max_permissions": map[string]string{"contents": "read", "metadata": "read"}}, 204)
	call("POST", "github/roles/corp_bounded", map[string]any{"bound": "corp", "repositories": []string{"platform"}}, 204)
	call("GET", "github/roles/corp_bounded/check?bound=corp&app=ghes", nil, 200)
	call("DELETE", "github/apps/ghes", nil, 400)
	call("GET", "github/metrics", nil, 200)
	call("GET", "github/metrics?format=prometheus", nil, 200)
	call("DELETE", "github/roles/corp_infra", nil, 204)
	call("DELETE", "github/roles/corp_admin", nil, 204)
	call("DELETE", "github/roles/corp_bounded", nil, 204)
	call("DELETE", "github/bounds/corp", nil, 204)
	call("DELETE", "github/apps/ghes", nil, 204)
	call("PUT", "sys/leases/revoke", map[string]any{"lease_id": ghesLease["lease_id"]}, 204)

	call("PUT", "sys/leases/revoke", map[string]any{"lease_id": minted["lease_id"]}, 204)
	call("DELETE", "github/roles/team-a-web", nil, 204)
	call("POST", "github/roles/bad.name", map[string]any{"owner": "acme"}, 400)
	call("DELETE", "github/config", nil, 204)
}
