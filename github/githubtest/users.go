package githubtest

// GET /users/{username}: the public profile of an account. The App's bot
// user is "<slug>[bot]", of type "Bot", with an id of its own (not the
// App's); the engine reads it to build the bot's commit email
// (<id>+<slug>[bot]@users.noreply.github.com). The installations'
// accounts answer too.
//
// As on GitHub, the endpoint serves public data to any live installation
// token and to a request without credentials; a token that is unknown,
// revoked or expired is refused (401 Bad credentials), and so is an App
// JWT, which GitHub accepts only on the App's own endpoints (/app/...).

import (
	"fmt"
	"net/http"
	"strings"
)

const usersDocs = "https://docs.github.com/rest/users/users#get-a-user"

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, args []string) {
	if _, sent := installationToken(r); sent {
		if _, ok := s.tokenAuth(w, r, usersDocs); !ok {
			return
		}
	} else if r.Header.Get("Authorization") != "" {
		writeError(w, http.StatusUnauthorized, msgBadCredentials, usersDocs)
		return
	}
	login := args[0]
	if strings.EqualFold(login, s.BotLogin()) {
		writeJSON(w, http.StatusOK, s.botUserJSON(r))
		return
	}
	s.mu.Lock()
	var body map[string]any
	if in := s.installationForAccount(login); in != nil {
		body = accountJSON(in, s.apiBase(r))
	}
	s.mu.Unlock()
	if body == nil {
		writeError(w, http.StatusNotFound, msgNotFound, usersDocs)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// botUserJSON is GitHub's user object for the App's bot.
func (s *Server) botUserJSON(r *http.Request) map[string]any {
	id, login := s.BotUserID(), s.BotLogin()
	u := s.apiBase(r) + "/users/" + login
	return map[string]any{
		"login":               login,
		"id":                  id,
		"node_id":             nodeID("03:Bot", id),
		"avatar_url":          fmt.Sprintf("https://avatars.githubusercontent.com/in/%d?v=4", s.AppID),
		"gravatar_id":         "",
		"url":                 u,
		"html_url":            webRoot + "/apps/" + s.Slug,
		"followers_url":       u + "/followers",
		"following_url":       u + "/following{/other_user}",
		"gists_url":           u + "/gists{/gist_id}",
		"starred_url":         u + "/starred{/owner}{/repo}",
		"subscriptions_url":   u + "/subscriptions",
		"organizations_url":   u + "/orgs",
		"repos_url":           u + "/repos",
		"events_url":          u + "/events{/privacy}",
		"received_events_url": u + "/received_events",
		"type":                "Bot",
		"user_view_type":      "public",
		"site_admin":          false,
		"name":                nil,
		"company":             nil,
		"blog":                "",
		"location":            nil,
		"email":               nil,
		"hireable":            nil,
		"bio":                 nil,
		"twitter_username":    nil,
		"public_repos":        0,
		"public_gists":        0,
		"followers":           0,
		"following":           0,
		"created_at":          s.createdAt,
		"updated_at":          s.createdAt,
	}
}
