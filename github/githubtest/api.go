package githubtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	apiVersion      = "2022-11-28"
	rateLimitLimit  = 5000
	rateLimitWindow = time.Hour
	docsRoot        = "https://docs.github.com/rest"
	appsDocs        = "https://docs.github.com/rest/apps/apps"
	maxTokenRepos   = 500
	maxBodyBytes    = 1 << 20
	defaultPerPage  = 30
	maxPerPage      = 100
)

// GitHub's messages for refused token requests.
const (
	msgNotFound       = "Not Found"
	msgBadCredentials = "Bad credentials"
	msgNoUserAgent    = "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes."
	msgBadJSON        = "Problems parsing JSON"
	msgRepoNotFound   = "There is at least one repository that does not exist or is not accessible to the parent installation."
	msgPermsNotGrant  = "The permissions requested are not granted to this installation."
	msgSuspended      = "This installation has been suspended"
	msgMoved          = "Moved Permanently"
	redirectDocs      = "https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api#follow-redirects"
)

// permissionLevels orders the permission levels a token may ask for.
var permissionLevels = map[string]int{"read": 1, "write": 2, "admin": 3}

// route is one GitHub API endpoint the double serves.
type route struct {
	method string
	// path is the endpoint as GitHub's documentation writes it, e.g.
	// "/repos/{owner}/{repo}/git/refs/{ref...}": a "{name}" segment
	// matches any one non-empty segment, a "{name...}" one or more
	// segments (all but the literal segments after it, which must match);
	// each is passed to handle in args, in order.
	path string
	// appJWT endpoints require an App JWT.
	appJWT bool
	handle func(s *Server, w http.ResponseWriter, r *http.Request, args []string)
}

