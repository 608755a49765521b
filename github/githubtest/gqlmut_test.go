package githubtest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

type gqlErr struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Path    []any  `json:"path"`
}

type gqlResult struct {
	Data   map[string]any `json:"data"`
	Errors []gqlErr       `json:"errors"`
}

// gqlAs posts a GraphQL request with token and decodes the answer.
func (d *repoDouble) gqlAs(token, query string, vars map[string]any) gqlResult {
	d.t.Helper()
	r := d.apiAs(token, "POST", "/graphql", map[string]any{"query": query, "variables": vars})
	wantStatus(d.t, r, http.StatusOK)
	var a gqlResult
	r.json(d.t, &a)
	return a
}

func (d *repoDouble) gql(query string, vars map[string]any) gqlResult {
	d.t.Helper()
	return d.gqlAs(d.token, query, vars)
}

// ok fails on errors.
func (d *repoDouble) ok(a gqlResult) map[string]any {
	d.t.Helper()
	if len(a.Errors) > 0 {
		d.t.Fatalf("GraphQL errors %+v", a.Errors)
	}
	return a.Data
}

// fails wants exactly one error of type typ whose message contains msg.
func (d *repoDouble) fails(a gqlResult, typ, msg string) {
	d.t.Helper()
	if len(a.Errors) != 1 || a.Errors[0].Type != typ || !strings.Contains(a.Errors[0].Message, msg) {
		d.t.Fatalf("errors %+v, want one %s saying %q", a.Errors, typ, msg)
	}
}

