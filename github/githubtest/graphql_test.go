package githubtest_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// ghRepoViewQuery is the query gh 2.23 sends for `gh repo view OWNER/NAME`,
// as recorded from it.
const ghRepoViewQuery = "query RepositoryInfo($owner: String!, $name: String!) {\n\t\trepository(owner: $owner, name: $name) {name,owner{id,login},description}\n\t}"

type gqlAnswer struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Type       string         `json:"type"`
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func graphql(t *testing.T, s *githubtest.Server, token, query string, vars map[string]any) (response, gqlAnswer) {
	t.Helper()
	auth := ""
	if token != "" {
		auth = "token " + token
	}
	r := do(t, http.MethodPost, s.URL+"/graphql", auth, map[string]any{"query": query, "variables": vars})
	var a gqlAnswer
	if r.StatusCode == http.StatusOK {
		r.json(t, &a)
	}
	return r, a
}

func TestGraphQLRepository(t *testing.T) {
	s := newServer(t)
	id := s.AddInstallation("acme", "Organization", "widgets", "gadgets").ID
	s.AddInstallation("other", "Organization", "secret")
	var tok, gadgets tokenAnswer
	mint(t, s, id, nil, http.StatusCreated).json(t, &tok)
	mint(t, s, id, map[string]any{"repositories": []string{"gadgets"}}, http.StatusCreated).json(t, &gadgets)
	vars := map[string]any{"owner": "acme", "name": "widgets"}

	r, a := graphql(t, s, tok.Token, ghRepoViewQuery, vars)
	wantStatus(t, r, http.StatusOK)
	if len(a.Errors) != 0 {
		t.Fatalf("errors %+v", a.Errors)
	}
	// Fields in the query's order, and only those asked.
	body := string(r.body)
	if !strings.HasPrefix(body, `{"data":{"repository":{"name":"widgets","owner":{"id":"`) || !strings.Contains(body, `"login":"acme"},"description":`) {
		t.Errorf("body %s: not the fields asked, in the query's order", body)
	}
	repo := a.Data["repository"].(map[string]any)
	if len(repo) != 3 || repo["owner"].(map[string]any)["login"] != "acme" || !strings.Contains(repo["description"].(string), "acme/widgets") {
		t.Errorf("repository %v", repo)
	}

	// Literal arguments, aliases, __typename and more fields.
	r, a = graphql(t, s, tok.Token, `{ r: repository(owner: "ACME", name: "gadgets") { __typename nameWithOwner databaseId isPrivate defaultBranchRef { name } owner { __typename login } } }`, nil)
	wantStatus(t, r, http.StatusOK)
	got := a.Data["r"].(map[string]any)
	if got["__typename"] != "Repository" || got["nameWithOwner"] != "acme/gadgets" || got["databaseId"].(float64) != float64(githubtest.FirstRepositoryID+1) ||
		got["defaultBranchRef"].(map[string]any)["name"] != "main" || got["owner"].(map[string]any)["__typename"] != "Organization" {
		t.Errorf("repository %v", got)
	}

	// Not covered by the token, or another account's: not found, as GitHub
	// hides what a token cannot see.
	for _, c := range []struct{ token, owner, name string }{{gadgets.Token, "acme", "widgets"}, {tok.Token, "other", "secret"}, {tok.Token, "acme", "nope"}} {
		_, a = graphql(t, s, c.token, ghRepoViewQuery, map[string]any{"owner": c.owner, "name": c.name})
		if a.Data["repository"] != nil || len(a.Errors) != 1 || a.Errors[0].Type != "NOT_FOUND" ||
			a.Errors[0].Message != "Could not resolve to a Repository with the name '"+c.owner+"/"+c.name+"'." {
			t.Errorf("%s/%s: %+v", c.owner, c.name, a)
		}
	}

	// Anything the double cannot answer truthfully is an error, with no
	// data.
	for query, want := range map[string]string{
		`{ repository(owner: "acme", name: "widgets") { name stargazerCount } }`:     "Field 'stargazerCount' doesn't exist on type 'Repository'",
		`{ stargazers { totalCount } }`:                                              "Field 'stargazers' doesn't exist on type 'Query'",
		`{ repository(owner: "acme", name: "widgets") { owner } }`:                   "Field must have selections",
		`{ repository(owner: "acme", name: "widgets") { name { x } } }`:              "Selections can't be made on scalars",
		`mutation { addStar(input: {}) { clientMutationId } }`:                       "Field 'addStar' doesn't exist on type 'Mutation'",
		`{ repository(owner: "acme", name: "widgets") { ...F } }`:                    "Unknown fragment",
		`{ repository(owner: "acme", name: "widgets", private: true) { name } }`:     "Field 'repository' doesn't accept argument 'private'",
		`query A { viewer { login } } query B { viewer { login } }`:                  "An operation name is required",
		`{ repository(owner: "acme") { name } }`:                                     "missing required arguments: name",
		`query Q($owner: String!) { repository(owner: $owner, name: "w") { name } }`: "Variable $owner of type String! was provided invalid value",
		`{ repository(owner: "acme", name: "widgets") { name }`:                      "Parse error",
	} {
		r, a := graphql(t, s, tok.Token, query, nil)
		wantStatus(t, r, http.StatusOK)
		said := false
		for _, e := range a.Errors {
			said = said || strings.Contains(e.Message, want)
		}
		if a.Data != nil || !said || strings.Contains(string(r.body), `"data"`) {
			t.Errorf("%s: %s, want only errors, one saying %q", query, r.body, want)
		}
	}

	// Authentication as GitHub's: a live installation token.
	if r, _ := graphql(t, s, "", ghRepoViewQuery, vars); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", r.StatusCode)
	}
	s.RevokeToken(gadgets.Token)
	if r, _ := graphql(t, s, gadgets.Token, ghRepoViewQuery, vars); r.StatusCode != http.StatusUnauthorized || r.message(t) != "Bad credentials" {
		t.Errorf("revoked token: %d %s", r.StatusCode, r.body)
	}
	if r := do(t, http.MethodPost, s.URL+"/graphql", "Bearer "+appJWT(t, s), map[string]any{"query": ghRepoViewQuery, "variables": vars}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("App JWT: %d", r.StatusCode)
	}
}