var routes = []route{
	{http.MethodGet, "/app", true, (*Server).getApp},
	{http.MethodGet, "/app/installations", true, (*Server).listInstallations},
	{http.MethodGet, "/app/installations/{id}", true, (*Server).getInstallation},
	{http.MethodPost, "/app/installations/{id}/access_tokens", true, (*Server).createToken},
	{http.MethodGet, "/users/{username}/installation", true, (*Server).getUserInstallation},
	{http.MethodGet, "/orgs/{org}/installation", true, (*Server).getOrgInstallation},
	{http.MethodGet, "/repos/{owner}/{repo}/installation", true, (*Server).getRepoInstallation},
	{http.MethodGet, "/repositories/{id}/installation", true, (*Server).getRepoIDInstallation},
	{http.MethodDelete, "/installation/token", false, (*Server).revokeToken},
	{http.MethodGet, "/installation/repositories", false, (*Server).listTokenRepositories},
	{http.MethodGet, "/repos/{owner}/{repo}", false, (*Server).getRepo},          // repos.go
	{http.MethodGet, "/repos/{owner}/{repo}/readme", false, (*Server).getReadme}, // repos.go
	{http.MethodPatch, "/repos/{owner}/{repo}", false, (*Server).patchRepo},      // repos.go
	{http.MethodGet, "/users/{username}", false, (*Server).getUser},              // rest.go

	// gitdata.go
	{http.MethodGet, "/repos/{owner}/{repo}/git/refs", false, (*Server).listRefs},
	{http.MethodGet, "/repos/{owner}/{repo}/git/refs/{ref...}", false, (*Server).getRefs},
	{http.MethodGet, "/repos/{owner}/{repo}/git/matching-refs/{ref...}", false, (*Server).listMatchingRefs},
	{http.MethodGet, "/repos/{owner}/{repo}/git/ref/{ref...}", false, (*Server).getRef},
	{http.MethodPost, "/repos/{owner}/{repo}/git/refs", false, (*Server).createRef},
	{http.MethodPatch, "/repos/{owner}/{repo}/git/refs/{ref...}", false, (*Server).updateRef},
	{http.MethodDelete, "/repos/{owner}/{repo}/git/refs/{ref...}", false, (*Server).deleteRef},
	{http.MethodPost, "/repos/{owner}/{repo}/git/blobs", false, (*Server).createBlob},
	{http.MethodGet, "/repos/{owner}/{repo}/git/blobs/{file_sha}", false, (*Server).getBlob},
	{http.MethodPost, "/repos/{owner}/{repo}/git/trees", false, (*Server).createTree},
	{http.MethodGet, "/repos/{owner}/{repo}/git/trees/{tree_sha}", false, (*Server).getTree},
	{http.MethodPost, "/repos/{owner}/{repo}/git/commits", false, (*Server).createCommit},
	{http.MethodGet, "/repos/{owner}/{repo}/git/commits/{commit_sha}", false, (*Server).getCommit},

	// contents.go
	{http.MethodGet, "/repos/{owner}/{repo}/contents/{path...}", false, (*Server).getContents},
	{http.MethodPut, "/repos/{owner}/{repo}/contents/{path...}", false, (*Server).putContents},
	{http.MethodDelete, "/repos/{owner}/{repo}/contents/{path...}", false, (*Server).deleteContents},

	// pulls.go
	{http.MethodGet, "/repos/{owner}/{repo}/pulls", false, (*Server).listPulls},
	{http.MethodPost, "/repos/{owner}/{repo}/pulls", false, (*Server).createPull},
	{http.MethodGet, "/repos/{owner}/{repo}/pulls/{pull_number}", false, (*Server).getPull},
	{http.MethodPatch, "/repos/{owner}/{repo}/pulls/{pull_number}", false, (*Server).updatePull},
	{http.MethodPut, "/repos/{owner}/{repo}/pulls/{pull_number}/merge", false, (*Server).mergePull},
	{http.MethodPut, "/repos/{owner}/{repo}/pulls/{pull_number}/update-branch", false, (*Server).updatePullBranch},

	// merges.go
	{http.MethodPost, "/repos/{owner}/{repo}/merges", false, (*Server).postMerge},
	{http.MethodPost, "/repos/{owner}/{repo}/merge-upstream", false, (*Server).mergeUpstream},
	{http.MethodGet, "/repos/{owner}/{repo}/commits/{ref...}/status", false, (*Server).combinedStatus},
	{http.MethodGet, "/repos/{owner}/{repo}/commits/{ref...}/check-runs", false, (*Server).listCheckRuns},
	{http.MethodGet, "/repos/{owner}/{repo}/commits/{ref...}", false, (*Server).getCommitREST},
	{http.MethodGet, "/repos/{owner}/{repo}/branches", false, (*Server).listBranches},
	{http.MethodGet, "/repos/{owner}/{repo}/branches/{branch...}", false, (*Server).getBranch},
	{http.MethodPost, "/repos/{owner}/{repo}/branches/{branch...}/rename", false, (*Server).renameBranch},

	// releases.go
	{http.MethodGet, "/repos/{owner}/{repo}/releases", false, (*Server).listReleases},
	{http.MethodPost, "/repos/{owner}/{repo}/releases", false, (*Server).createRelease},
	{http.MethodGet, "/repos/{owner}/{repo}/releases/latest", false, getRelease("latest")},
	{http.MethodGet, "/repos/{owner}/{repo}/releases/tags/{tag...}", false, getRelease("tag")},
	{http.MethodGet, "/repos/{owner}/{repo}/releases/{release_id}", false, getRelease("id")},
	{http.MethodPatch, "/repos/{owner}/{repo}/releases/{release_id}", false, (*Server).updateRelease},
	{http.MethodDelete, "/repos/{owner}/{repo}/releases/{release_id}", false, (*Server).deleteRelease},

	// issues.go: writes that move no ref.
	{http.MethodGet, "/repos/{owner}/{repo}/issues", false, (*Server).listIssues},
	{http.MethodPost, "/repos/{owner}/{repo}/issues", false, (*Server).createIssue},
	{http.MethodPatch, "/repos/{owner}/{repo}/issues/comments/{comment_id}", false, (*Server).updateComment},
	{http.MethodPost, "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", false, react("comment")},
	{http.MethodGet, "/repos/{owner}/{repo}/issues/{issue_number}", false, (*Server).getIssue},
	{http.MethodPatch, "/repos/{owner}/{repo}/issues/{issue_number}", false, (*Server).updateIssue},
	{http.MethodGet, "/repos/{owner}/{repo}/issues/{issue_number}/comments", false, (*Server).listComments},
	{http.MethodPost, "/repos/{owner}/{repo}/issues/{issue_number}/comments", false, (*Server).createComment},
	{http.MethodPost, "/repos/{owner}/{repo}/issues/{issue_number}/labels", false, (*Server).addLabels},
	{http.MethodDelete, "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", false, (*Server).removeLabel},
	{http.MethodPost, "/repos/{owner}/{repo}/issues/{issue_number}/reactions", false, react("issue")},
	{http.MethodGet, "/repos/{owner}/{repo}/labels", false, (*Server).listLabels},
	{http.MethodPost, "/repos/{owner}/{repo}/labels", false, (*Server).createLabel},

	// checks.go
	{http.MethodGet, "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", false, (*Server).listReviews},
	{http.MethodPost, "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", false, (*Server).createReview},
	{http.MethodGet, "/repos/{owner}/{repo}/pulls/{pull_number}/comments", false, (*Server).listReviewComments},
	{http.MethodPost, "/repos/{owner}/{repo}/pulls/{pull_number}/comments", false, (*Server).createReviewComment},
	{http.MethodPost, "/repos/{owner}/{repo}/statuses/{sha}", false, (*Server).createStatus},
	{http.MethodPost, "/repos/{owner}/{repo}/check-runs", false, (*Server).createCheckRun},
	{http.MethodPatch, "/repos/{owner}/{repo}/check-runs/{check_run_id}", false, (*Server).updateCheckRun},
}

