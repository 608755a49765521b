//go:build acceptance

package acceptance

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestSecretHygieneThroughVault runs every flow of the engine in a real
// Vault at trace log level with a file audit device: config writes (a
// rejected key and a good one), role writes, minting, narrowing, a refused
// narrowing, an ad-hoc token, installations, GitHub failing (503), rate
// limiting (429) and refusing (422), a lease revoke that fails at GitHub
// and is retried by Vault, revoke -prefix and config delete. It then
// asserts that the private keys, every token and every App JWT appear
// nowhere in Vault's log (which holds the plugin's log), the audit log or
// any error string; that the audit log carries the engine's token and the
// config's private_key as HMACs; and that no token travelled in a URL to
// GitHub.
func TestSecretHygieneThroughVault(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	v := startVault(t, vaultOptions{LogLevel: "trace"})
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	if err := v.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{
		Type:    "file",
		Options: map[string]string{"file_path": auditPath},
	}); err != nil {
		t.Fatalf("enabling the file audit device: %v", err)
	}
	v.enableEngine(t, "github")
	c := v.newClient(t, v.RootToken)
	c.SetMaxRetries(0)

	var (
		tokens   []string // every token a client saw
		leaseIDs []string
		errs     []string // every error string a client saw
	)
	failing := func(what string, _ *api.Secret, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s succeeded, want an error", what)
			return
		}
		errs = append(errs, err.Error())
	}
	minted := func(what string, m mintedToken, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		tokens = append(tokens, m.Data.Token)
		leaseIDs = append(leaseIDs, m.LeaseID)
	}
	cliFailing := func(what string, args ...string) {
		t.Helper()
		out, err := v.cli(nil, args...)
		if err == nil {
			t.Errorf("vault %s succeeded, want an error", what)
		}
		errs = append(errs, out)
	}

	// Config: a key GitHub does not know (401), a key with junk after it
	// (refused before GitHub), then the App's key.
	rejected, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rejectedPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rejected)}))
	s, err := c.Logical().Write("github/config", map[string]any{"app_id": d.AppID, "private_key": rejectedPEM, "base_url": d.URL})
	failing("config with a key GitHub rejects", s, err)
	s, err = c.Logical().Write("github/config", map[string]any{"app_id": d.AppID, "private_key": rejectedPEM + "junk", "base_url": d.URL})
	failing("config with junk after the key", s, err)
	v.configureEngine(t, "github", d, nil)

	v.writeRole(t, "github", "r", map[string]any{"owner": "acme", "repositories": "widgets,gadgets"})
	v.writeRole(t, "github", "bad", map[string]any{"installation_id": githubtest.FirstInstallationID, "repositories": "missing"})

	// Minting: read, narrow, ad-hoc, and one through the CLI.
	m, err := tryMint(c, "github/token/r", nil)
	minted("read token/r", m, err)
	m, err = tryMint(c, "github/token/r", map[string]any{"repositories": "widgets"})
	minted("narrow token/r", m, err)
	m, err = tryMint(c, "github/token", map[string]any{"installation_id": githubtest.FirstInstallationID, "permissions": "contents=read"})
	minted("ad-hoc token", m, err)
	out, err := v.cli(nil, "read", "-format=json", "github/token/r")
	if err != nil {
		t.Fatalf("vault read github/token/r failed") // the output holds a token: not printed
	}
	var cliSecret struct {
		LeaseID string         `json:"lease_id"`
		Data    map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &cliSecret); err != nil {
		t.Fatalf("parsing vault read output: %v", err)
	}
	cliToken, _ := cliSecret.Data["token"].(string)
	if cliToken == "" {
		t.Fatal("vault read github/token/r gave no token")
	}
	tokens, leaseIDs = append(tokens, cliToken), append(leaseIDs, cliSecret.LeaseID)

	// Refusals and failures.
	s, err = c.Logical().Write("github/token/r", map[string]any{"repositories": "tools"})
	failing("narrowing beyond the role", s, err)
	cliFailing("narrowing beyond the role (CLI)", "write", "github/token/r", "repositories=widgets,tools")
	s, err = c.Logical().Read("github/installations")
	if err != nil || s == nil {
		t.Fatalf("reading installations: %v", err)
	}
	d.FailNext(10, http.StatusServiceUnavailable)
	s, err = c.Logical().Read("github/token/r")
	failing("minting while GitHub answers 503", s, err)
	d.ResetFaults()
	d.RateLimitNext(1, http.StatusTooManyRequests, time.Hour)
	s, err = c.Logical().Read("github/token/r")
	failing("minting while GitHub rate limits", s, err)
	if got := statusOf(err); got != http.StatusBadGateway {
		t.Errorf("rate limited mint: HTTP %d, want 502", got)
	}
	d.ResetFaults()
	s, err = c.Logical().Read("github/token/bad")
	failing("minting for a repository GitHub refuses (422)", s, err)
	if err != nil && !strings.Contains(err.Error(), "422") {
		t.Errorf("the 422 mint does not pass GitHub's refusal on: %v", err)
	}
	cliFailing("minting for a role that does not exist (CLI)", "read", "github/token/nope")

	// A revoke that fails at GitHub: Vault queues it, the engine's error
	// goes to Vault's log, and Vault retries until GitHub accepts.
	d.SetRevokeStatus(http.StatusInternalServerError)
	if out, err := v.cli(nil, "lease", "revoke", leaseIDs[0]); err != nil {
		t.Fatalf("vault lease revoke: %v: %s", err, out)
	}
	// Restore GitHub only once the engine has given up and Vault has
	// logged the failed attempt; its first retry comes 10-30s later.
	waitUntil(t, time.Now().Add(60*time.Second), 100*time.Millisecond, func() (bool, string) {
		return v.logContains("failed to revoke lease: lease_id=" + leaseIDs[0]), "Vault never logged the failed revocation"
	})
	failedDeletes := 0
	for _, call := range d.Calls() {
		if call.Method == http.MethodDelete && call.Status == http.StatusInternalServerError {
			failedDeletes++
		}
	}
	if failedDeletes == 0 {
		t.Fatal("the double never answered a revocation with 500")
	}
	d.SetRevokeStatus(0)
	waitRevoked(t, d, tokens[0], time.Now().Add(120*time.Second))
	waitUntil(t, time.Now().Add(30*time.Second), 200*time.Millisecond, func() (bool, string) {
		return !v.leaseExists(t, leaseIDs[0]), "the lease outlived its token's revocation"
	})

	if out, err := v.cli(nil, "lease", "revoke", "-prefix", "github/token/"); err != nil {
		t.Fatalf("vault lease revoke -prefix: %v: %s", err, out)
	}
	waitUntil(t, time.Now().Add(60*time.Second), 200*time.Millisecond, func() (bool, string) {
		n := len(d.LiveTokens())
		return n == 0, fmt.Sprintf("%d tokens live after revoke -prefix", n)
	})
	t.Logf("revocation: %d DELETEs answered 500, then Vault's retry revoked the token", failedDeletes)
	// The App cannot go while roles use it (the 400 names them); then it can.
	if _, err := c.Logical().Delete("github/config"); statusOf(err) != 400 || !strings.Contains(err.Error(), `role "r"`) {
		t.Fatalf("deleting config used by roles: %v", err)
	}
	for _, r := range []string{"r", "bad"} {
		if _, err := c.Logical().Delete("github/roles/" + r); err != nil {
			t.Fatalf("deleting role %s: %v", r, err)
		}
	}
	if _, err := c.Logical().Delete("github/config"); err != nil {
		t.Fatalf("deleting config: %v", err)
	}

	// What must never appear.
	needles := map[string]string{}
	for _, tok := range d.Tokens() {
		tokens = append(tokens, tok.Value)
	}
	for _, tok := range tokens {
		// The part after "ghs_": a token must not leak in any form.
		needles["token "+github.HashToken(tok)] = strings.TrimPrefix(tok, "ghs_")
	}
	jwts := d.JWTsSeen()
	for i, j := range jwts {
		needles[fmt.Sprintf("App JWT %d", i)] = j
		needles[fmt.Sprintf("App JWT %d signature", i)] = j[strings.LastIndex(j, ".")+1:]
	}
	for name, keyPEM := range map[string]string{"App key": string(d.KeyPEM()), "rejected key": rejectedPEM} {
		lines := strings.Split(strings.TrimSpace(keyPEM), "\n")
		for i, line := range lines[1 : len(lines)-1] {
			needles[fmt.Sprintf("%s line %d", name, i+1)] = line
		}
	}
	needles["a PEM private key header"] = "PRIVATE KEY-----"
	if len(tokens) < 8 || len(jwts) < 1 || len(errs) < 8 {
		t.Fatalf("the flows did not run: %d tokens, %d JWTs, %d error strings", len(tokens), len(jwts), len(errs))
	}

	vaultLog, err := os.ReadFile(v.logPath)
	if err != nil {
		t.Fatal(err)
	}
	auditLog, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"revok", "GitHub"} {
		if !bytes.Contains(vaultLog, []byte(want)) {
			t.Errorf("Vault's trace log has no %q: the plugin's log is not captured", want)
		}
	}
	haystacks := map[string]string{"Vault's log": string(vaultLog), "the audit log": string(auditLog)}
	for i, e := range errs {
		haystacks[fmt.Sprintf("error string %d", i)] = e
	}
	for hname, h := range haystacks {
		for nname, n := range needles {
			if strings.Contains(h, n) {
				t.Errorf("%s appears in %s", nname, hname)
			}
		}
	}

	// The audit device HMACs the engine's fields.
	checkAuditHMAC(t, auditLog)

	// No token or JWT in a URL the double saw.
	for _, call := range d.Calls() {
		for _, part := range []string{call.Path, call.Query} {
			if strings.Contains(part, "ghs_") || strings.Contains(part, "eyJ") {
				t.Errorf("a %s to GitHub carried a credential in its URL", call.Method)
			}
		}
	}
	t.Logf("checked %d needles (%d tokens, %d JWTs, key lines) against Vault's log (%d bytes), the audit log (%d bytes) and %d error strings",
		len(needles), len(tokens), len(jwts), len(vaultLog), len(auditLog), len(errs))
}

