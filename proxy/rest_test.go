package proxy

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

var testScope = []string{"agent/*", "docs-fix"}

const scopeMsg = "This session may write only branches matching: agent/*, docs-fix ('*' matches within one '/'-separated part)."

// restCase is one write through the proxy and what must come of it.
type restCase struct {
	name        string
	method, url string
	body        string
	hdr         map[string]string
	status      int    // the client's status; 200 means passed on
	rule, ref   string // a refusal's rule and ref
	msg         string // part of the refusal's message
}

func runWrites(t *testing.T, e *env, cases []restCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			status, got, _ := e.send(c.method, c.url, body, c.hdr)
			u, _ := url.Parse(c.url)
			path := u.Path
			passed := e.reached(c.method, path, body)
			if c.status == 200 {
				if status != 200 || !passed {
					t.Fatalf("%s %s: %d %q, reached upstream unchanged: %v; want it passed on", c.method, c.url, status, got, passed)
				}
				if l := e.lineFor(c.method, path); l["refused"] != nil {
					t.Errorf("a passed request logged refused=%v", l["refused"])
				}
				return
			}
			if passed {
				t.Errorf("a refused request reached upstream")
			}
			var m struct {
				Message string `json:"message"`
				Doc     string `json:"documentation_url"`
			}
			if err := json.Unmarshal([]byte(got), &m); err != nil {
				t.Fatalf("the refusal is not GitHub's JSON error shape: %q", got)
			}
			if status != c.status || !strings.HasPrefix(m.Message, "github-token-proxy: refused: ") ||
				!strings.Contains(m.Message, "(rule "+c.rule+")") || !strings.Contains(m.Message, c.msg) || !strings.HasSuffix(m.Message, scopeMsg) {
				t.Errorf("%s %s: %d %q; want %d, rule %s, message with %q", c.method, c.url, status, m.Message, c.status, c.rule, c.msg)
			}
			if m.Doc != scopeDocs {
				t.Errorf("documentation_url %q", m.Doc)
			}
			l := e.lineFor(c.method, path)
			if l["refused"] != c.rule || (c.ref != "" && l["ref"] != c.ref) {
				t.Errorf("audit line refused=%v ref=%v; want %s %s", l["refused"], l["ref"], c.rule, c.ref)
			}
		})
	}
}

const api = "https://api.github.com/repos/o/r"
const sha = `"sha":"aa218f56b14c9653891f9e74264a383fa43fefbd"`