// callKey carries the request's recorded Call in its context.
type callKey struct{}

// recordGraphQL records the documents of a GraphQL request on its Call.
func (s *Server) recordGraphQL(r *http.Request, docs []string) {
	if call, ok := r.Context().Value(callKey{}).(*Call); ok {
		s.mu.Lock()
		call.GraphQL = docs
		s.mu.Unlock()
	}
}

// routeKey carries the matched route's path in a request's context.
type routeKey struct{}

// routeOf is the documented path of the route r was matched to, e.g.
// "PATCH /repos/{owner}/{repo}/git/refs/{ref}".
func routeOf(r *http.Request) string {
	p, _ := r.Context().Value(routeKey{}).(string)
	return r.Method + " " + strings.ReplaceAll(p, "...}", "}")
}

// match reports whether path segments segs match the route's path, and
// returns the segments its wildcards matched.
func match(path string, segs []string) ([]string, bool) {
	pattern := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var args []string
	for i, p := range pattern {
		wild := strings.HasPrefix(p, "{")
		if wild && strings.HasSuffix(p, "...}") {
			// The rest, less the literal segments that follow it.
			tail := pattern[i+1:]
			end := len(segs) - len(tail)
			if end <= i || !slices.Equal(segs[end:], tail) {
				return nil, false
			}
			rest := strings.Join(segs[i:end], "/")
			if rest == "" {
				return nil, false
			}
			return append(args, rest), true
		}
		switch {
		case i >= len(segs):
			return nil, false
		case wild && segs[i] != "":
			args = append(args, segs[i])
		case p != segs[i]:
			return nil, false
		}
	}
	return args, len(pattern) == len(segs)
}

// callRecorder sets the recorded call's status when the answer's status is
// written, before any of the answer reaches the client.
type callRecorder struct {
	http.ResponseWriter
	s       *Server
	call    *Call
	written bool
}