// auditEntry is the part of a file audit device line the test reads.
type auditEntry struct {
	Type    string `json:"type"`
	Request struct {
		Operation string         `json:"operation"`
		Path      string         `json:"path"`
		Data      map[string]any `json:"data"`
	} `json:"request"`
	Response struct {
		Data map[string]any `json:"data"`
	} `json:"response"`
}

// checkAuditHMAC asserts that the audit log holds the mint responses'
// token and the config writes' private_key only as HMACs.
func checkAuditHMAC(t *testing.T, auditLog []byte) {
	t.Helper()
	var mintResponses, configRequests int
	sc := bufio.NewScanner(bytes.NewReader(auditLog))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e auditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line is not JSON: %v", err)
		}
		if tok, ok := e.Response.Data["token"]; ok && e.Type == "response" && strings.HasPrefix(e.Request.Path, "github/token") {
			mintResponses++
			if s, _ := tok.(string); !strings.HasPrefix(s, "hmac-sha256:") {
				t.Errorf("audit response for %s: data.token is not an HMAC", e.Request.Path)
			}
			if s, _ := e.Response.Data["hashed_token"].(string); !strings.HasPrefix(s, "hmac-sha256:") {
				t.Errorf("audit response for %s: data.hashed_token is not an HMAC", e.Request.Path)
			}
		}
		if key, ok := e.Request.Data["private_key"]; ok && e.Request.Path == "github/config" {
			configRequests++
			if s, _ := key.(string); !strings.HasPrefix(s, "hmac-sha256:") {
				t.Errorf("audit %s for github/config: data.private_key is not an HMAC", e.Type)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	// 4 tokens minted, each audited once as a response.
	if mintResponses < 4 {
		t.Errorf("%d audited mint responses with a token, want at least 4", mintResponses)
	}
	// 3 config writes, each audited as a request and as a response.
	if configRequests < 6 {
		t.Errorf("%d audit entries of config writes with private_key, want at least 6", configRequests)
	}
	t.Logf("audit log: checked %d mint responses and %d config write entries for HMACs", mintResponses, configRequests)
}
