//go:build acceptance

package acceptance

// The engine messages the docs quote are messages the engine produces.
// Convention: the docs quote engine messages inside
//
//	<!-- messages -->
//	... every `inline code` span of two words or more (12 characters or
//	more; shorter ones are field names beside the quotes), and every
//	"* ..." line of a fenced block (Vault's CLI error lines), is a
//	message ...
//	<!-- /messages -->
//
// where "..." or "…" inside a quote stands for any text (an id, GitHub's
// part). TestDocsMessages produces messages through a real Vault with the
// GitHub API double, one scenario per situation the docs describe, and
// checks every quote is part of one. Outside those regions, a code span
// that reads like an engine message fails, so a quote cannot slip in
// unmarked.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

type quotedMessage struct {
	where, text string
}

var (
	codeSpanRE = regexp.MustCompile("`([^`]+)`")
	// engineLikeRE: a code span that reads like one of the engine's
	// messages (its usual openings and phrases).
	engineLikeRE = regexp.MustCompile(`GitHub (refused|rejected|failed|answered)|does not exist|is outside bound|is not in (role|bound)|exceeds (role|bound)|leaves no lease time|exactly one installation selector|engine has no App|is not a valid role name|permission denied: |: must |is not a PEM|upstream rate limited; retry|now lives under`)
)

