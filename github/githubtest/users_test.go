package githubtest_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestGetUser: GET /users/{username} answers the App's bot user (type Bot,
// its own id) and the installations' accounts, case-insensitively, to a
// live installation token or to no credentials; a dead token or an App
// JWT is refused with 401, an unknown login with 404; under a path
// prefix (GitHub Enterprise Server) the same.
func TestGetUser(t *testing.T) {
	for _, prefix := range []string{"", "/api/v3"} {
		s := newServer(t, githubtest.WithPathPrefix(prefix), githubtest.WithSlug("my-app"))
		in := s.AddInstallation("acme", "Organization", "widgets")
		var tok tokenAnswer
		mint(t, s, in.ID, nil, http.StatusCreated).json(t, &tok)
		bot := s.URL + "/users/" + url.PathEscape("my-app[bot]")

		for _, auth := range []string{"Bearer " + tok.Token, "token " + tok.Token, ""} {
			r := do(t, http.MethodGet, bot, auth, nil)
			wantStatus(t, r, http.StatusOK)
			var u struct {
				Login, Type, NodeID string
				ID                  int64
			}
			r.json(t, &u)
			if u.Login != "my-app[bot]" || u.Type != "Bot" || u.ID != s.BotUserID() || u.ID == s.AppID || u.ID < 100_000_000 {
				t.Errorf("%s: bot user %+v, want my-app[bot], Bot, id %d", prefix, u, s.BotUserID())
			}
		}
		if s.BotLogin() != "my-app[bot]" {
			t.Errorf("BotLogin %q", s.BotLogin())
		}
		wantStatus(t, do(t, http.MethodGet, s.URL+"/users/My-App%5BBot%5D", "Bearer "+tok.Token, nil), http.StatusOK)
		var acct struct{ Login, Type string }
		r := do(t, http.MethodGet, s.URL+"/users/ACME", "Bearer "+tok.Token, nil)
		wantStatus(t, r, http.StatusOK)
		if r.json(t, &acct); acct.Login != "acme" || acct.Type != "Organization" {
			t.Errorf("%s: account %+v", prefix, acct)
		}
		if r := do(t, http.MethodGet, s.URL+"/users/nobody", "Bearer "+tok.Token, nil); r.StatusCode != http.StatusNotFound || r.message(t) != "Not Found" {
			t.Errorf("%s: unknown user: %d %s", prefix, r.StatusCode, r.body)
		}
		for name, auth := range map[string]string{
			"App JWT":       "Bearer " + appJWT(t, s),
			"unknown token": "Bearer ghs_nope",
			"basic":         "Basic eDp5",
		} {
			if r := do(t, http.MethodGet, bot, auth, nil); r.StatusCode != http.StatusUnauthorized || r.message(t) != "Bad credentials" {
				t.Errorf("%s: %s: %d %s, want 401 Bad credentials", prefix, name, r.StatusCode, r.body)
			}
		}
		if !s.RevokeToken(tok.Token) {
			t.Fatal("revoking the token")
		}
		if r := do(t, http.MethodGet, bot, "Bearer "+tok.Token, nil); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: a revoked token: %d %s, want 401", prefix, r.StatusCode, r.body)
		}
		if n := s.CallCount(http.MethodGet, "/users/my-app[bot]"); n < 4 {
			t.Errorf("%s: CallCount of the bot user %d", prefix, n)
		}
	}
}