func (w *callRecorder) WriteHeader(status int) {
	if !w.written {
		w.written = true
		w.s.mu.Lock()
		w.call.Status = status
		w.s.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(status)
}

// Flush lets a streamed answer (git's packs) reach the client as it is
// written.
func (w *callRecorder) Flush() {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *callRecorder) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// serveHTTP serves the GitHub API under the path prefix and the admin API
// under /_double/.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		s.admin.ServeHTTP(w, r)
		return
	}
	git := s.servesGit(r)
	path, inPrefix := s.stripPrefix(r.URL.Path)
	if git {
		path, inPrefix = r.URL.Path, false
	}
	_, cred := credential(r)
	call := &Call{
		Method:           r.Method,
		Path:             path,
		Query:            r.URL.RawQuery,
		At:               time.Now(),
		Accept:           r.Header.Get("Accept"),
		UserAgent:        r.Header.Get("User-Agent"),
		Host:             r.Host,
		CredentialSHA256: CredentialSHA256(cred),
		Git:              git,
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	rec := &callRecorder{ResponseWriter: w, s: s, call: call}
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, call))

	if d := s.latency(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client gave up; nothing to answer
		case <-s.done:
			panic(http.ErrAbortHandler) // server closing: drop the connection
		}
	}
	if git {
		s.serveGit(rec, r)
		return
	}
	s.serveAPI(rec, r, path, inPrefix)
}

// stripPrefix removes the path prefix. It reports false, and returns the
// path unchanged, if the path is outside the prefix.
func (s *Server) stripPrefix(p string) (string, bool) {
	if s.prefix == "" {
		return p, true
	}
	rest, ok := strings.CutPrefix(p, s.prefix)
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		return p, false
	}
	return rest, true
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, path string, inPrefix bool) {
	s.setCommonHeaders(w, r)
	if r.Header.Get("User-Agent") == "" {
		writeError(w, http.StatusForbidden, msgNoUserAgent, "")
		return
	}
	if f, ok := s.takeFault(r); ok {
		if f.afterEffect {
			// Serve the request for its effect and drop its answer.
			s.route(discardWriter{h: http.Header{}}, r, path, inPrefix)
		}
		s.writeFault(w, r, path, f)
		return
	}
	s.revokeIfArmed(r)
	if inPrefix && s.mintOutageNow(r.Method, path) { // outage.go
		writeError(w, http.StatusServiceUnavailable, http.StatusText(http.StatusServiceUnavailable), docsRoot)
		return
	}
	s.route(w, r, path, inPrefix)
}

// discardWriter swallows an answer.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// route answers a request on the GitHub API, outside fault injection.
func (s *Server) route(w http.ResponseWriter, r *http.Request, path string, inPrefix bool) {
	if r.URL.Path == s.graphqlPath() {
		s.serveGraphQL(w, r) // graphql.go
		return
	}
	if !inPrefix {
		writeError(w, http.StatusNotFound, msgNotFound, docsRoot)
		return
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, rt := range routes {
		args, ok := match(rt.path, segs)
		if !ok || rt.method != r.Method {
			continue
		}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, rt.path))
		if rt.appJWT {
			if msg := s.checkAppJWT(r, time.Now()); msg != "" {
				writeError(w, http.StatusUnauthorized, msg, docsRoot)
				return
			}
		}
		rt.handle(s, w, r, args)
		return
	}
	writeError(w, http.StatusNotFound, msgNotFound, docsRoot)
}