// docQuotedMessages returns the quotes inside the messages regions of
// the docs, and fails on engine-like spans outside them.
func docQuotedMessages(t *testing.T) []quotedMessage {
	t.Helper()
	var out []quotedMessage
	for _, rel := range docFiles(t) {
		data, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		in, fenced := false, false
		for i, l := range strings.Split(string(data), "\n") {
			where := rel + ":" + itoa(i+1)
			trimmed := strings.TrimSpace(l)
			switch {
			case trimmed == "<!-- messages -->":
				in = true
				continue
			case trimmed == "<!-- /messages -->":
				in = false
				continue
			case strings.HasPrefix(trimmed, "```"):
				fenced = !fenced
				continue
			}
			if fenced {
				m, ok := strings.CutPrefix(trimmed, "* ")
				switch {
				case !ok || m == "1 error occurred:":
				case in:
					out = append(out, quotedMessage{where, m})
				case engineLikeRE.MatchString(m):
					t.Errorf("%s: %q reads like an engine message: quote it inside <!-- messages --> ... <!-- /messages -->", where, m)
				}
				continue
			}
			for _, m := range codeSpanRE.FindAllStringSubmatch(l, -1) {
				switch {
				case in && len(m[1]) >= 12 && strings.Contains(m[1], " "):
					out = append(out, quotedMessage{where, m[1]})
				case in:
					// a field name or command beside the quotes
				case engineLikeRE.MatchString(m[1]):
					t.Errorf("%s: `%s` reads like an engine message: quote it inside <!-- messages --> ... <!-- /messages --> (and have TestDocsMessages produce it), or reword", where, m[1])
				}
			}
		}
		if in {
			t.Errorf("%s: <!-- messages --> without <!-- /messages -->", rel)
		}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// messagePattern: the quote with "..." and "…" as wildcards.
func messagePattern(q string) *regexp.Regexp {
	parts := regexp.MustCompile(`\.\.\.|…`).Split(q, -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("(?s)" + strings.Join(parts, ".*"))
}

// errorMessages returns the messages of an error from Vault's API (each
// of its "errors"), or its text.
func errorMessages(err error) []string {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.Errors
	}
	if err != nil {
		return []string{err.Error()}
	}
	return nil
}

// TestDocsMessages: every engine message the docs quote is produced by one
// of the scenarios below, run through a real Vault against the double.
func TestDocsMessages(t *testing.T) {
	t.Parallel()
	quotes := docQuotedMessages(t)
	if len(quotes) == 0 {
		t.Fatal("no quoted messages found; the markers are <!-- messages --> and <!-- /messages -->")
	}

	d := newDouble(t)
	d2 := newDouble(t, githubtest.WithClientID("Iv23liDocsTest01"))
	short := newDouble(t, githubtest.WithTokenLifetime(4*time.Minute))
	ca, err := githubtest.NewTestCA("docs GHES CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	tlsDouble := newDouble(t, githubtest.WithTLS(cert), githubtest.WithPathPrefix("/api/v3"))
	v := startVault(t, vaultOptions{})
	for _, m := range []string{"github", "empty", "c2", "short", "tls"} {
		v.enableEngine(t, m)
	}
	v.configureEngine(t, "github", d, nil)
	v.configureEngine(t, "short", short, nil)
	c := v.Client
	c.SetMaxRetries(0)

	var produced []string
	got := func(err error) {
		t.Helper()
		if err == nil {
			t.Errorf("a scenario expected to fail succeeded")
			return
		}
		produced = append(produced, errorMessages(err)...)
	}
	write := func(path string, data map[string]any) error {
		_, err := c.Logical().Write(path, data)
		return err
	}
	read := func(path string) error {
		_, err := c.Logical().Read(path)
		return err
	}
	keyPEM := func(bits int) []byte {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	cfg := func(extra map[string]any) map[string]any {
		m := map[string]any{"app_id": d.AppID, "private_key": string(d.KeyPEM()), "base_url": d.URL}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	// Config writes.
	got(write("github/config", cfg(map[string]any{"private_key": string(keyPEM(2048))})))
	got(write("github/config", cfg(map[string]any{"app_id": 999})))
	got(write("c2/config", map[string]any{"client_id": "Iv23liNoSuchApp1", "private_key": string(d2.KeyPEM()), "base_url": d2.URL}))
	got(write("c2/config", map[string]any{"client_id": "Iv23liDocsTest01", "app_id": d2.AppID + 1, "private_key": string(d2.KeyPEM()), "base_url": d2.URL}))
	got(write("github/config", cfg(map[string]any{"private_key": "this is no key"})))
	encrypted, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(mustKey(t, 2048)), []byte("secret"), x509.PEMCipherAES256) //nolint:staticcheck // an encrypted key as users have them
	if err != nil {
		t.Fatal(err)
	}
	got(write("github/config", cfg(map[string]any{"private_key": string(pem.EncodeToMemory(encrypted))})))
	got(write("github/config", cfg(map[string]any{"private_key": string(keyPEM(1024))})))
	got(write("github/config", cfg(map[string]any{"base_url": "http://github.example.com/api/v3"})))
	got(write("empty/config", map[string]any{"private_key": string(d.KeyPEM()), "base_url": d.URL}))
	got(write("tls/config", map[string]any{"app_id": tlsDouble.AppID, "private_key": string(tlsDouble.KeyPEM()), "base_url": tlsDouble.URL}))

	// Minting.
	got(read("empty/token/x"))
	v.writeRole(t, "empty", "x", map[string]any{"owner": "acme"})
	got(read("empty/token/x"))
	got(read("github/token/session_ambient-sessions_ambient-session-s1"))
	v.writeRole(t, "github", "nobody_r", map[string]any{"owner": "nobody"})
	got(read("github/token/nobody_r"))
	v.writeRole(t, "github", "gone_r", map[string]any{"installation_id": 100})
	got(read("github/token/gone_r"))
	v.writeRole(t, "github", "typo_r", map[string]any{"owner": "acme", "repositories": "widgetz"})
	got(read("github/token/typo_r"))
	v.writeRole(t, "github", "admin_r", map[string]any{"owner": "acme", "permissions": "administration=write"})
	got(read("github/token/admin_r"))
	got(read("github/token/team-a_web"))
	got(write("github/roles/bad_r", map[string]any{"owner": "acme", "installation_id": 100}))
	got(write("github/roles/bad_r", map[string]any{"owner": "acme", "permissions": "contents=none"}))
	got(write("github/roles/bad_r", map[string]any{"owner": "acme", "repositories": "other/web"}))
	got(write("github/roles/-bad", map[string]any{"owner": "acme"}))
	if s, err := c.Logical().Write("github/roles/warn_r", map[string]any{"owner": "acme", "permissions": "foo=read"}); err == nil && s != nil {
		produced = append(produced, s.Warnings...)
	} else {
		t.Errorf("role with an unknown permission: %v", err)
	}
	d.RateLimitNext(1, 429, 2*time.Minute)
	v.writeRole(t, "github", "rl_r", map[string]any{"owner": "acme", "repositories": "widgets"})
	got(read("github/token/rl_r"))
	d.FailNext(1, 401)
	got(read("github/token/rl_r"))
	v.writeRole(t, "github", "moved_r", map[string]any{"repository": "acme/tools"})
	d.AddInstallation("evil-corp", "Organization", "stuff")
	if err := d.MoveRepository("acme/tools", "evil-corp/tools"); err != nil {
		t.Fatal(err)
	}
	got(read("github/token/moved_r"))
	v.writeRole(t, "short", "r", map[string]any{"owner": "acme"})
	got(read("short/token/r"))

	// Narrowing, bounds.
	v.writeRole(t, "github", "team-a_web", map[string]any{"owner": "acme", "repositories": "widgets", "permissions": "contents=read"})
	got(write("github/token/team-a_web", map[string]any{"repositories": "gadgets"}))
	got(write("github/token/team-a_web", map[string]any{"permissions": "contents=write"}))
	got(write("github/token/team-a_web", map[string]any{"permissions": "issues=read"}))
	if err := write("github/bounds/team-a", map[string]any{"owner": "acme", "repositories": "widgets,gadgets", "max_permissions": "contents=write,metadata=read", "max_ttl": "30m"}); err != nil {
		t.Fatal(err)
	}
	got(write("github/roles/team-a_x", map[string]any{"bound": "team-a", "repositories": "tools"}))
	got(write("github/roles/team-a_x", map[string]any{"bound": "team-a", "permissions": "workflows=write"}))
	got(write("github/roles/team-a_x", map[string]any{"bound": "team-a", "owner": "other"}))
	got(write("github/roles/team-a_x", map[string]any{"bound": "team-a", "ttl": "45m"}))
	// Branches (docs/policies.md): a role inside the bound's branches.
	if err := write("github/bounds/team-a", map[string]any{"branches": "team-a/*"}); err != nil {
		t.Fatal(err)
	}
	got(write("github/roles/team-a_web", map[string]any{"bound": "team-a", "branches": "main"}))

	// Checks (docs/multi-app.md).
	got(write("github/roles/check_r", map[string]any{"owner": "acme", "repositories": "widgetz", "check": true}))
	got(write("github/roles/check_r", map[string]any{"owner": "acme", "permissions": "administration=write", "check": true}))
	got(write("github/roles/check_r", map[string]any{"repository": "acme/nothing", "check": true}))
	got(write("github/roles/check_r", map[string]any{"owner": "nobody", "check": true}))
	d.FailNext(1, 401)
	got(write("github/roles/check_r", map[string]any{"owner": "acme", "repositories": "widgets", "check": true}))

	for _, q := range quotes {
		re := messagePattern(q.text)
		found := false
		for _, m := range produced {
			if re.MatchString(m) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: `%s` is not part of any message the scenarios produced", q.where, q.text)
		}
	}
	t.Logf("%d quotes checked against %d produced messages", len(quotes), len(produced))
	if t.Failed() {
		for _, m := range produced {
			t.Logf("produced: %s", m)
		}
	}
}

func mustKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
