package proxy

import (
	"encoding/json"
	"strings"
	"testing"
)

// gql is a GraphQL request body.
func gql(query string, vars map[string]any, op string) string {
	m := map[string]any{"query": query}
	if vars != nil {
		m["variables"] = vars
	}
	if op != "" {
		m["operationName"] = op
	}
	b, _ := json.Marshal(m)
	return string(b)
}

const createMain = `mutation { createRef(input: {repositoryId: "R_1", name: "refs/heads/main", oid: "aa218f56b14c9653891f9e74264a383fa43fefbd"}) { ref { name } } }`

// TestGraphQLScope: queries pass; each mutation is checked with its real
// target, through aliases, fragments, variables, operation choice and
// batches; unlisted mutations and unreadable documents are refused; a
// refused request never reaches GitHub.
func TestGraphQLScope(t *testing.T) {
	e := scopedEnv(t, testScope)
	url := "https://api.github.com/graphql"
	cases := []struct {
		name, body string
		status     int
		rule, msg  string
	}{
		{"query", gql(`query { viewer { login } }`, nil, ""), 200, "", ""},
		{"shorthand query", gql(`{ repository(owner: "o", name: "r") { defaultBranchRef { name } } }`, nil, ""), 200, "", ""},
		{"createRef main", gql(createMain, nil, ""), 403, ruleOutOfScope, `mutation createRef would write branch "main" (create)`},
		{"createRef in scope", gql(`mutation { createRef(input: {repositoryId: "R_1", name: "refs/heads/agent/x", oid: "aa"}) { ref { name } } }`, nil, ""), 200, "", ""},
		{"createRef tag", gql(`mutation { createRef(input: {repositoryId: "R_1", name: "refs/tags/v3", oid: "aa"}) { ref { name } } }`, nil, ""), 403, ruleNotBranch, "not a branch"},
		{"aliased", gql(`mutation { ok: addComment(input: {subjectId: "I_1", body: "hi"}) { clientMutationId } sneaky: createRef(input: {repositoryId: "R_1", name: "refs/heads/main", oid: "aa"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"named fragment", gql(`mutation { ...M } fragment M on Mutation { createRef(input: {repositoryId: "R_1", name: "refs/heads/main", oid: "aa"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"nested fragments", gql(`mutation { ...A } fragment A on Mutation { ... on Mutation { ...B } } fragment B on Mutation { deleteRef(input: {refId: "REF_main"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `mutation deleteRef would write branch "main" (delete)`},
		{"skipped field still checked", gql(`mutation { createRef(input: {repositoryId: "R_1", name: "refs/heads/main", oid: "aa"}) @skip(if: true) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"variable", gql(`mutation($n: String!) { createRef(input: {repositoryId: "R_1", name: $n, oid: "aa"}) { clientMutationId } }`, map[string]any{"n": "refs/heads/main"}, ""), 403, ruleOutOfScope, `"main"`},
		{"input object variable", gql(`mutation($i: CreateRefInput!) { createRef(input: $i) { clientMutationId } }`, map[string]any{"i": map[string]any{"repositoryId": "R_1", "name": "refs/heads/main", "oid": "aa"}}, ""), 403, ruleOutOfScope, `"main"`},
		{"variable default", gql(`mutation($n: String = "refs/heads/main") { createRef(input: {repositoryId: "R_1", name: $n, oid: "aa"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"variable over default", gql(`mutation($n: String = "refs/heads/main") { createRef(input: {repositoryId: "R_1", name: $n, oid: "aa"}) { clientMutationId } }`, map[string]any{"n": "refs/heads/agent/v"}, ""), 200, "", ""},
		{"undefined variable", gql(`mutation { createRef(input: {repositoryId: "R_1", name: $n, oid: "aa"}) { clientMutationId } }`, map[string]any{"n": "refs/heads/agent/v"}, ""), 400, ruleMalformed, "not defined"},
		{"block string", gql("mutation { createRef(input: {repositoryId: \"R_1\", name: \"\"\"\n    refs/heads/main\n  \"\"\", oid: \"aa\"}) { clientMutationId } }", nil, ""), 403, ruleOutOfScope, `"main"`},
		{"unicode escape", gql(`mutation { createRef(input: {repositoryId: "R_1", name: "refs/heads/\u006dain", oid: "aa"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"comment hides nothing", gql("mutation { # addComment(input: {}) { clientMutationId } }\n createRef(input: {repositoryId: \"R_1\", name: \"refs/heads/main\", oid: \"aa\"}) { clientMutationId } }", nil, ""), 403, ruleOutOfScope, `"main"`},
		{"second operation chosen", gql(`query Q { viewer { login } } `+strings.Replace(createMain, "mutation {", "mutation M {", 1), nil, "M"), 403, ruleOutOfScope, `"main"`},
		{"query chosen", gql(`query Q { viewer { login } } `+strings.Replace(createMain, "mutation {", "mutation M {", 1), nil, "Q"), 200, "", ""},
		{"no operationName", gql(`query Q { viewer { login } } `+strings.Replace(createMain, "mutation {", "mutation M {", 1), nil, ""), 400, ruleMalformed, "2 operations and no operationName"},
		{"unknown operationName", gql(`query Q { viewer { login } }`, nil, "X"), 400, ruleMalformed, `no operation is named "X"`},
		{"batch with a mutation", `[` + gql(`query { viewer { login } }`, nil, "") + `,` + gql(createMain, nil, "") + `]`, 403, ruleOutOfScope, `"main"`},
		{"batch of allowed", `[` + gql(`query { viewer { login } }`, nil, "") + `,` + gql(`mutation { addComment(input: {subjectId: "I_1", body: "b"}) { clientMutationId } }`, nil, "") + `]`, 200, "", ""},
		{"subscription", gql(`subscription { issueUpdated { id } }`, nil, ""), 400, ruleMalformed, "subscriptions"},
		{"does not parse", gql(`mutation { createRef(input: {name: "refs/heads/main" }`, nil, ""), 400, ruleMalformed, "does not parse"},
		{"duplicate JSON key", `{"query":"query { viewer { login } }","query":"` + strings.ReplaceAll(createMain, `"`, `\"`) + `"}`, 400, ruleMalformed, `names the key "query" twice`},
		{"variables as a string", `{"query":"mutation($n: String!) { createRef(input: {name: $n}) { clientMutationId } }","variables":"{\"n\":\"refs/heads/main\"}"}`, 400, ruleMalformed, `"variables" is not an object`},
		{"no query", `{"id":"persisted"}`, 400, ruleMalformed, `without "query"`},
		{"updateRef by id, main", gql(`mutation { updateRef(input: {refId: "REF_main", oid: "bb", force: true}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `mutation updateRef would write branch "main" (update, force allowed)`},
		{"updateRef by id, in scope", gql(`mutation { updateRef(input: {refId: "REF_agent", oid: "bb"}) { clientMutationId } }`, nil, ""), 200, "", ""},
		{"deleteRef of a tag", gql(`mutation { deleteRef(input: {refId: "REF_tag"}) { clientMutationId } }`, nil, ""), 403, ruleNotBranch, `"refs/tags/v1"`},
		{"ref id of an issue", gql(`mutation { deleteRef(input: {refId: "ISSUE_1"}) { clientMutationId } }`, nil, ""), 400, ruleMalformed, "not a Ref"},
		{"unknown node", gql(`mutation { deleteRef(input: {refId: "NOPE"}) { clientMutationId } }`, nil, ""), 502, ruleLookup, "could not look up node"},
		{"updateRefs, one object", gql(`mutation { updateRefs(input: {repositoryId: "R_1", refUpdates: {name: "refs/heads/main", afterOid: "bb", force: true}}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"updateRefs, list", gql(`mutation { updateRefs(input: {repositoryId: "R_1", refUpdates: [{name: "refs/heads/agent/x", afterOid: "bb"}, {name: "refs/heads/docs-fix", afterOid: "bb"}]}) { clientMutationId } }`, nil, ""), 200, "", ""},
		{"createCommitOnBranch by name", gql(`mutation { createCommitOnBranch(input: {branch: {repositoryNameWithOwner: "o/r", branchName: "main"}, message: {headline: "x"}, expectedHeadOid: "aa"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"createCommitOnBranch by id", gql(`mutation { createCommitOnBranch(input: {branch: {id: "REF_main"}, message: {headline: "x"}, expectedHeadOid: "aa"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"createCommitOnBranch id and name", gql(`mutation { createCommitOnBranch(input: {branch: {id: "REF_main", branchName: "agent/x"}, message: {headline: "x"}, expectedHeadOid: "aa"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"createCommitOnBranch in scope", gql(`mutation { createCommitOnBranch(input: {branch: {repositoryNameWithOwner: "o/r", branchName: "agent/x"}, message: {headline: "x"}, expectedHeadOid: "aa"}) { clientMutationId } }`, nil, ""), 200, "", ""},
		{"createCommitOnBranch refs/heads", gql(`mutation { createCommitOnBranch(input: {branch: {repositoryNameWithOwner: "o/r", branchName: "refs/heads/agent/x"}, message: {headline: "x"}, expectedHeadOid: "aa"}) { clientMutationId } }`, nil, ""), 400, ruleMalformed, "reads as a ref path"},
		{"mergeBranch main", gql(`mutation { mergeBranch(input: {repositoryId: "R_1", base: "main", head: "agent/x"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"mergePullRequest into main", gql(`mutation { mergePullRequest(input: {pullRequestId: "PR_main"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, "merge into the pull request's base"},
		{"mergePullRequest in scope", gql(`mutation { mergePullRequest(input: {pullRequestId: "PR_agent"}) { clientMutationId } }`, nil, ""), 200, "", ""},
		{"auto-merge into main", gql(`mutation { enablePullRequestAutoMerge(input: {pullRequestId: "PR_main"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, "a later merge"},
		{"enqueue into main", gql(`mutation { enqueuePullRequest(input: {pullRequestId: "PR_main"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, "merge-queue"},
		{"update a PR branch, head main", gql(`mutation { updatePullRequestBranch(input: {pullRequestId: "PR_headmain"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, "head"},
		{"retarget to main", gql(`mutation { updatePullRequest(input: {pullRequestId: "PR_agent", baseRefName: "main"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, "new base"},
		{"edit a PR", gql(`mutation { updatePullRequest(input: {pullRequestId: "PR_main", title: "t"}) { clientMutationId } }`, nil, ""), 200, "", ""},
		{"revertPullRequest", gql(`mutation { revertPullRequest(input: {pullRequestId: "PR_agent"}) { clientMutationId } }`, nil, ""), 403, ruleNotListed, "creates a branch GitHub names"},
		{"linked branch unnamed", gql(`mutation { createLinkedBranch(input: {issueId: "I_1", oid: "aa"}) { clientMutationId } }`, nil, ""), 403, ruleNotListed, "GitHub names"},
		{"linked branch main", gql(`mutation { createLinkedBranch(input: {issueId: "I_1", oid: "aa", name: "main"}) { clientMutationId } }`, nil, ""), 403, ruleOutOfScope, `"main"`},
		{"unlisted mutation", gql(`mutation { deleteRepository(input: {repositoryId: "R_1"}) { clientMutationId } }`, nil, ""), 403, ruleNotListed, "mutation deleteRepository is not a write"},
		{"case matters", gql(`mutation { CreateRef(input: {name: "refs/heads/agent/x"}) { clientMutationId } }`, nil, ""), 403, ruleNotListed, "mutation CreateRef"},
		{"listed", gql(`mutation { addComment(input: {subjectId: "I_1", body: "b"}) { clientMutationId } createPullRequest(input: {repositoryId: "R_1", baseRefName: "main", headRefName: "agent/x", title: "t"}) { clientMutationId } }`, nil, ""), 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, got, _ := e.send("POST", url, []byte(c.body), nil)
			passed := e.reached("POST", "/graphql", []byte(c.body))
			if c.status == 200 {
				if status != 200 || !passed {
					t.Fatalf("%d %q, reached: %v; want passed on", status, got, passed)
				}
				return
			}
			if passed {
				t.Error("a refused request reached GitHub")
			}
			var m struct {
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
				Errors  []struct {
					Type, Message string
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(got), &m); err != nil || len(m.Errors) != 1 || m.Errors[0].Message != m.Message || m.Errors[0].Type != "FORBIDDEN" {
				t.Fatalf("not the refusal's shape: %q", got)
			}
			// A scope refusal is GitHub's FORBIDDEN answer: 200 and
			// "data": null; the others keep their HTTP status.
			want := c.status
			if want == 403 {
				want = 200
				if string(m.Data) != "null" {
					t.Errorf("a FORBIDDEN answer without \"data\": null: %q", got)
				}
			}
			if status != want || !strings.Contains(m.Message, "(rule "+c.rule+")") || !strings.Contains(m.Message, c.msg) || !strings.HasSuffix(m.Message, scopeMsg) {
				t.Errorf("%d %q; want %d, rule %s, %q", status, m.Message, c.status, c.rule, c.msg)
			}
		})
	}
	// GHES: /api/graphql, with node lookups on the same path.
	status, got, _ := e.send("POST", "https://github.com/api/graphql", []byte(gql(`mutation { deleteRef(input: {refId: "REF_main"}) { clientMutationId } }`, nil, "")), nil)
	if status != 200 || !strings.Contains(got, `"type":"FORBIDDEN"`) || !strings.Contains(got, `would write branch \"main\" (delete)`) {
		t.Errorf("GHES GraphQL: %d %s", status, got)
	}
	// A GET with a document in the query string.
	status, _, _ = e.send("GET", url+"?query="+strings.ReplaceAll(createMain, " ", "+"), nil, nil)
	if status != 400 {
		t.Errorf("GET /graphql?query=mutation: %d", status)
	}
	// A POST whose query string could choose another operation, or give
	// variables the body does not, at a server that merges the two.
	two := gql(`query Q { viewer { login } }  `+strings.Replace(createMain, "mutation {", "mutation M {", 1), nil, "Q")
	status, got, _ = e.send("POST", url+"?operationName=M", []byte(two), nil)
	if status != 400 || !strings.Contains(got, "has a query string") || e.reached("POST", "/graphql", []byte(two)) {
		t.Errorf("POST /graphql?operationName=M: %d %s", status, got)
	}
}
