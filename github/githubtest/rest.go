package githubtest

// Helpers shared by the REST endpoints that read and write repositories.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// readJSON decodes r's body into v as GitHub does: 400 "Problems parsing
// JSON" if it is not JSON, 422 naming the property whose value has the
// wrong type. An empty body decodes as {}. On false the answer has been
// written.
func readJSON(w http.ResponseWriter, r *http.Request, doc string, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, msgBadJSON, doc)
		return false
	}
	if strings.TrimSpace(string(body)) == "" {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			writeError(w, http.StatusUnprocessableEntity,
				fmt.Sprintf("Invalid request.\n\nFor 'properties/%s', %s is not %s.", typeErr.Field, jsonKind(typeErr.Value), article(typeErr.Type.String())), doc)
			return false
		}
		writeError(w, http.StatusBadRequest, msgBadJSON, doc)
		return false
	}
	return true
}

func jsonKind(v string) string {
	switch v {
	case "number", "bool", "string", "array", "object":
		return "a " + v
	}
	return v
}

func article(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "float64":
		return "an integer"
	}
	if strings.HasPrefix(goType, "[]") {
		return "an array"
	}
	return "an object"
}

// missingFields answers 422 for required properties that were not
// supplied, in GitHub's words, and reports whether any was missing.
func missingFields(w http.ResponseWriter, doc string, fields map[string]bool, order ...string) bool {
	var names []string
	for _, name := range order {
		if !fields[name] {
			names = append(names, fmt.Sprintf("%q", name))
		}
	}
	switch len(names) {
	case 0:
		return false
	case 1:
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n"+names[0]+" wasn't supplied.", doc)
	default:
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n"+strings.Join(names, ", ")+" weren't supplied.", doc)
	}
	return true
}

// validationFailed answers GitHub's 422 "Validation Failed" with errors.
func validationFailed(w http.ResponseWriter, doc string, errs ...map[string]any) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "errors": errs, "documentation_url": doc, "status": "422",
	})
}

// fieldError is one entry of a "Validation Failed" answer.
func fieldError(resource, field, code string) map[string]any {
	return map[string]any{"resource": resource, "field": field, "code": code}
}

// customError is a "custom" entry of a "Validation Failed" answer.
func customError(resource, message string) map[string]any {
	return map[string]any{"resource": resource, "code": "custom", "message": message}
}

// gitTime formats a time as GitHub's git objects do.
func gitTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// newObjectID hands out an id for a pull request, comment, release...
func (s *Server) newObjectID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nextObjectID == 0 {
		s.nextObjectID = 1_800_000_001
	}
	s.nextObjectID++
	return s.nextObjectID - 1
}

// userJSON is the simple-user object of the App's bot, the author of
// everything its tokens create.
func (s *Server) botJSON(base string) map[string]any {
	id := s.BotUserID()
	u := base + "/users/" + s.BotLogin()
	return map[string]any{
		"login":      s.BotLogin(),
		"id":         id,
		"node_id":    nodeID("03:Bot", id),
		"avatar_url": fmt.Sprintf("https://avatars.githubusercontent.com/in/%d?v=4", s.AppID),
		"url":        u,
		"html_url":   webRoot + "/apps/" + s.Slug,
		"type":       "Bot",
		"site_admin": false,
	}
}

// getUser serves GET /users/{username} for the App's bot, the one user an
// installation token's client needs to look up (for its commit identity).
// Other users are not found.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = "https://docs.github.com/rest/users/users#get-a-user"
	if !strings.EqualFold(args[0], s.BotLogin()) {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	}
	u := s.botJSON(s.apiBase(r))
	u["name"] = nil
	u["created_at"] = s.createdAt
	u["updated_at"] = s.createdAt
	writeJSON(w, http.StatusOK, u)
}

// page cuts items to the page r asks for (per_page, page) and sets
// GitHub's Link header for endpoint.
func page[T any](w http.ResponseWriter, r *http.Request, endpoint string, items []T) []T {
	perPage, p := pageParams(r)
	start := len(items)
	if p-1 <= len(items)/perPage {
		start = min((p-1)*perPage, len(items))
	}
	last := max(1, (len(items)+perPage-1)/perPage)
	if link := pageLinks(endpoint, r.URL.RawQuery, p, last); link != "" {
		w.Header().Set("Link", link)
	}
	return items[start:min(start+perPage, len(items))]
}