func TestGetRepositoryAndReadme(t *testing.T) {
	s := newServer(t)
	id := s.AddInstallation("acme", "Organization", "widgets", "gadgets").ID
	var tok, gadgets, noContents tokenAnswer
	mint(t, s, id, nil, http.StatusCreated).json(t, &tok)
	mint(t, s, id, map[string]any{"repositories": []string{"gadgets"}}, http.StatusCreated).json(t, &gadgets)
	mint(t, s, id, map[string]any{"permissions": map[string]string{"issues": "read"}}, http.StatusCreated).json(t, &noContents)

	var repo struct {
		ID            int64  `json:"id"`
		FullName      string `json:"full_name"`
		DefaultBranch string `json:"default_branch"`
	}
	r := do(t, http.MethodGet, s.URL+"/repos/acme/widgets", "Bearer "+tok.Token, nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &repo)
	if repo.ID != githubtest.FirstRepositoryID || repo.FullName != "acme/widgets" || repo.DefaultBranch != "main" {
		t.Errorf("repository %+v", repo)
	}
	wantStatus(t, do(t, http.MethodGet, s.URL+"/repos/acme/widgets", "token "+noContents.Token, nil), http.StatusOK) // metadata suffices
	wantStatus(t, do(t, http.MethodGet, s.URL+"/repos/acme/widgets", "Bearer "+gadgets.Token, nil), http.StatusNotFound)
	wantStatus(t, do(t, http.MethodGet, s.URL+"/repos/acme/nope", "Bearer "+tok.Token, nil), http.StatusNotFound)
	wantStatus(t, do(t, http.MethodGet, s.URL+"/repos/acme/widgets", "", nil), http.StatusUnauthorized)
	wantStatus(t, do(t, http.MethodGet, s.URL+"/repos/acme/widgets", "Bearer ghs_"+strings.Repeat("x", 516), nil), http.StatusUnauthorized)

	var readme struct {
		Name, Encoding, Content string
	}
	r = do(t, http.MethodGet, s.URL+"/repos/acme/widgets/readme", "Bearer "+tok.Token, nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &readme)
	text, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(readme.Content, "\n", ""))
	if err != nil || readme.Name != "README.md" || readme.Encoding != "base64" || !strings.HasPrefix(string(text), "# acme/widgets\n") {
		t.Errorf("readme %+v %q %v", readme, text, err)
	}
	if r := do(t, http.MethodGet, s.URL+"/repos/acme/widgets/readme", "Bearer "+noContents.Token, nil); r.StatusCode != http.StatusForbidden || r.message(t) != "Resource not accessible by integration" {
		t.Errorf("readme without contents: %d %s", r.StatusCode, r.body)
	}
}