// TestRESTRefWrites: every REST route that moves a ref is decided on the
// ref GitHub would write; refused ones never reach GitHub, allowed ones
// reach it unchanged.
func TestRESTRefWrites(t *testing.T) {
	e := scopedEnv(t, testScope)
	runWrites(t, e, []restCase{
		{name: "create in scope", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads/agent/x",` + sha + `}`, status: 200},
		{name: "create main", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads/main",` + sha + `}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main", msg: `POST /repos/o/r/git/refs would write branch "main" (create), which is outside this session's write scope`},
		{name: "create a tag", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/tags/v2",` + sha + `}`, status: 403, rule: ruleNotBranch, ref: "refs/tags/v2", msg: "which is not a branch"},
		{name: "create ../main", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads/agent/../main",` + sha + `}`, status: 403, rule: ruleNotBranch, ref: "refs/heads/agent/../main"},
		{name: "create //main", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads//main",` + sha + `}`, status: 403, rule: ruleNotBranch},
		{name: "create .lock", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads/agent/x.lock",` + sha + `}`, status: 403, rule: ruleNotBranch},
		{name: "create HEAD", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads/HEAD",` + sha + `}`, status: 403, rule: ruleNotBranch},
		{name: "create Agent (case)", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads/Agent/x",` + sha + `}`, status: 403, rule: ruleOutOfScope},
		{name: "duplicate key", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads/agent/x","ref":"refs/heads/main",` + sha + `}`, status: 400, rule: ruleMalformed, msg: `names the key "ref" twice`},
		{name: "key in another case", method: "POST", url: api + "/git/refs", body: `{"Ref":"refs/heads/agent/x",` + sha + `}`, status: 400, rule: ruleMalformed, msg: `needs "ref"`},
		{name: "not JSON", method: "POST", url: api + "/git/refs", body: `ref=refs/heads/agent/x`, status: 400, rule: ruleMalformed, msg: "not JSON"},
		{name: "invalid UTF-8", method: "POST", url: api + "/git/refs", body: "{\"ref\":\"refs/heads/agent/\xff\"}", status: 400, rule: ruleMalformed, msg: "UTF-8"},
		{name: "update main", method: "PATCH", url: api + "/git/refs/heads/main", body: `{` + sha + `,"force":true}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "update in scope", method: "PATCH", url: api + "/git/refs/heads/agent/x", body: `{` + sha + `,"force":true}`, status: 200},
		{name: "update, ref in body too", method: "PATCH", url: api + "/git/refs/heads/agent/x", body: `{"ref":"refs/heads/main",` + sha + `}`, status: 400, rule: ruleMalformed, msg: "in the body as well"},
		{name: "update a tag", method: "PATCH", url: api + "/git/refs/tags/v1", body: `{` + sha + `}`, status: 403, rule: ruleNotBranch, ref: "refs/tags/v1"},
		{name: "update refs/heads path", method: "PATCH", url: api + "/git/refs/refs/heads/agent/x", body: `{` + sha + `}`, status: 403, rule: ruleNotBranch, ref: "refs/refs/heads/agent/x"},
		{name: "update %2F", method: "PATCH", url: api + "/git/refs/heads%2Fmain", body: `{` + sha + `}`, status: 400, rule: ruleMalformed, msg: "encoded '/'"},
		{name: "update double-encoded", method: "PATCH", url: api + "/git/refs/heads/agent/%252e%252e", body: `{` + sha + `}`, status: 400, rule: ruleMalformed, msg: "twice"},
		{name: "update dot-dot", method: "PATCH", url: api + "/git/refs/heads/agent/../main", body: `{` + sha + `}`, status: 400, rule: ruleMalformed, msg: "'..'"},
		{name: "update encoded dot-dot", method: "PATCH", url: api + "/git/refs/heads/agent/%2E%2E/main", body: `{` + sha + `}`, status: 400, rule: ruleMalformed, msg: "'..'"},
		{name: "update empty segment", method: "PATCH", url: api + "/git/refs/heads//main", body: `{` + sha + `}`, status: 400, rule: ruleMalformed, msg: "empty"},
		{name: "update in upper case", method: "PATCH", url: "https://api.github.com/REPOS/o/r/GIT/REFS/heads/main", body: `{` + sha + `}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "update percent-encoded name", method: "PATCH", url: api + "/git/refs/heads/ma%69n", body: `{` + sha + `}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "update with a query", method: "PATCH", url: api + "/git/refs/heads/agent/x?ref=heads/main", body: `{` + sha + `}`, status: 400, rule: ruleMalformed, msg: "query string"},
		{name: "delete in scope", method: "DELETE", url: api + "/git/refs/heads/agent/x", status: 200},
		{name: "delete another branch", method: "DELETE", url: api + "/git/refs/heads/users-work", status: 403, rule: ruleOutOfScope, ref: "refs/heads/users-work"},
		{name: "by repository id", method: "DELETE", url: "https://api.github.com/repositories/123456789/git/refs/heads/agent/x", status: 400, rule: ruleMalformed, msg: "/repositories/{id}"},
		{name: "contents, no branch: the default", method: "PUT", url: api + "/contents/README.md", body: `{"message":"m","content":"aGk="}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main", msg: `(no "branch" given: the default branch)`},
		{name: "contents, branch null", method: "PUT", url: api + "/contents/README.md", body: `{"message":"m","content":"aGk=","branch":null}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "contents, Branch in another case", method: "PUT", url: api + "/contents/README.md", body: `{"message":"m","content":"aGk=","Branch":"agent/x"}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "contents, branch in scope", method: "PUT", url: api + "/contents/dir/README.md", body: `{"message":"m","content":"aGk=","branch":"agent/x"}`, status: 200},
		{name: "contents, default in scope", method: "PUT", url: "https://api.github.com/repos/o/agent-default/contents/a", body: `{"message":"m","content":"aGk="}`, status: 200},
		{name: "contents, refs/heads spelled", method: "PUT", url: api + "/contents/a", body: `{"message":"m","content":"aGk=","branch":"refs/heads/agent/x"}`, status: 400, rule: ruleMalformed, msg: "reads as a ref path"},
		{name: "contents delete on main", method: "DELETE", url: api + "/contents/a", body: `{"message":"m",` + sha + `,"branch":"main"}`, status: 403, rule: ruleOutOfScope},
		{name: "contents, unknown repository", method: "PUT", url: "https://api.github.com/repos/o/gone/contents/a", body: `{"message":"m","content":"aGk="}`, status: 502, rule: ruleLookup, msg: "GitHub answered 404"},
		{name: "merges into main", method: "POST", url: api + "/merges", body: `{"base":"main","head":"agent/x"}`, status: 403, rule: ruleOutOfScope},
		{name: "merges in scope", method: "POST", url: api + "/merges", body: `{"base":"agent/x","head":"main"}`, status: 200},
		{name: "merges without base", method: "POST", url: api + "/merges", body: `{"head":"main"}`, status: 400, rule: ruleMalformed},
		{name: "merge a PR into main", method: "PUT", url: api + "/pulls/7/merge", body: `{}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main", msg: "merge into pull request #7's base"},
		{name: "merge a PR in scope", method: "PUT", url: api + "/pulls/8/merge", status: 200},
		{name: "update-branch, head outside", method: "PUT", url: api + "/pulls/7/update-branch", status: 403, rule: ruleOutOfScope, ref: "refs/heads/other"},
		{name: "update-branch, head inside", method: "PUT", url: api + "/pulls/8/update-branch", status: 200},
		{name: "retarget a PR to main", method: "PATCH", url: api + "/pulls/8", body: `{"base":"main"}`, status: 403, rule: ruleOutOfScope, msg: "new base of pull request #8"},
		{name: "retarget a PR in scope", method: "PATCH", url: api + "/pulls/7", body: `{"base":"agent/x"}`, status: 200},
		{name: "edit a PR", method: "PATCH", url: api + "/pulls/7", body: `{"title":"t","state":"closed"}`, status: 200},
		{name: "merge-upstream main", method: "POST", url: api + "/merge-upstream", body: `{"branch":"main"}`, status: 403, rule: ruleOutOfScope},
		{name: "rename to main", method: "POST", url: api + "/branches/agent/x/rename", body: `{"new_name":"main"}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "rename main", method: "POST", url: api + "/branches/main/rename", body: `{"new_name":"agent/main"}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "rename in scope", method: "POST", url: api + "/branches/agent/x/rename", body: `{"new_name":"agent/z"}`, status: 200},
		{name: "release of a new tag", method: "POST", url: api + "/releases", body: `{"tag_name":"v9","target_commitish":"agent/x"}`, status: 403, rule: ruleNotBranch, ref: "refs/tags/v9", msg: "creates the tag"},
		{name: "release of a tag that exists", method: "POST", url: api + "/releases", body: `{"tag_name":"v1"}`, status: 200},
		{name: "publish a release of a new tag", method: "PATCH", url: api + "/releases/5", body: `{"draft":false}`, status: 403, rule: ruleNotBranch, ref: "refs/tags/v9"},
		{name: "edit a release of a tag that exists", method: "PATCH", url: api + "/releases/6", body: `{"name":"n"}`, status: 200},
		{name: "default branch from main", method: "PATCH", url: api, body: `{"default_branch":"agent/x"}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main", msg: "the current default branch"},
		{name: "default branch to main", method: "PATCH", url: "https://api.github.com/repos/o/agent-default", body: `{"default_branch":"main"}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "default branch in scope", method: "PATCH", url: "https://api.github.com/repos/o/agent-default", body: `{"default_branch":"agent/x"}`, status: 200},
		{name: "repository settings", method: "PATCH", url: api, body: `{"private":false}`, status: 403, rule: ruleNotListed, msg: "repository settings"},
		{name: "GHES prefix", method: "PATCH", url: "https://api.github.com/api/v3/repos/o/r/git/refs/heads/main", body: `{` + sha + `}`, status: 403, rule: ruleOutOfScope},
		{name: "GHES default branch lookup", method: "PUT", url: "https://api.github.com/api/v3/repos/o/r/contents/a", body: `{"message":"m","content":"aGk="}`, status: 403, rule: ruleOutOfScope, ref: "refs/heads/main"},
		{name: "method override", method: "POST", url: api + "/issues", body: `{"title":"t"}`, hdr: map[string]string{"X-HTTP-Method-Override": "DELETE"}, status: 400, rule: ruleMalformed, msg: "X-Http-Method-Override"},
		{name: "compressed body", method: "POST", url: api + "/git/refs", body: `{"ref":"refs/heads/agent/x"}`, hdr: map[string]string{"Content-Encoding": "gzip"}, status: 400, rule: ruleMalformed, msg: "Content-Encoding"},
	})
	// Every lookup went to GitHub with the token, never the client's.
	for _, r := range e.github.requests() {
		if r.Authorization != "Bearer "+e.token {
			t.Errorf("%s %s reached GitHub without the token", r.Method, r.Path)
		}
	}
}

// TestRESTLists: writes that move no ref pass from the list, unchanged
// and without their body being read; every other write is refused with a
// 403 that names the method, the path and the rule.
func TestRESTLists(t *testing.T) {
	e := scopedEnv(t, testScope)
	var cases []restCase
	for _, w := range [][2]string{
		{"POST", api + "/issues"}, {"PATCH", api + "/issues/3"}, {"POST", api + "/issues/3/comments"},
		{"POST", api + "/issues/3/labels"}, {"DELETE", api + "/issues/3/labels/bug"}, {"POST", api + "/issues/3/assignees"},
		{"POST", api + "/issues/3/reactions"}, {"POST", api + "/pulls"}, {"POST", api + "/pulls/3/reviews"},
		{"POST", api + "/pulls/3/comments"}, {"POST", api + "/pulls/3/requested_reviewers"},
		{"POST", api + "/commits/abc/comments"}, {"POST", api + "/check-runs"}, {"PATCH", api + "/check-runs/4"},
		{"POST", api + "/statuses/abc"}, {"POST", api + "/git/blobs"}, {"POST", api + "/git/trees"},
		{"POST", api + "/git/commits"}, {"POST", api + "/git/tags"}, {"DELETE", api + "/releases/5"},
		{"POST", "https://uploads.github.com/repos/o/r/releases/5/assets?name=a.tgz"},
		{"POST", "https://github.com/o/r.git/git-upload-pack"},
		{"POST", "https://github.com/o/r.git/info/lfs/objects/batch"},
		{"POST", "https://github.com/o/r.git/info/lfs/locks"},
		{"POST", "https://api.github.com/repositories/123456789/issues"},
		{"POST", "https://api.github.com/api/v3/repos/o/r/issues/3/comments"},
	} {
		cases = append(cases, restCase{name: "listed " + w[0] + " " + w[1], method: w[0], url: w[1], body: `{"title":"t","ref":"refs/heads/main"}`, status: 200})
	}
	for _, w := range [][2]string{
		{"POST", api + "/keys"}, {"POST", api + "/hooks"}, {"POST", api + "/actions/runners/registration-token"},
		{"PUT", api + "/collaborators/someone"}, {"PUT", api + "/actions/secrets/TOKEN"}, {"POST", api + "/actions/variables"},
		{"POST", api + "/actions/workflows/ci.yml/dispatches"}, {"POST", api + "/dispatches"}, {"POST", api + "/forks"},
		{"POST", "https://api.github.com/user/repos"}, {"POST", "https://api.github.com/orgs/o/repos"},
		{"DELETE", api}, {"POST", api + "/deployments"},
		{"PUT", api + "/branches/main/protection"}, {"POST", api + "/transfer"}, {"POST", "https://api.github.com/markdown"},
		{"POST", "https://uploads.github.com/repos/o/r/git/refs"}, {"POST", "https://github.com/o/r/settings"},
		{"PUT", api + "/issues/3/lock"},
	} {
		cases = append(cases, restCase{name: "unlisted " + w[0] + " " + w[1], method: w[0], url: w[1], body: `{}`, status: 403, rule: ruleNotListed, msg: "is not a write github-token-proxy lets a scoped session make"})
	}
	runWrites(t, e, cases)
	status, body, _ := e.send("DELETE", api+"/keys/1", nil, nil)
	if status != 403 || !strings.Contains(body, "refused: DELETE /repos/o/r/keys/1 is not a write") {
		t.Errorf("the message names the method and path: %d %s", status, body)
	}
}

// TestUnscopedPassesAsBefore: without "branches" in the file nothing is
// checked; with "branches": [] nothing may be written.
func TestUnscopedPassesAsBefore(t *testing.T) {
	e := scopedEnv(t, nil)
	runWrites(t, e, []restCase{
		{name: "update main", method: "PATCH", url: api + "/git/refs/heads/main", body: `{` + sha + `,"force":true}`, status: 200},
		{name: "deploy key", method: "POST", url: api + "/keys", body: `{"key":"ssh-ed25519 AAAA"}`, status: 200},
	})
	writeScoped(t, e.credentials, e.token, []string{})
	status, body, _ := e.send("POST", api+"/git/refs", []byte(`{"ref":"refs/heads/agent/x"}`), nil)
	if status != 403 || !strings.Contains(body, "This session may write no branch.") {
		t.Errorf("an empty scope: %d %s", status, body)
	}
	status, _, _ = e.send("GET", api+"/git/refs/heads/main", nil, nil)
	if status != 200 {
		t.Errorf("a read with an empty scope: %d", status)
	}
}
