package proxy

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCredentialScope: "branches" absent is unscoped; a list is the
// scope, [] allowing nothing; anything else makes the file unusable (a
// 503 that says why without repeating the file), never unscoped.
func TestCredentialScope(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/credentials.json"
	tok := testToken(t)
	for name, c := range map[string]struct {
		branches string // JSON, "" for absent
		want     []string
		err      string
	}{
		"absent":          {"", nil, ""},
		"empty":           {`[]`, []string{}, ""},
		"patterns":        {`["agent/*","docs-fix"]`, []string{"agent/*", "docs-fix"}, ""},
		"null":            {`null`, nil, `a "branches" that is not a list`},
		"a string":        {`"agent/*"`, nil, `a "branches" that is not a list`},
		"numbers":         {`[1]`, nil, `a "branches" that is not a list`},
		"a ref":           {`["refs/heads/secret-pattern-text"]`, nil, `a "branches" pattern 0 starts with "refs/"`},
		"double star":     {`["ok","secret/**"]`, nil, `a "branches" pattern 1 contains "**"`},
		"invalid pattern": {`["secret..text"]`, nil, `a "branches" pattern 0 contains ".."`},
	} {
		data := `{"token":"` + tok + `","validUntil":` + fmt.Sprint(time.Now().Add(time.Hour).Unix())
		if c.branches != "" {
			data += `,"branches":` + c.branches
		}
		if err := os.WriteFile(path, []byte(data+"}"), 0o600); err != nil {
			t.Fatal(err)
		}
		cred, err := parseCredentials(path)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error with %q", name, err, c.err)
			} else if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), tok) {
				t.Errorf("%s: the error repeats the file: %v", name, err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want == nil && cred.scope != nil:
			t.Errorf("%s: scoped, want unscoped", name)
		case c.want != nil && (cred.scope == nil || strings.Join(cred.scope.Patterns(), ",") != strings.Join(c.want, ",")):
			t.Errorf("%s: scope %v, want %v", name, cred.scope, c.want)
		}
	}

	// Through the proxy: an unusable "branches" is a 503, and nothing
	// reaches GitHub.
	e := newEnv(t, nil, func(c *Config) { c.Wait = 200 * time.Millisecond })
	if err := os.WriteFile(e.credentials, []byte(`{"token":"`+e.token+`","validUntil":`+fmt.Sprint(time.Now().Add(time.Hour).Unix())+`,"branches":["refs/heads/x"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	status, body := e.do(e.client(), "GET", "https://api.github.com/user", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `has a "branches" pattern 0 starts with "refs/"`) {
		t.Errorf("%d %q", status, body)
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("%d requests reached GitHub", n)
	}
}
