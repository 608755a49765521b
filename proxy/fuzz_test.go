package proxy

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseCredentials: whatever the file holds, parsing never panics, an
// error says only which rule the file broke (never a piece of it: the
// agent reads these in 503s), and a credential it accepts has a token an
// Authorization header can carry and a plausible validUntil.
func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte(`{"token":"ghs_abc","validUntil":1767225600}`))
	f.Add([]byte(`{"token":"ghs_abc"Q,"validUntil":1767225600}`))
	f.Add([]byte(`{"token":12345}`))
	f.Add([]byte(`{"token":"a\r\nb","validUntil":4102444800}`))
	f.Add([]byte(`{"token":"ghs_abc","validUntil":1767225600000}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"token":"ghs_abc","validUntil":1767225600,"branches":["agent/*"]}`))
	f.Add([]byte(`{"token":"ghs_abc","validUntil":1767225600,"branches":"x"}`))
	dir := f.TempDir()
	file := filepath.Join(dir, "credentials.json")
	rules := []string{
		" is not valid JSON of the shape credentials.json.ctmpl renders (the proxy's log says where)",
		` has no "token"`,
		` has a "token" with characters an Authorization header cannot carry`,
		` has no "validUntil" (unix seconds)`,
		` has a "validUntil" before 2020: want the unix time in seconds when Vault revokes the token`,
		` has a "validUntil" more than a day ahead: want the unix time in seconds when Vault revokes the token`,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := parseCredentials(file)
		if err != nil {
			msg, ok := strings.CutPrefix(err.Error(), file)
			// The write scope's own rules (scopefile.go) name what is
			// wrong with "branches" without repeating it.
			if !ok || !contains(rules, msg) && !strings.HasPrefix(msg, ` has a "branches" `) {
				t.Fatalf("an error beyond the rules: %q", err)
			}
			return
		}
		if c.token == "" || strings.ContainsFunc(c.token, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Fatalf("accepted token %q", c.token)
		}
		if c.validUntil.Before(minValidUntil) || c.validUntil.After(time.Now().Add(maxValidAhead)) {
			t.Fatalf("accepted validUntil %v", c.validUntil)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzRevokesToken: revokesToken never panics, and it refuses every path
// a server that decodes once, folds case and resolves dot segments would
// route to /installation/token.
func FuzzRevokesToken(f *testing.F) {
	for _, s := range []string{"/installation/token", "/INSTALLATION/%74oken/", "//installation//token", "/api/v3/installation/token", "/repos/o/r", "/installation%2Ftoken", "/a/../installation/token"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		got := revokesToken(u)
		once, err := url.PathUnescape(u.EscapedPath())
		if err != nil {
			return
		}
		p := strings.TrimPrefix(path.Clean("/"+strings.ToLower(once)), "/api/v3")
		if strings.HasPrefix(p, "/installation/token") && !got {
			t.Fatalf("%q reaches %s on a server that decodes once, and passed", raw, p)
		}
	})
}
