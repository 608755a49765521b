package githubtest_test

import (
	"fmt"
	"net/http"
	"testing"
)

// The writes an agent makes that move no ref: they answer as GitHub does
// and leave every ref where it was.
func TestWritesThatMoveNoRef(t *testing.T) {
	d := newRepoDouble(t)
	d.branchWith("feature", "f.txt", "f\n")
	d.want(d.api("POST", "pulls", map[string]any{"title": "Feature", "head": "feature", "base": "main"}), 201, "")
	before := d.refs()
	changes := len(d.RefChanges())

	// Issues.
	var iss struct {
		Number int
		State  string
		Labels []struct{ Name string }
	}
	d.want(d.api("POST", "issues", map[string]any{"title": "Bug", "body": "b", "labels": []string{"bug"}}), 201, "").json(t, &iss)
	if iss.Number != 2 || iss.State != "open" || len(iss.Labels) != 1 || iss.Labels[0].Name != "bug" {
		t.Fatalf("issue %+v (numbers are shared with pull requests)", iss)
	}
	d.want(d.api("POST", "issues", map[string]any{"body": "b"}), 422, "Invalid request.\n\n\"title\" wasn't supplied.")
	d.want(d.api("PATCH", "issues/2", map[string]any{"state": "closed"}), 200, "").json(t, &iss)
	if iss.State != "closed" {
		t.Fatalf("closed issue %+v", iss)
	}
	d.want(d.api("PATCH", "issues/2", map[string]any{"state": "gone"}), 422, "Validation Failed")
	d.want(d.api("GET", "issues/9", nil), 404, "Not Found")
	var list []map[string]any
	d.want(d.api("GET", "issues?state=all", nil), 200, "").json(t, &list)
	if len(list) != 2 || list[1]["pull_request"] == nil {
		t.Fatalf("issues %v", list)
	}
	d.want(d.apiAs(d.mint(map[string]any{"permissions": map[string]string{"contents": "write"}}), "POST", "issues", map[string]any{"title": "x"}), 403, "Resource not accessible by integration")

	// Comments, on an issue and on a pull request's conversation.
	var c struct {
		ID   int64
		Body string
	}
	d.want(d.api("POST", "issues/1/comments", map[string]any{"body": "On the PR"}), 201, "").json(t, &c)
	d.want(d.api("PATCH", fmt.Sprintf("issues/comments/%d", c.ID), map[string]any{"body": "Edited"}), 200, "").json(t, &c)
	if c.Body != "Edited" {
		t.Fatalf("comment %+v", c)
	}
	d.want(d.api("GET", "issues/1/comments", nil), 200, "").json(t, &list)
	if len(list) != 1 || list[0]["body"] != "Edited" {
		t.Fatalf("comments %v", list)
	}
	prOnly := d.mint(map[string]any{"permissions": map[string]string{"pull_requests": "write"}})
	d.want(d.apiAs(prOnly, "POST", "issues/1/comments", map[string]any{"body": "with pull_requests"}), 201, "")

	// Labels and reactions.
	d.want(d.api("POST", "labels", map[string]any{"name": "ready", "color": "00ff00"}), 201, "")
	d.want(d.api("POST", "labels", map[string]any{"name": "Ready"}), 422, "Validation Failed")
	d.want(d.api("POST", "issues/1/labels", map[string]any{"labels": []string{"ready", "new"}}), 200, "").json(t, &list)
	if len(list) != 2 {
		t.Fatalf("labels %v", list)
	}
	d.want(d.api("DELETE", "issues/1/labels/new", nil), 200, "")
	d.want(d.api("DELETE", "issues/1/labels/new", nil), 404, "Label does not exist")
	d.want(d.api("POST", "issues/1/reactions", map[string]any{"content": "rocket"}), 201, "")
	d.want(d.api("POST", "issues/1/reactions", map[string]any{"content": "rocket"}), 200, "")
	d.want(d.api("POST", fmt.Sprintf("issues/comments/%d/reactions", c.ID), map[string]any{"content": "+1"}), 201, "")
	d.want(d.api("POST", "issues/1/reactions", map[string]any{"content": "clap"}), 422, "Validation Failed")
	data := d.ok(d.gql(`{ repository(owner: "acme", name: "widgets") { pullRequest(number: 1) { labels(first: 5) { nodes { name } } reactionGroups { content users { totalCount } } } } }`, nil))
	if fmt.Sprint(get(data, "repository", "pullRequest", "labels", "nodes")) != "[map[name:ready]]" {
		t.Errorf("GraphQL labels %v", data)
	}

	// Reviews: the bot cannot approve its own pull request.
	d.want(d.api("POST", "pulls/1/reviews", map[string]any{"event": "APPROVE"}), 422, "Unprocessable Entity")
	d.want(d.api("POST", "pulls/1/reviews", map[string]any{"event": "REQUEST_CHANGES", "body": "no"}), 422, "Unprocessable Entity")
	var rv struct {
		ID    int64
		State string
	}
	d.want(d.api("POST", "pulls/1/reviews", map[string]any{"event": "COMMENT", "body": "Looks fine",
		"comments": []map[string]any{{"path": "f.txt", "line": 1, "body": "here"}}}), 200, "").json(t, &rv)
	if rv.State != "COMMENTED" {
		t.Fatalf("review %+v", rv)
	}
	d.want(d.api("POST", "pulls/1/reviews", map[string]any{"event": "COMMENT", "comments": []map[string]any{{"path": "nope.txt", "line": 1, "body": "x"}}}), 422, "Validation Failed")
	var rc struct{ ID int64 }
	d.want(d.api("POST", "pulls/1/comments", map[string]any{"body": "line", "commit_id": before["refs/heads/feature"], "path": "f.txt", "line": 1}), 201, "").json(t, &rc)
	d.want(d.api("POST", "pulls/1/comments", map[string]any{"body": "reply", "in_reply_to": rc.ID}), 201, "")
	d.want(d.api("POST", "pulls/1/comments", map[string]any{"body": "x", "commit_id": before["refs/heads/feature"], "path": "nope", "line": 1}), 422, "Validation Failed")
	d.want(d.api("GET", "pulls/1/comments", nil), 200, "").json(t, &list)
	if len(list) != 3 {
		t.Fatalf("review comments %d, want 3", len(list))
	}

	// Statuses and check runs need their permissions.
	head := before["refs/heads/feature"]
	d.want(d.api("POST", "statuses/"+head, map[string]any{"state": "success", "context": "ci"}), 403, "Resource not accessible by integration")
	d.want(d.api("POST", "check-runs", map[string]any{"name": "ci", "head_sha": head}), 403, "Resource not accessible by integration")

	d.sameRefs(before, "writes that move no ref")
	if n := len(d.RefChanges()); n != changes {
		t.Errorf("%d ref changes recorded by writes that move no ref", n-changes)
	}
}

