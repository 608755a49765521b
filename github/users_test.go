package github

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// TestUser reads the App's bot user with an installation token, on
// github.com's layout and under GitHub Enterprise Server's /api/v3, with
// the login path-escaped ([bot]); a revoked token is GitHub's 401.
func TestUser(t *testing.T) {
	for _, prefix := range []string{"", "/api/v3"} {
		s := newDouble(t, githubtest.WithPathPrefix(prefix))
		in := s.AddInstallation("acme", "Organization", "widgets")
		c := newClient(t, s)
		tok, err := c.CreateToken(context.Background(), in.ID, TokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		u, err := c.User(context.Background(), s.BotLogin(), tok.Token)
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		if u.Login != s.BotLogin() || u.ID != s.BotUserID() || u.Type != "Bot" {
			t.Errorf("%s: %+v, want %s %d Bot", prefix, u, s.BotLogin(), s.BotUserID())
		}
		calls := s.Calls()
		last := calls[len(calls)-1]
		if last.Path != "/users/"+s.BotLogin() || last.CredentialSHA256 != githubtest.CredentialSHA256(tok.Token) {
			t.Errorf("%s: the lookup went to %s with another credential", prefix, last.Path)
		}
		s.RevokeToken(tok.Token)
		_, err = c.User(context.Background(), s.BotLogin(), tok.Token)
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || strings.Contains(err.Error(), tok.Token) {
			t.Errorf("%s: with a revoked token: %v", prefix, err)
		}
		if _, err := c.User(context.Background(), "nobody-here", ""); err == nil {
			t.Errorf("%s: a lookup without a token was sent", prefix)
		}
	}
}
