package githubtest

// The GraphQL endpoint: authentication and the request's JSON (one request,
// or a batch as an array); the documents are validated against
// schema.graphql and executed by gqlexec.go. A field the schema lacks is a
// validation error, never a made-up answer.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

const graphqlDocs = "https://docs.github.com/graphql"

// graphqlPath is where GraphQL lives: /graphql on api.github.com, /api/graphql
// on GitHub Enterprise Server (prefix /api/v3).
func (s *Server) graphqlPath() string {
	if s.prefix == "" {
		return "/graphql"
	}
	return strings.TrimSuffix(s.prefix, "/v3") + "/graphql"
}

// gqlRequest is one GraphQL request.
type gqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

// serveGraphQL answers POST /graphql: a request object, or an array of them
// answered by an array.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, msgNotFound, graphqlDocs)
		return
	}
	tok, ok := s.tokenAuth(w, r, graphqlDocs)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, msgBadJSON, graphqlDocs)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	base := s.apiBase(r)
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' {
		var reqs []gqlRequest
		if err := dec.Decode(&reqs); err != nil {
			writeError(w, http.StatusBadRequest, msgBadJSON, graphqlDocs)
			return
		}
		var docs []string
		for _, q := range reqs {
			docs = append(docs, q.Query)
		}
		s.recordGraphQL(r, docs)
		out := []any{}
		for _, q := range reqs {
			out = append(out, s.runGraphQL(tok, base, q.Query, q.Variables, q.OperationName))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	var req gqlRequest
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, msgBadJSON, graphqlDocs)
		return
	}
	s.recordGraphQL(r, []string{req.Query})
	if strings.TrimSpace(req.Query) == "" {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []gqlError{{Message: "A query attribute must be specified and must be a string."}}})
		return
	}
	writeJSON(w, http.StatusOK, s.runGraphQL(tok, base, req.Query, req.Variables, req.OperationName))
}

// tokenAuth authenticates r by an installation token, as the REST and
// GraphQL APIs do, answering 401 if it carries none or a dead one.
func (s *Server) tokenAuth(w http.ResponseWriter, r *http.Request, doc string) (Token, bool) {
	cred, ok := installationToken(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, msgRequiresAuth, doc)
		return Token{}, false
	}
	tok, found := s.LookupToken(cred)
	if !found || !tok.Live(time.Now()) {
		writeError(w, http.StatusUnauthorized, msgBadCredentials, doc)
		return Token{}, false
	}
	return tok, true
}

// visibleRepo finds owner/name among what tok covers.
func (s *Server) visibleRepo(tok Token, owner, name string) (*Installation, Repo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.installations[tok.InstallationID]
	if in == nil || !strings.EqualFold(in.Account, owner) {
		return nil, Repo{}, false
	}
	repo, ok := in.repoByName(name)
	if !ok || !tokenCovers(&tok, repo) {
		return nil, Repo{}, false
	}
	return in, repo, true
}