// setCommonHeaders sets the headers GitHub puts on every answer, including
// a rate-limit budget that decreases with each request but, unless a rate
// limit is injected, never runs out. As on GitHub, the App's own calls (App
// JWT, or no credentials) and each installation's calls (its tokens) draw
// on separate budgets, all of the "core" resource.
func (s *Server) setCommonHeaders(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	key := "app"
	if cred, ok := installationToken(r); ok && strings.Count(cred, ".") != 2 { // a token, not a JWT
		key = "installation:unknown"
		if t, found := s.LookupToken(cred); found {
			key = "installation:" + strconv.FormatInt(t.InstallationID, 10)
		}
	}
	s.mu.Lock()
	b := s.budgets[key]
	if b == nil {
		b = &rateBudget{}
		s.budgets[key] = b
	}
	if !now.Before(b.reset) {
		b.reset = now.Add(rateLimitWindow).Truncate(time.Second)
		b.remaining = rateLimitLimit
	}
	b.remaining = max(b.remaining-1, 1)
	remaining, reset := b.remaining, b.reset
	s.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-GitHub-Api-Version-Selected", apiVersion)
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("D0B1:%X", now.UnixNano()))
	h.Set("X-RateLimit-Limit", strconv.Itoa(rateLimitLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(rateLimitLimit-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client may have gone
}

// writeError writes GitHub's error body.
func writeError(w http.ResponseWriter, status int, message, doc string) {
	writeJSON(w, status, errorBody(status, message, doc))
}

// errorBody is GitHub's error body. doc may be empty, as on GitHub's 403 for
// a missing User-Agent.
func errorBody(status int, message, doc string) map[string]any {
	body := map[string]any{"message": message, "status": strconv.Itoa(status)}
	if doc != "" {
		body["documentation_url"] = doc
	}
	return body
}

// apiBase is the absolute API base URL for links in answers: the public
// one (WithPublicURL), else the one the client reached.
func (s *Server) apiBase(r *http.Request) string {
	if s.linkBase != "" {
		return s.linkBase
	}
	return s.requestBase(r)
}

// requestBase is the absolute API base URL as the client reached it.
func (s *Server) requestBase(r *http.Request) string {
	return s.scheme + "://" + r.Host + s.prefix
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request, _ []string) {
	s.mu.Lock()
	n := len(s.installations)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"id":          s.AppID,
		"slug":        s.Slug,
		"client_id":   s.ClientID,
		"node_id":     nodeID("03:App", s.AppID),
		"name":        "Vault Double App",
		"description": "GitHub App double for vault-plugin-github-app tests",
		"owner": map[string]any{
			"login":      "double-owner",
			"id":         1,
			"node_id":    nodeID("012:Organization", 1),
			"type":       "Organization",
			"site_admin": false,
		},
		"external_url":        "https://example.com",
		"html_url":            webRoot + "/apps/" + s.Slug,
		"created_at":          s.createdAt,
		"updated_at":          s.createdAt,
		"permissions":         defaultPermissions,
		"events":              []string{},
		"installations_count": n,
	})
}

func (s *Server) listInstallations(w http.ResponseWriter, r *http.Request, _ []string) {
	perPage, page := pageParams(r)

	base := s.apiBase(r)
	s.mu.Lock()
	all := s.sortedInstallations()
	start := len(all) // past the end, also for pages too large to multiply
	if page-1 <= len(all)/perPage {
		start = min((page-1)*perPage, len(all))
	}
	items := []map[string]any{}
	for _, in := range all[start:min(start+perPage, len(all))] {
		items = append(items, s.installationJSON(in, base))
	}
	s.mu.Unlock()

	last := max(1, (len(all)+perPage-1)/perPage)
	if link := pageLinks(base+"/app/installations", r.URL.RawQuery, page, last); link != "" {
		w.Header().Set("Link", link)
	}
	writeJSON(w, http.StatusOK, items)
}

