package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// TestSecretsNeverLogged runs every flow, including failing GitHub calls,
// with trace logging, and asserts that no private key, token or App JWT
// appears in the backend's logs or in any error it returned.
func TestSecretsNeverLogged(t *testing.T) {
	e := newTestBackend(t)
	var errs []string
	record := func(resp *logical.Response, err error) *logical.Response {
		if err != nil {
			errs = append(errs, err.Error())
		}
		if resp != nil && resp.IsError() {
			errs = append(errs, resp.Error().Error())
		}
		return resp
	}
	_, otherKey := rsaKeyPEM(t, 2048)
	record(e.req(logical.UpdateOperation, "config", map[string]any{"app_id": e.gh.AppID, "private_key": otherKey, "base_url": e.gh.URL}))
	record(e.req(logical.UpdateOperation, "config", map[string]any{"app_id": e.gh.AppID, "private_key": otherKey + "junk", "base_url": e.gh.URL}))
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme", "repositories": "widgets,gadgets"})
	e.writeRole("bad", map[string]any{"installation_id": e.acme.ID, "repositories": "missing"})

	var secrets []*logical.Secret
	var tokens []string
	mint := func(op logical.Operation, path string, data map[string]any) {
		resp := record(e.req(op, path, data))
		if resp != nil && resp.Secret != nil {
			secrets = append(secrets, resp.Secret)
			tokens = append(tokens, resp.Data["token"].(string))
		}
	}
	mint(logical.ReadOperation, "token/r", nil)
	mint(logical.UpdateOperation, "token/r", map[string]any{"repositories": "widgets"})
	mint(logical.UpdateOperation, "token/r", map[string]any{"repositories": "tools"}) // denied
	mint(logical.ReadOperation, "token/bad", nil)                                     // GitHub 422
	mint(logical.UpdateOperation, "token", map[string]any{"installation_id": e.acme.ID})
	e.gh.FailNext(10, 503)
	mint(logical.ReadOperation, "token/r", nil) // 5xx until retries give up
	e.gh.ResetFaults()
	e.gh.RateLimitNext(1, 429, time.Hour)
	mint(logical.ReadOperation, "token/r", nil)
	e.gh.ResetFaults()
	record(e.req(logical.ReadOperation, "installations", nil))

	e.gh.SetRevokeStatus(500)
	for _, s := range secrets {
		record(revoke(e, s))
	}
	e.gh.SetRevokeStatus(0)
	for _, s := range secrets {
		record(revoke(e, s))
	}
	if len(tokens) < 3 || len(errs) < 6 {
		t.Fatalf("flows did not run: %d tokens, %d errors", len(tokens), len(errs))
	}

	logs := e.logs.String()
	if !strings.Contains(logs, "revok") || !strings.Contains(logs, "GitHub") {
		t.Fatalf("expected trace logs of revoking and of GitHub's failures, got:\n%s", logs)
	}
	needles := map[string]string{}
	for _, tok := range tokens {
		needles["token "+tok[:8]] = tok
	}
	for i, j := range e.gh.JWTsSeen() {
		needles["App JWT "+string(rune('0'+i))] = j
		// A JWT's signature part alone would also leak it.
		needles["App JWT signature"] = j[strings.LastIndex(j, ".")+1:]
	}
	for name, pemText := range map[string]string{"App key": string(e.gh.KeyPEM()), "rejected key": otherKey} {
		body := strings.Split(pemText, "\n")[1] // first base64 line of the key
		needles[name] = body
	}
	haystacks := append([]string{logs}, errs...)
	for name, needle := range needles {
		for _, h := range haystacks {
			if strings.Contains(h, needle) {
				t.Fatalf("%s appears in logs or errors", name)
			}
		}
	}
}