// Auto-merge waits for the required checks, then merges; statuses and
// check runs are what let it.
func TestAutoMergeWaitsForChecks(t *testing.T) {
	d := newRepoDouble(t)
	in := d.AddInstallation("ci", "Organization", "app")
	in.Permissions["statuses"] = "write"
	in.Permissions["checks"] = "write"
	var tok tokenAnswer
	mint(t, d.Server, in.ID, nil, http.StatusCreated).json(t, &tok)
	d.token = tok.Token
	api := func(method, path string, body any) response {
		return do(t, method, d.URL+"/repos/ci/app/"+path, "Bearer "+d.token, body)
	}
	refs := func() map[string]string {
		r, err := d.Refs("ci/app")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := d.RequireChecks("ci/app", "build", "lint"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, api("PUT", "contents/f.txt", map[string]any{"message": "f", "content": "Zgo=", "branch": "main"}), 201)
	main := refs()["refs/heads/main"]
	wantStatus(t, api("POST", "git/refs", map[string]any{"ref": "refs/heads/topic", "sha": main}), 201)
	wantStatus(t, api("PUT", "contents/g.txt", map[string]any{"message": "g", "content": "Zwo=", "branch": "topic"}), 201)
	head := refs()["refs/heads/topic"]
	var p pullAnswer
	api("POST", "pulls", map[string]any{"title": "Topic", "head": "topic", "base": "main"}).json(t, &p)
	if p.MergeableState != "blocked" {
		t.Fatalf("mergeable_state %q, want blocked", p.MergeableState)
	}
	if r := api("PUT", "pulls/1/merge", nil); r.StatusCode != 405 || r.message(t) != `Required status check "build" is expected.` {
		t.Fatalf("merge before the checks: %d %s", r.StatusCode, r.body)
	}

	data := d.ok(d.gqlAs(d.token, `mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: SQUASH}) { pullRequest { state autoMergeRequest { mergeMethod } } } }`,
		map[string]any{"id": p.NodeID}))
	if get(data, "enablePullRequestAutoMerge", "pullRequest", "state") != "OPEN" || get(data, "enablePullRequestAutoMerge", "pullRequest", "autoMergeRequest", "mergeMethod") != "SQUASH" {
		t.Fatalf("auto-merge %v", data)
	}
	if refs()["refs/heads/main"] != main {
		t.Fatal("auto-merge merged before the checks passed")
	}
	wantStatus(t, api("POST", "statuses/"+head, map[string]any{"state": "success", "context": "build"}), 201)
	var cr struct{ ID int64 }
	api("POST", "check-runs", map[string]any{"name": "lint", "head_sha": head, "status": "in_progress"}).json(t, &cr)
	wantStatus(t, api("POST", "check-runs", map[string]any{"name": "x", "head_sha": head, "status": "completed"}), 422)
	if refs()["refs/heads/main"] != main {
		t.Fatal("auto-merge merged with a check in progress")
	}
	wantStatus(t, api("PATCH", fmt.Sprintf("check-runs/%d", cr.ID), map[string]any{"conclusion": "success"}), 200)
	after := refs()["refs/heads/main"]
	if after == main {
		t.Fatal("auto-merge did not merge when the checks passed")
	}
	c := d.lastChange()
	if c.Repo != "ci/app" || c.Ref != "refs/heads/main" || c.Old != main || c.New != after || c.By != "auto-merge" {
		t.Fatalf("change %+v", c)
	}
	api("GET", "pulls/1", nil).json(t, &p)
	if !p.Merged {
		t.Fatalf("pull request %+v", p)
	}
	var combined struct {
		State      string
		TotalCount int `json:"total_count"`
	}
	api("GET", "commits/"+head+"/status", nil).json(t, &combined)
	if combined.State != "success" || combined.TotalCount != 1 {
		t.Errorf("combined status %+v", combined)
	}
}

func TestReleases(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	side := d.branchWith("side", "s.txt", "s\n")
	var rel struct {
		ID      int64
		TagName string `json:"tag_name"`
		Draft   bool
	}

	// A release whose tag does not exist creates it at the default branch,
	// or at target_commitish.
	d.want(d.api("POST", "releases", map[string]any{"tag_name": "v1.0.0", "name": "One"}), 201, "").json(t, &rel)
	if d.refs()["refs/tags/v1.0.0"] != main || d.lastChange().By != "REST POST /repos/{owner}/{repo}/releases" {
		t.Fatalf("tag v1.0.0: %v %+v", d.refs(), d.lastChange())
	}
	d.want(d.api("POST", "releases", map[string]any{"tag_name": "v1.1.0", "target_commitish": "side"}), 201, "")
	if d.refs()["refs/tags/v1.1.0"] != side {
		t.Fatal("tag v1.1.0 not at side")
	}
	before := d.refs()
	d.want(d.api("POST", "releases", map[string]any{"tag_name": "v1.0.0"}), 422, "Validation Failed")
	d.want(d.api("POST", "releases", map[string]any{"tag_name": "v2", "target_commitish": "nope"}), 422, "Validation Failed")
	d.want(d.api("POST", "releases", map[string]any{"name": "x"}), 422, "Invalid request.\n\n\"tag_name\" wasn't supplied.")
	d.want(d.apiAs(d.mint(map[string]any{"permissions": map[string]string{"contents": "read"}}), "POST", "releases", map[string]any{"tag_name": "v3"}), 403, "Resource not accessible by integration")
	// A draft creates no tag until it is published.
	d.want(d.api("POST", "releases", map[string]any{"tag_name": "v2.0.0", "draft": true}), 201, "").json(t, &rel)
	d.sameRefs(before, "refused releases and a draft")
	d.want(d.api("PATCH", fmt.Sprintf("releases/%d", rel.ID), map[string]any{"draft": false}), 200, "")
	if d.refs()["refs/tags/v2.0.0"] != main {
		t.Fatal("publishing the draft did not create its tag")
	}
	// A release on an existing tag leaves the tag alone.
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/tags/v3", "sha": side}), 201, "")
	before = d.refs()
	d.want(d.api("POST", "releases", map[string]any{"tag_name": "v3", "target_commitish": "main"}), 201, "")
	d.sameRefs(before, "a release on an existing tag")

	d.want(d.api("GET", "releases/tags/v1.0.0", nil), 200, "").json(t, &rel)
	if rel.TagName != "v1.0.0" {
		t.Fatalf("release %+v", rel)
	}
	d.want(d.api("GET", "releases/latest", nil), 200, "").json(t, &rel)
	if rel.TagName != "v3" {
		t.Fatalf("latest %+v", rel)
	}
	var list []map[string]any
	d.want(d.api("GET", "releases?per_page=2", nil), 200, "").json(t, &list)
	if len(list) != 2 {
		t.Fatalf("page of %d", len(list))
	}
	d.want(d.api("DELETE", fmt.Sprintf("releases/%d", rel.ID), nil), 204, "")
	d.sameRefs(before, "deleting a release")
}

func TestBranches(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	for i := range 3 {
		d.want(d.api("POST", "git/refs", map[string]any{"ref": fmt.Sprintf("refs/heads/b%d", i), "sha": main}), 201, "")
	}
	d.branchWith("feature/x", "x.txt", "x\n")
	var list []struct {
		Name   string
		Commit struct{ SHA string }
	}
	r := d.want(d.api("GET", "branches?per_page=2", nil), 200, "")
	r.json(t, &list)
	if len(list) != 2 || list[0].Name != "b0" || r.Header.Get("Link") == "" {
		t.Fatalf("branches page 1: %+v, Link %q", list, r.Header.Get("Link"))
	}
	d.want(d.api("GET", "branches?per_page=2&page=3", nil), 200, "").json(t, &list)
	if len(list) != 1 || list[0].Name != "main" {
		t.Fatalf("branches page 3: %+v", list)
	}
	var b struct {
		Name   string
		Commit struct{ SHA string }
	}
	d.want(d.api("GET", "branches/feature/x", nil), 200, "").json(t, &b)
	if b.Name != "feature/x" || b.Commit.SHA != d.refs()["refs/heads/feature/x"] {
		t.Fatalf("branch %+v", b)
	}
	d.want(d.api("GET", "branches/nope", nil), 404, "Branch not found")

	// Rename: the ref moves, open pull requests follow.
	d.want(d.api("POST", "pulls", map[string]any{"title": "X", "head": "feature/x", "base": "b0"}), 201, "")
	x := d.refs()["refs/heads/feature/x"]
	d.want(d.api("POST", "branches/feature/x/rename", map[string]any{"new_name": "feature/y"}), 201, "")
	if r := d.refs(); r["refs/heads/feature/y"] != x || r["refs/heads/feature/x"] != "" {
		t.Fatalf("rename: %v", r)
	}
	all := d.RefChanges()
	if c := all[len(all)-2:]; c[0].By != "REST POST /repos/{owner}/{repo}/branches/{branch}/rename" || c[0].Ref != "refs/heads/feature/x" || c[0].New != "" ||
		c[1].Ref != "refs/heads/feature/y" || c[1].Old != "" {
		t.Fatalf("rename changes %+v", c)
	}
	d.want(d.api("POST", "branches/b0/rename", map[string]any{"new_name": "b00"}), 201, "")
	var p pullAnswer
	d.want(d.api("GET", "pulls/1", nil), 200, "").json(t, &p)
	if p.Head.Ref != "feature/y" || p.Base.Ref != "b00" {
		t.Fatalf("pull request after renames: head %q base %q", p.Head.Ref, p.Base.Ref)
	}
	before := d.refs()
	d.want(d.api("POST", "branches/b1/rename", map[string]any{"new_name": "b2"}), 422, "Validation Failed")
	d.want(d.api("POST", "branches/b1/rename", map[string]any{"new_name": "a..b"}), 422, "Validation Failed")
	d.want(d.api("POST", "branches/nope/rename", map[string]any{"new_name": "b9"}), 404, "Branch not found")
	// The default branch needs administration too.
	d.want(d.api("POST", "branches/main/rename", map[string]any{"new_name": "trunk"}), 403, "Resource not accessible by integration")
	d.want(d.api("POST", "merge-upstream", map[string]any{"branch": "main"}), 422, "This repository is not a fork.")
	d.sameRefs(before, "refused renames")
}