// pageLinks builds GitHub's Link header for page of last: prev, next, last
// and first, as applicable, each repeating the request's query with page
// replaced. It is empty when everything fits on the first page.
func pageLinks(endpoint, rawQuery string, page, last int) string {
	var kept []string
	for _, kv := range strings.Split(rawQuery, "&") {
		if k, _, _ := strings.Cut(kv, "="); kv != "" && k != "page" {
			kept = append(kept, kv)
		}
	}
	link := func(p int, rel string) string {
		q := strings.Join(append(kept[:len(kept):len(kept)], "page="+strconv.Itoa(p)), "&")
		return fmt.Sprintf("<%s?%s>; rel=%q", endpoint, q, rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	return strings.Join(links, ", ")
}

func (s *Server) getInstallation(w http.ResponseWriter, r *http.Request, args []string) {
	s.answerInstallation(w, r, "#get-an-installation-for-the-authenticated-app", func() *Installation {
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return nil
		}
		return s.installations[id]
	})
}

// getUserInstallation finds the installation on a user or organization
// account: on GitHub, /users/{username} names either.
func (s *Server) getUserInstallation(w http.ResponseWriter, r *http.Request, args []string) {
	s.answerInstallation(w, r, "#get-a-user-installation-for-the-authenticated-app", func() *Installation {
		return s.installationForAccount(args[0])
	})
}

func (s *Server) getOrgInstallation(w http.ResponseWriter, r *http.Request, args []string) {
	s.answerInstallation(w, r, "#get-an-organization-installation-for-the-authenticated-app", func() *Installation {
		if in := s.installationForAccount(args[0]); in != nil && in.AccountType == "Organization" {
			return in
		}
		return nil
	})
}

func (s *Server) getRepoInstallation(w http.ResponseWriter, r *http.Request, args []string) {
	// A renamed or transferred repository redirects to its id, unless a
	// repository has taken the old name since.
	s.mu.Lock()
	var movedID int64
	if in := s.installationForAccount(args[0]); in == nil || !hasRepo(in, args[1]) {
		movedID = s.moved[strings.ToLower(args[0]+"/"+args[1])]
	}
	s.mu.Unlock()
	if movedID != 0 {
		loc := fmt.Sprintf("%s/repositories/%d/installation", s.requestBase(r), movedID)
		w.Header().Set("Location", loc)
		writeJSON(w, http.StatusMovedPermanently, map[string]any{"message": msgMoved, "url": loc, "documentation_url": redirectDocs})
		return
	}
	s.answerInstallation(w, r, "#get-a-repository-installation-for-the-authenticated-app", func() *Installation {
		if in := s.installationForAccount(args[0]); in != nil {
			if _, ok := in.repoByName(args[1]); ok {
				return in
			}
		}
		return nil
	})
}

// getRepoIDInstallation serves GET /repositories/{id}/installation, where
// GitHub redirects the lookup of a renamed or transferred repository.
func (s *Server) getRepoIDInstallation(w http.ResponseWriter, r *http.Request, args []string) {
	s.answerInstallation(w, r, "#get-a-repository-installation-for-the-authenticated-app", func() *Installation {
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return nil
		}
		for _, in := range s.installations {
			for _, repo := range in.Repositories {
				if repo.ID == id {
					return in
				}
			}
		}
		return nil
	})
}

func hasRepo(in *Installation, name string) bool {
	_, ok := in.repoByName(name)
	return ok
}