// get walks a decoded answer: get(m, "repository", "ref", "id").
func get(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

// ids are the node ids of acme/widgets and its main ref.
func (d *repoDouble) ids() (repo, main string) {
	d.t.Helper()
	data := d.ok(d.gql(`{ repository(owner: "acme", name: "widgets") { id ref(qualifiedName: "refs/heads/main") { id } } }`, nil))
	return get(data, "repository", "id").(string), get(data, "repository", "ref", "id").(string)
}

func TestGraphQLRefMutations(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	repoID, mainID := d.ids()

	// Reading: ref by short or full name, defaultBranchRef, node(id:).
	data := d.ok(d.gql(`query Q($q: String!) { repository(owner: "acme", name: "widgets") {
		short: ref(qualifiedName: $q) { name prefix target { oid ... on Commit { messageHeadline } } }
		defaultBranchRef { name }
		nope: ref(qualifiedName: "nope") { name } } }`, map[string]any{"q": "main"}))
	if get(data, "repository", "short", "name") != "main" || get(data, "repository", "short", "prefix") != "refs/heads/" ||
		get(data, "repository", "short", "target", "oid") != main || get(data, "repository", "short", "target", "messageHeadline") != "Initial commit" ||
		get(data, "repository", "defaultBranchRef", "name") != "main" || get(data, "repository", "nope") != nil {
		t.Fatalf("refs %v", data)
	}
	data = d.ok(d.gql(`query($id: ID!) { node(id: $id) { __typename ... on Ref { name prefix repository { nameWithOwner } } } }`, map[string]any{"id": mainID}))
	if get(data, "node", "__typename") != "Ref" || get(data, "node", "name") != "main" || get(data, "node", "repository", "nameWithOwner") != "acme/widgets" {
		t.Fatalf("node %v", data)
	}

	a := d.gql(`query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, map[string]any{"ids": []string{repoID, mainID, "MDQ6VXNlcjE="}})
	nodes, _ := a.Data["nodes"].([]any)
	if len(nodes) != 3 || get(nodes[0], "__typename") != "Repository" || get(nodes[1], "__typename") != "Ref" || nodes[2] != nil ||
		len(a.Errors) != 1 || a.Errors[0].Type != "NOT_FOUND" {
		t.Fatalf("nodes %+v", a)
	}

	// createRef, aliased, through a variable.
	data = d.ok(d.gql(`mutation M($in: CreateRefInput!) { made: createRef(input: $in) { clientMutationId ref { id name target { oid } } } }`,
		map[string]any{"in": map[string]any{"repositoryId": repoID, "name": "refs/heads/feature", "oid": main, "clientMutationId": "c1"}}))
	if get(data, "made", "clientMutationId") != "c1" || get(data, "made", "ref", "name") != "feature" || d.refs()["refs/heads/feature"] != main {
		t.Fatalf("createRef: %v, refs %v", data, d.refs())
	}
	featureID := get(data, "made", "ref", "id").(string)
	if c := d.lastChange(); c.Ref != "refs/heads/feature" || c.Old != "" || c.New != main || c.By != "GraphQL createRef" {
		t.Fatalf("change %+v", c)
	}
	before := d.refs()
	d.fails(d.gql(`mutation { createRef(input: {repositoryId: "`+repoID+`", name: "refs/heads/feature", oid: "`+main+`"}) { ref { name } } }`, nil),
		"UNPROCESSABLE", `A ref named "refs/heads/feature" already exists in the repository.`)
	d.fails(d.gql(`mutation { createRef(input: {repositoryId: "`+repoID+`", name: "feature2", oid: "`+main+`"}) { ref { name } } }`, nil),
		"UNPROCESSABLE", "Reference name is not valid")
	d.sameRefs(before, "refused createRef")

	// updateRef: a non-fast-forward needs force.
	next := d.commitOn(main, "a.txt", "a\n")
	side := d.commitOn(main, "b.txt", "b\n")
	d.ok(d.gql(`mutation($id: ID!, $oid: GitObjectID!) { updateRef(input: {refId: $id, oid: $oid}) { ref { target { oid } } } }`,
		map[string]any{"id": featureID, "oid": next}))
	if d.refs()["refs/heads/feature"] != next || d.lastChange().By != "GraphQL updateRef" {
		t.Fatalf("updateRef: %v %+v", d.refs(), d.lastChange())
	}
	before = d.refs()
	d.fails(d.gql(`mutation($id: ID!, $oid: GitObjectID!) { updateRef(input: {refId: $id, oid: $oid}) { ref { name } } }`,
		map[string]any{"id": featureID, "oid": side}), "UNPROCESSABLE", "Update is not a fast forward")
	d.fails(d.gql(`mutation($oid: GitObjectID!) { updateRef(input: {refId: "REF_bogus", oid: $oid}) { ref { name } } }`,
		map[string]any{"oid": side}), "NOT_FOUND", "Could not resolve to a node with the global id of 'REF_bogus'")
	d.sameRefs(before, "refused updateRef")
	d.ok(d.gql(`mutation($id: ID!, $oid: GitObjectID!) { updateRef(input: {refId: $id, oid: $oid, force: true}) { clientMutationId } }`,
		map[string]any{"id": featureID, "oid": side}))
	if d.refs()["refs/heads/feature"] != side {
		t.Fatal("forced updateRef did not move feature")
	}

	// updateRefs: all or nothing.
	ups := func(list ...map[string]any) map[string]any {
		return map[string]any{"in": map[string]any{"repositoryId": repoID, "refUpdates": list}}
	}
	const q = `mutation($in: UpdateRefsInput!) { updateRefs(input: $in) { clientMutationId } }`
	before = d.refs()
	d.fails(d.gql(q, ups(
		map[string]any{"name": "refs/heads/one", "afterOid": main, "beforeOid": strings.Repeat("0", 40)},
		map[string]any{"name": "refs/heads/feature", "afterOid": next, "beforeOid": main},
	)), "UNPROCESSABLE", "Expected refs/heads/feature to point to "+main)
	d.fails(d.gql(q, ups(
		map[string]any{"name": "refs/heads/one", "afterOid": main},
		map[string]any{"name": "refs/heads/feature", "afterOid": next},
	)), "UNPROCESSABLE", "Update is not a fast forward")
	d.sameRefs(before, "refused updateRefs")
	d.ok(d.gql(q, ups(
		map[string]any{"name": "refs/heads/one", "afterOid": main, "beforeOid": strings.Repeat("0", 40)},
		map[string]any{"name": "refs/heads/feature", "afterOid": next, "force": true},
		map[string]any{"name": "refs/tags/t1", "afterOid": main},
	)))
	if r := d.refs(); r["refs/heads/one"] != main || r["refs/heads/feature"] != next || r["refs/tags/t1"] != main {
		t.Fatalf("updateRefs: %v", r)
	}
	d.ok(d.gql(q, ups(map[string]any{"name": "refs/heads/one", "afterOid": strings.Repeat("0", 40)})))
	if _, ok := d.refs()["refs/heads/one"]; ok || d.lastChange().By != "GraphQL updateRefs" || d.lastChange().New != "" {
		t.Fatalf("updateRefs delete: %v %+v", d.refs(), d.lastChange())
	}

	// deleteRef.
	d.ok(d.gql(`mutation($id: ID!) { deleteRef(input: {refId: $id}) { clientMutationId } }`, map[string]any{"id": featureID}))
	if _, ok := d.refs()["refs/heads/feature"]; ok || d.lastChange().By != "GraphQL deleteRef" {
		t.Fatal("deleteRef left feature")
	}
	d.fails(d.gql(`mutation($id: ID!) { deleteRef(input: {refId: $id}) { clientMutationId } }`, map[string]any{"id": featureID}),
		"NOT_FOUND", "Could not resolve to a node")

	// Permissions: read-only tokens and other repositories' tokens.
	readOnly := d.mint(map[string]any{"permissions": map[string]string{"contents": "read", "pull_requests": "read"}})
	gadgets := d.mint(map[string]any{"repositories": []string{"gadgets"}})
	before = d.refs()
	d.fails(d.gqlAs(readOnly, `mutation($id: ID!, $oid: GitObjectID!) { updateRef(input: {refId: $id, oid: $oid, force: true}) { clientMutationId } }`,
		map[string]any{"id": mainID, "oid": side}), "FORBIDDEN", "Resource not accessible by integration")
	d.fails(d.gqlAs(gadgets, `mutation($id: ID!) { deleteRef(input: {refId: $id}) { clientMutationId } }`,
		map[string]any{"id": mainID}), "NOT_FOUND", "Could not resolve to a node")
	d.sameRefs(before, "refused tokens")
}

func TestGraphQLCommitAndMerge(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	repoID, _ := d.ids()
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/heads/work", "sha": main}), 201, "")

	// createCommitOnBranch by name; a stale expectedHeadOid moves nothing.
	const commit = `mutation($in: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $in) { commit { oid messageHeadline messageBody } ref { name } } }`
	in := map[string]any{
		"branch":          map[string]any{"repositoryNameWithOwner": "acme/widgets", "branchName": "work"},
		"expectedHeadOid": strings.Repeat("a", 40),
		"message":         map[string]any{"headline": "Add c", "body": "Details"},
		"fileChanges":     map[string]any{"additions": []map[string]any{{"path": "dir/c.txt", "contents": enc("c\n")}}, "deletions": []map[string]any{{"path": "README.md"}}},
	}
	before := d.refs()
	d.fails(d.gql(commit, map[string]any{"in": in}), "STALE_DATA", "Expected branch to point to")
	d.sameRefs(before, "a stale createCommitOnBranch")
	in["expectedHeadOid"] = main
	data := d.ok(d.gql(commit, map[string]any{"in": in}))
	sha := get(data, "createCommitOnBranch", "commit", "oid").(string)
	if d.refs()["refs/heads/work"] != sha || d.refs()["refs/heads/main"] != main || get(data, "createCommitOnBranch", "commit", "messageBody") != "Details" {
		t.Fatalf("createCommitOnBranch: %v, refs %v", data, d.refs())
	}
	if d.git("show", "work:dir/c.txt") != "c" || strings.Contains(d.git("ls-tree", "--name-only", "work"), "README.md") {
		t.Fatal("createCommitOnBranch's tree is wrong")
	}
	if c := d.lastChange(); c.By != "GraphQL createCommitOnBranch" || c.Old != main || c.New != sha {
		t.Fatalf("change %+v", c)
	}
	// By the ref's node id.
	workID := get(d.ok(d.gql(`{ repository(owner: "acme", name: "widgets") { ref(qualifiedName: "work") { id } } }`, nil)), "repository", "ref", "id")
	in = map[string]any{"branch": map[string]any{"id": workID}, "expectedHeadOid": sha, "message": map[string]any{"headline": "More"},
		"fileChanges": map[string]any{"additions": []map[string]any{{"path": "d.txt", "contents": enc("d\n")}}}}
	data = d.ok(d.gql(commit, map[string]any{"in": in}))
	work := get(data, "createCommitOnBranch", "commit", "oid").(string)

	// mergeBranch.
	const merge = `mutation($in: MergeBranchInput!) { mergeBranch(input: $in) { mergeCommit { oid parents(first: 2) { totalCount nodes { oid } } } } }`
	data = d.ok(d.gql(merge, map[string]any{"in": map[string]any{"repositoryId": repoID, "base": "main", "head": "work", "commitMessage": "Merge work"}}))
	mc := get(data, "mergeBranch", "mergeCommit", "oid").(string)
	if d.refs()["refs/heads/main"] != mc || get(data, "mergeBranch", "mergeCommit", "parents", "totalCount").(float64) != 2 {
		t.Fatalf("mergeBranch: %v", data)
	}
	if c := d.lastChange(); c.By != "GraphQL mergeBranch" || c.Ref != "refs/heads/main" {
		t.Fatalf("change %+v", c)
	}
	before = d.refs()
	d.fails(d.gql(merge, map[string]any{"in": map[string]any{"repositoryId": repoID, "base": "main", "head": "work"}}), "UNPROCESSABLE", "Already merged")
	d.fails(d.gql(merge, map[string]any{"in": map[string]any{"repositoryId": repoID, "base": "nope", "head": "work"}}), "NOT_FOUND", "Base does not exist")
	d.sameRefs(before, "refused mergeBranch")
	_ = work

	// REST merges shares the code: 204 when there is nothing to merge.
	d.want(d.api("POST", "merges", map[string]any{"base": "main", "head": "work"}), 204, "")
	d.want(d.api("POST", "merges", map[string]any{"base": "main", "head": "nope"}), 404, "Head does not exist")
	d.sameRefs(before, "REST merges with nothing to merge")
}

// pullID creates a pull request from branch (made with one commit) into
// main and returns its node id.
func (d *repoDouble) pullID(branch string) string {
	d.t.Helper()
	d.branchWith(branch, branch+".txt", branch+"\n")
	repoID, _ := d.ids()
	data := d.ok(d.gql(`mutation($in: CreatePullRequestInput!) { createPullRequest(input: $in) { pullRequest { id number } } }`,
		map[string]any{"in": map[string]any{"repositoryId": repoID, "baseRefName": "main", "headRefName": branch, "title": "PR " + branch}}))
	return get(data, "createPullRequest", "pullRequest", "id").(string)
}

func TestGraphQLPullMutations(t *testing.T) {
	d := newRepoDouble(t)
	repoID, _ := d.ids()
	id := d.pullID("one")
	data := d.ok(d.gql(`query($id: ID!) { node(id: $id) { ... on PullRequest { number state mergeable mergeStateStatus baseRefName headRefName headRefOid author { login } } } }`,
		map[string]any{"id": id}))
	if get(data, "node", "number").(float64) != 1 || get(data, "node", "state") != "OPEN" || get(data, "node", "mergeable") != "MERGEABLE" ||
		get(data, "node", "mergeStateStatus") != "CLEAN" || get(data, "node", "author", "login") != d.BotLogin() {
		t.Fatalf("pull request %v", data)
	}
	d.fails(d.gql(`mutation($in: CreatePullRequestInput!) { createPullRequest(input: $in) { pullRequest { id } } }`,
		map[string]any{"in": map[string]any{"repositoryId": repoID, "baseRefName": "main", "headRefName": "one", "title": "Again"}}),
		"UNPROCESSABLE", "A pull request already exists for acme:one.")

	// mergePullRequest: a stale expectedHeadOid is refused; then it merges.
	main := d.refs()["refs/heads/main"]
	const mergeQ = `mutation($in: MergePullRequestInput!) { mergePullRequest(input: $in) { pullRequest { state merged mergeCommit { oid } } actor { login } } }`
	before := d.refs()
	d.fails(d.gql(mergeQ, map[string]any{"in": map[string]any{"pullRequestId": id, "expectedHeadOid": main}}), "CONFLICT", "Head branch was modified")
	d.sameRefs(before, "a stale mergePullRequest")
	data = d.ok(d.gql(mergeQ, map[string]any{"in": map[string]any{"pullRequestId": id, "mergeMethod": "SQUASH", "commitHeadline": "Squashed one"}}))
	oid := get(data, "mergePullRequest", "pullRequest", "mergeCommit", "oid")
	if get(data, "mergePullRequest", "pullRequest", "state") != "MERGED" || d.refs()["refs/heads/main"] != oid {
		t.Fatalf("mergePullRequest %v, refs %v", data, d.refs())
	}
	if c := d.lastChange(); c.By != "GraphQL mergePullRequest" || c.Ref != "refs/heads/main" || c.Old != main {
		t.Fatalf("change %+v", c)
	}
	if d.git("show", "-s", "--format=%s", "main") != "Squashed one" {
		t.Errorf("squash subject %q", d.git("show", "-s", "--format=%s", "main"))
	}
	before = d.refs()
	d.fails(d.gql(mergeQ, map[string]any{"in": map[string]any{"pullRequestId": id}}), "UNPROCESSABLE", "Pull Request is not mergeable")
	d.sameRefs(before, "merging twice")

	// revertPullRequest: a branch and a pull request undoing the merge.
	data = d.ok(d.gql(`mutation($id: ID!) { revertPullRequest(input: {pullRequestId: $id}) { revertPullRequest { number title headRefName baseRefName } } }`,
		map[string]any{"id": id}))
	rev := get(data, "revertPullRequest", "revertPullRequest").(map[string]any)
	if rev["headRefName"] != "revert-1-one" || rev["title"] != `Revert "PR one"` || d.refs()["refs/heads/main"] != oid {
		t.Fatalf("revert %v", data)
	}
	if c := d.lastChange(); c.By != "GraphQL revertPullRequest" || c.Ref != "refs/heads/revert-1-one" || c.Old != "" {
		t.Fatalf("change %+v", c)
	}
	if strings.Contains(d.git("ls-tree", "--name-only", "revert-1-one"), "one.txt") {
		t.Error("the revert branch still has one.txt")
	}

	// updatePullRequestBranch: the base merged into the head.
	two := d.pullID("two")
	head := d.refs()["refs/heads/two"]
	d.want(d.api("PUT", "contents/later.txt", map[string]any{"message": "later", "content": "bGF0ZXIK"}), 201, "")
	data = d.ok(d.gql(`mutation($id: ID!) { updatePullRequestBranch(input: {pullRequestId: $id}) { pullRequest { headRefOid } } }`, map[string]any{"id": two}))
	if nh := d.refs()["refs/heads/two"]; nh == head || get(data, "updatePullRequestBranch", "pullRequest", "headRefOid") != nh || d.lastChange().By != "GraphQL updatePullRequestBranch" {
		t.Fatalf("updatePullRequestBranch: %v %+v", data, d.lastChange())
	}

	// updatePullRequest, closePullRequest, reopenPullRequest, addComment.
	data = d.ok(d.gql(`mutation($id: ID!) { updatePullRequest(input: {pullRequestId: $id, title: "Two!", body: "b"}) { pullRequest { title body } } }`, map[string]any{"id": two}))
	if get(data, "updatePullRequest", "pullRequest", "title") != "Two!" {
		t.Fatalf("updatePullRequest %v", data)
	}
	d.fails(d.gql(`mutation($id: ID!) { updatePullRequest(input: {pullRequestId: $id, assigneeIds: ["U_x"]}) { pullRequest { title } } }`, map[string]any{"id": two}),
		"NOT_FOUND", "U_x")
	data = d.ok(d.gql(`mutation($id: ID!) { closePullRequest(input: {pullRequestId: $id}) { pullRequest { state closed } } }`, map[string]any{"id": two}))
	if get(data, "closePullRequest", "pullRequest", "state") != "CLOSED" {
		t.Fatalf("closePullRequest %v", data)
	}
	d.ok(d.gql(`mutation($id: ID!) { reopenPullRequest(input: {pullRequestId: $id}) { pullRequest { state } } }`, map[string]any{"id": two}))
	data = d.ok(d.gql(`mutation($id: ID!) { addComment(input: {subjectId: $id, body: "hello"}) { commentEdge { node { body author { login } } } subject { id } } }`, map[string]any{"id": two}))
	if get(data, "addComment", "commentEdge", "node", "body") != "hello" || get(data, "addComment", "subject", "id") != two {
		t.Fatalf("addComment %v", data)
	}
	data = d.ok(d.gql(`{ repository(owner: "acme", name: "widgets") { pullRequest(number: 3) { comments(first: 10) { totalCount nodes { body } } } } }`, nil))
	if get(data, "repository", "pullRequest", "comments", "totalCount").(float64) != 1 {
		t.Fatalf("comments %v", data)
	}

	// Auto-merge with no required check merges at once.
	data = d.ok(d.gql(`mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { pullRequest { state } } }`, map[string]any{"id": two}))
	if get(data, "enablePullRequestAutoMerge", "pullRequest", "state") != "MERGED" || d.lastChange().By != "GraphQL enablePullRequestAutoMerge" {
		t.Fatalf("auto-merge without checks: %v %+v", data, d.lastChange())
	}
}

// A mutation hidden in a fragment or a second operation runs only when
// chosen, and a batch runs each request.
func TestGraphQLDocuments(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	repoID, _ := d.ids()
	doc := `query Read { repository(owner: "acme", name: "widgets") { name } }
		mutation Write($r: ID!, $o: GitObjectID!) { ...M }
		fragment M on Mutation { x: createRef(input: {repositoryId: $r, name: "refs/heads/frag", oid: $o}) { ref { name } } }`
	vars := map[string]any{"r": repoID, "o": main}
	r := d.api("POST", "/graphql", map[string]any{"query": doc, "variables": vars, "operationName": "Read"})
	var a gqlResult
	r.json(t, &a)
	if _, ok := d.refs()["refs/heads/frag"]; ok || get(a.Data, "repository", "name") != "widgets" {
		t.Fatalf("operation Read ran the mutation: %s", r.body)
	}
	r = d.api("POST", "/graphql", map[string]any{"query": doc, "variables": vars})
	r.json(t, &a)
	if len(a.Errors) != 1 || !strings.Contains(a.Errors[0].Message, "operation name is required") {
		t.Fatalf("no operationName: %s", r.body)
	}
	r = d.api("POST", "/graphql", map[string]any{"query": doc, "variables": vars, "operationName": "Write"})
	r.json(t, &a)
	if d.refs()["refs/heads/frag"] != main || get(a.Data, "x", "ref", "name") != "frag" {
		t.Fatalf("operation Write: %s", r.body)
	}

	// A batch: an array in, an array out.
	r = d.api("POST", "/graphql", []map[string]any{
		{"query": `{ viewer { login } }`},
		{"query": `mutation($r: ID!, $o: GitObjectID!) { createRef(input: {repositoryId: $r, name: "refs/heads/batch", oid: $o}) { ref { name } } }`, "variables": vars},
	})
	var batch []gqlResult
	r.json(t, &batch)
	if len(batch) != 2 || get(batch[0].Data, "viewer", "login") != d.BotLogin() || d.refs()["refs/heads/batch"] != main {
		t.Fatalf("batch: %s", r.body)
	}

	// Introspection, as gh uses it to detect features.
	data := d.ok(d.gql(`query PullRequest_fields{PullRequest: __type(name: "PullRequest"){fields(includeDeprecated: true){name}}}`, nil))
	fields, _ := json.Marshal(data)
	if !strings.Contains(string(fields), `"isInMergeQueue"`) || !strings.Contains(string(fields), `"headRefOid"`) {
		t.Fatalf("introspection %s", fields)
	}
}

// A mutation can take effect and then fail at the edge.
func TestGraphQLFailsAfterEffect(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	repoID, _ := d.ids()
	d.FailNextAfterEffect(1, http.StatusBadGateway)
	r := d.api("POST", "/graphql", map[string]any{"query": `mutation($r: ID!, $o: GitObjectID!) { createRef(input: {repositoryId: $r, name: "refs/heads/late", oid: $o}) { ref { name } } }`,
		"variables": map[string]any{"r": repoID, "o": main}})
	d.want(r, http.StatusBadGateway, "Bad Gateway")
	if d.refs()["refs/heads/late"] != main {
		t.Fatal("the mutation did not take effect before the 502")
	}
	var _ githubtest.RefChange = d.lastChange()
}

// Connections page as GitHub's do: first/after, last/before, at most 100.
func TestGraphQLPagination(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	for i := range 5 {
		d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/heads/p" + string(rune('a'+i)), "sha": main}), 201, "")
	}
	const q = `query($after: String) { repository(owner: "acme", name: "widgets") { refs(refPrefix: "refs/heads/", first: 2, after: $after) {
		totalCount nodes { name } pageInfo { hasNextPage endCursor } } } }`
	var names []string
	var after any
	for range 10 {
		data := d.ok(d.gql(q, map[string]any{"after": after}))
		refs := get(data, "repository", "refs").(map[string]any)
		if refs["totalCount"].(float64) != 6 {
			t.Fatalf("totalCount %v", refs["totalCount"])
		}
		for _, n := range refs["nodes"].([]any) {
			names = append(names, n.(map[string]any)["name"].(string))
		}
		if !get(refs, "pageInfo", "hasNextPage").(bool) {
			break
		}
		after = get(refs, "pageInfo", "endCursor")
	}
	if strings.Join(names, ",") != "main,pa,pb,pc,pd,pe" {
		t.Fatalf("pages gave %v", names)
	}
	data := d.ok(d.gql(`{ repository(owner: "acme", name: "widgets") { refs(refPrefix: "refs/heads/", last: 2) { nodes { name } pageInfo { hasPreviousPage } } } }`, nil))
	if fmt.Sprint(get(data, "repository", "refs", "nodes")) != "[map[name:pd] map[name:pe]]" || get(data, "repository", "refs", "pageInfo", "hasPreviousPage") != true {
		t.Fatalf("last: 2 %v", data)
	}
	a := d.gql(`{ repository(owner: "acme", name: "widgets") { refs(refPrefix: "refs/heads/", first: 101) { totalCount } } }`, nil)
	if len(a.Errors) != 1 || a.Errors[0].Type != "EXCESSIVE_PAGE_SIZE" {
		t.Fatalf("first: 101 %+v", a)
	}
}

// Concurrent writers of one ref: exactly one wins, every change recorded
// once, as git's compare-and-swap and the repository lock make it.
func TestConcurrentRefWrites(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := send("POST", d.URL+"/repos/acme/widgets/git/refs", "Bearer "+d.token, map[string]any{"ref": "refs/heads/race", "sha": main})
			if err != nil {
				codes <- 0
				return
			}
			codes <- r.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	won := 0
	for c := range codes {
		switch c {
		case 201:
			won++
		case 422:
		default:
			t.Errorf("status %d", c)
		}
	}
	if won != 1 || len(d.RefChanges()) != 1 {
		t.Fatalf("%d creates won, %d changes recorded", won, len(d.RefChanges()))
	}
}

// A draft cannot be merged until it is marked ready for review.
func TestGraphQLDraft(t *testing.T) {
	d := newRepoDouble(t)
	repoID, _ := d.ids()
	d.branchWith("draft", "d.txt", "d\n")
	data := d.ok(d.gql(`mutation($in: CreatePullRequestInput!) { createPullRequest(input: $in) { pullRequest { id isDraft mergeStateStatus } } }`,
		map[string]any{"in": map[string]any{"repositoryId": repoID, "baseRefName": "main", "headRefName": "draft", "title": "Draft", "draft": true}}))
	id := get(data, "createPullRequest", "pullRequest", "id")
	if get(data, "createPullRequest", "pullRequest", "isDraft") != true || get(data, "createPullRequest", "pullRequest", "mergeStateStatus") != "DRAFT" {
		t.Fatalf("draft %v", data)
	}
	before := d.refs()
	const merge = `mutation($id: ID!) { mergePullRequest(input: {pullRequestId: $id}) { pullRequest { merged } } }`
	d.fails(d.gql(merge, map[string]any{"id": id}), "UNPROCESSABLE", "Pull Request is still a draft")
	d.sameRefs(before, "merging a draft")
	d.ok(d.gql(`mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }`, map[string]any{"id": id}))
	if get(d.ok(d.gql(merge, map[string]any{"id": id})), "mergePullRequest", "pullRequest", "merged") != true {
		t.Fatal("ready pull request did not merge")
	}
}