// answerInstallation answers the installation find returns (find runs with
// s.mu held), or 404 with the endpoint's documentation anchor.
func (s *Server) answerInstallation(w http.ResponseWriter, r *http.Request, anchor string, find func() *Installation) {
	s.mu.Lock()
	var body map[string]any
	if in := find(); in != nil {
		body = s.installationJSON(in, s.apiBase(r))
	}
	s.mu.Unlock()
	if body == nil {
		writeError(w, http.StatusNotFound, msgNotFound, appsDocs+anchor)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// tokenRequest is the body of POST /app/installations/{id}/access_tokens.
type tokenRequest struct {
	Repositories  []string          `json:"repositories"`
	RepositoryIDs []int64           `json:"repository_ids"`
	Permissions   map[string]string `json:"permissions"`
}

const mintDocs = appsDocs + "#create-an-installation-access-token-for-an-app"

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, args []string) {
	var req tokenRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, msgBadJSON, mintDocs)
		return
	}
	if strings.TrimSpace(string(body)) != "" {
		if err := json.Unmarshal(body, &req); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				writeError(w, http.StatusUnprocessableEntity,
					fmt.Sprintf("Invalid request.\n\nFor 'properties/%s', the value has the wrong type.", typeErr.Field), mintDocs)
				return
			}
			writeError(w, http.StatusBadRequest, msgBadJSON, mintDocs)
			return
		}
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, msgNotFound, mintDocs)
		return
	}
	status, answer := s.mint(id, req, s.apiBase(r))
	writeJSON(w, status, answer)
}

// mint checks a token request against installation id as GitHub does and,
// if it passes, issues the token. It returns the status and body to answer.
func (s *Server) mint(id int64, req tokenRequest, base string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.installations[id]
	if in == nil {
		return http.StatusNotFound, errorBody(http.StatusNotFound, msgNotFound, mintDocs)
	}
	if in.SuspendedAt != nil {
		return http.StatusForbidden, errorBody(http.StatusForbidden, msgSuspended, mintDocs)
	}
	if len(req.Repositories)+len(req.RepositoryIDs) > maxTokenRepos {
		return http.StatusUnprocessableEntity, errorBody(http.StatusUnprocessableEntity,
			fmt.Sprintf("Too many repositories requested: a token can be scoped to at most %d.", maxTokenRepos), mintDocs)
	}
	repos, ok := coveredRepos(in, req.Repositories, req.RepositoryIDs)
	if !ok {
		return http.StatusUnprocessableEntity, errorBody(http.StatusUnprocessableEntity, msgRepoNotFound, mintDocs)
	}
	perms := in.Permissions
	if len(req.Permissions) > 0 {
		for name, level := range req.Permissions {
			if _, valid := permissionLevels[level]; !valid {
				return http.StatusUnprocessableEntity, errorBody(http.StatusUnprocessableEntity,
					fmt.Sprintf("Invalid request.\n\nFor 'properties/permissions/%s', %q is not a valid permission level.", name, level), mintDocs)
			}
			granted, ok := in.Permissions[name]
			if !ok || permissionLevels[level] > permissionLevels[granted] {
				return http.StatusUnprocessableEntity, errorBody(http.StatusUnprocessableEntity, msgPermsNotGrant, mintDocs)
			}
		}
		perms = req.Permissions
	}

	now := time.Now()
	tok := &Token{
		Value:          newTokenValue(),
		InstallationID: in.ID,
		IssuedAt:       now,
		ExpiresAt:      now.Add(s.lifetime).Truncate(time.Second),
		Permissions:    maps.Clone(perms),
	}
	answer := map[string]any{
		"token":                tok.Value,
		"expires_at":           tok.ExpiresAt.UTC().Format(time.RFC3339),
		"permissions":          maps.Clone(perms),
		"repository_selection": in.Selection,
	}
	if repos != nil {
		objs := make([]map[string]any, 0, len(repos))
		for _, repo := range repos {
			tok.Repositories = append(tok.Repositories, repo.Name)
			objs = append(objs, s.repoJSON(in, repo, base))
		}
		answer["repositories"] = objs
		answer["repository_selection"] = "selected"
	}
	s.tokens = append(s.tokens, tok)
	s.tokenIndex[tok.Value] = tok
	return http.StatusCreated, answer
}

// coveredRepos resolves the repositories a token request names, in the
// installation's order. It returns nil when none are named, and false when a
// name or id is not accessible to the installation (a name must be bare,
// matched case-insensitively).
func coveredRepos(in *Installation, names []string, ids []int64) ([]Repo, bool) {
	if len(names) == 0 && len(ids) == 0 {
		return nil, true
	}
	want := map[int64]bool{}
	for _, name := range names {
		repo, ok := in.repoByName(name)
		if !ok || strings.Contains(name, "/") {
			return nil, false
		}
		want[repo.ID] = true
	}
	for _, id := range ids {
		found := false
		for _, repo := range in.Repositories {
			if repo.ID == id {
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
		want[id] = true
	}
	var out []Repo
	for _, repo := range in.Repositories {
		if want[repo.ID] {
			out = append(out, repo)
		}
	}
	return out, true
}

// revokeToken serves DELETE /installation/token: the token authenticating
// the request revokes itself. A token that is unknown, expired or already
// revoked is refused as bad credentials.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, _ []string) {
	if status := s.revokeStatus(); status != 0 {
		writeError(w, status, http.StatusText(status),
			"https://docs.github.com/rest/apps/installations#revoke-an-installation-access-token")
		return
	}
	value, ok := installationToken(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, msgRequiresAuth, docsRoot)
		return
	}
	now := time.Now()
	s.mu.Lock()
	tok, found := s.tokenIndex[value]
	revoked := found && tok.Live(now)
	if revoked {
		tok.RevokedAt = now
	}
	s.mu.Unlock()
	if !revoked {
		writeError(w, http.StatusUnauthorized, msgBadCredentials, docsRoot)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// installationToken returns the credential of an "Authorization: Bearer X"
// or "Authorization: token X" header.
func installationToken(r *http.Request) (string, bool) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if cred == "" || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "token")) {
		return "", false
	}
	return cred, true
}

const listReposDocs = "https://docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-app-installation"

// listTokenRepositories serves GET /installation/repositories: the
// repositories the authenticating installation token can access (those it
// was scoped to, or all of its installation's), in pages of per_page
// (default 30, at most 100) with GitHub's Link header, as
// {"total_count", "repository_selection", "repositories"}. A token that is
// unknown, expired or revoked is refused as bad credentials; an App JWT is
// not an installation token and is refused the same way.
func (s *Server) listTokenRepositories(w http.ResponseWriter, r *http.Request, _ []string) {
	value, ok := installationToken(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, msgRequiresAuth, listReposDocs)
		return
	}
	perPage, page := pageParams(r)
	base := s.apiBase(r)
	s.mu.Lock()
	tok, found := s.tokenIndex[value]
	if !found || !tok.Live(time.Now()) {
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, msgBadCredentials, docsRoot)
		return
	}
	in := s.installations[tok.InstallationID]
	var all []Repo
	selection := "all"
	if in != nil {
		selection = in.Selection
		for _, repo := range in.Repositories {
			if len(tok.Repositories) == 0 || slices.ContainsFunc(tok.Repositories, func(n string) bool { return strings.EqualFold(n, repo.Name) }) {
				all = append(all, repo)
			}
		}
	}
	if len(tok.Repositories) > 0 {
		selection = "selected"
	}
	start := len(all)
	if page-1 <= len(all)/perPage {
		start = min((page-1)*perPage, len(all))
	}
	items := []map[string]any{}
	for _, repo := range all[start:min(start+perPage, len(all))] {
		items = append(items, s.repoJSON(in, repo, base))
	}
	s.mu.Unlock()
	last := max(1, (len(all)+perPage-1)/perPage)
	if link := pageLinks(base+"/installation/repositories", r.URL.RawQuery, page, last); link != "" {
		w.Header().Set("Link", link)
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "repository_selection": selection, "repositories": items})
}

// pageParams reads GitHub's pagination parameters as GitHub does: per_page
// defaults to 30 and is capped at 100, page starts at 1; a value that is
// not a positive integer is ignored.
func pageParams(r *http.Request) (perPage, page int) {
	q := r.URL.Query()
	perPage, page = defaultPerPage, 1
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, maxPerPage)
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	return perPage, page
}
