package githubtest_test

import (
	"encoding/base64"
	"strings"
	"testing"
)

type pullAnswer struct {
	Number         int    `json:"number"`
	State          string `json:"state"`
	Merged         bool   `json:"merged"`
	Mergeable      *bool  `json:"mergeable"`
	MergeableState string `json:"mergeable_state"`
	MergeCommitSHA string `json:"merge_commit_sha"`
	NodeID         string `json:"node_id"`
	Title          string `json:"title"`
	Head           struct{ Ref, SHA string }
	Base           struct{ Ref, SHA string }
	User           struct{ Login, Type string }
}

// branchWith makes branch from main with one commit writing path=content
// and returns the commit.
func (d *repoDouble) branchWith(branch, path, content string) string {
	d.t.Helper()
	c := d.commitOn(d.refs()["refs/heads/main"], path, content)
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/heads/" + branch, "sha": c}), 201, "")
	return c
}

func TestPullsREST(t *testing.T) {
	d := newRepoDouble(t)
	head := d.branchWith("feature", "f.txt", "f\n")
	main := d.refs()["refs/heads/main"]

	var p pullAnswer
	d.want(d.api("POST", "pulls", map[string]any{"title": "Feature", "head": "feature", "base": "main", "body": "Adds f"}), 201, "").json(t, &p)
	if p.Number != 1 || p.State != "open" || p.Head.SHA != head || p.Base.SHA != main || p.User.Login != d.BotLogin() || p.User.Type != "Bot" || p.NodeID == "" {
		t.Fatalf("created %+v", p)
	}
	d.want(d.api("POST", "pulls", map[string]any{"title": "Again", "head": "acme:feature", "base": "main"}), 422, "Validation Failed")
	d.want(d.api("POST", "pulls", map[string]any{"title": "None", "head": "main", "base": "main"}), 422, "Validation Failed")
	d.want(d.api("POST", "pulls", map[string]any{"title": "Nope", "head": "nope", "base": "main"}), 422, "Validation Failed")
	d.want(d.api("POST", "pulls", map[string]any{"title": "Other", "head": "other:feature", "base": "main"}), 422, "Validation Failed")
	d.want(d.api("POST", "pulls", map[string]any{"title": "x"}), 422, "Invalid request.\n\n\"head\", \"base\" weren't supplied.")
	d.want(d.apiAs(d.mint(map[string]any{"permissions": map[string]string{"contents": "write"}}), "POST", "pulls", map[string]any{"title": "x", "head": "feature", "base": "main"}), 403, "Resource not accessible by integration")

	d.want(d.api("GET", "pulls/1", nil), 200, "").json(t, &p)
	if p.Mergeable == nil || !*p.Mergeable || p.MergeableState != "clean" {
		t.Fatalf("mergeable %v %q", p.Mergeable, p.MergeableState)
	}
	var list []pullAnswer
	d.want(d.api("GET", "pulls?head=acme:feature", nil), 200, "").json(t, &list)
	if len(list) != 1 || list[0].Number != 1 {
		t.Fatalf("list %+v", list)
	}
	d.want(d.api("GET", "pulls?state=closed", nil), 200, "").json(t, &list)
	if len(list) != 0 {
		t.Fatalf("closed list %+v", list)
	}
	d.want(d.api("GET", "pulls/99", nil), 404, "Not Found")

	// Merge: a stale sha is refused; then a real merge commit on main.
	before := d.refs()
	d.want(d.api("PUT", "pulls/1/merge", map[string]any{"sha": main}), 409, "Head branch was modified. Review and try the merge again.")
	d.want(d.apiAs(d.mint(map[string]any{"permissions": map[string]string{"pull_requests": "write", "contents": "read"}}), "PUT", "pulls/1/merge", nil), 403, "Resource not accessible by integration")
	d.sameRefs(before, "refused merges")
	var m struct {
		SHA     string `json:"sha"`
		Merged  bool   `json:"merged"`
		Message string `json:"message"`
	}
	d.want(d.api("PUT", "pulls/1/merge", map[string]any{"sha": head}), 200, "").json(t, &m)
	if !m.Merged || m.Message != "Pull Request successfully merged" || d.refs()["refs/heads/main"] != m.SHA {
		t.Fatalf("merge %+v, refs %v", m, d.refs())
	}
	if parents := strings.Fields(d.git("show", "-s", "--format=%P", m.SHA)); len(parents) != 2 || parents[0] != main || parents[1] != head {
		t.Fatalf("merge commit parents %v", parents)
	}
	if subject := d.git("show", "-s", "--format=%s", m.SHA); subject != "Merge pull request #1 from acme/feature" {
		t.Errorf("merge subject %q", subject)
	}
	if c := d.lastChange(); c.Ref != "refs/heads/main" || c.Old != main || c.New != m.SHA || c.By != "REST PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge" {
		t.Errorf("change %+v", c)
	}
	d.want(d.api("GET", "pulls/1", nil), 200, "").json(t, &p)
	if !p.Merged || p.State != "closed" || p.MergeCommitSHA != m.SHA {
		t.Fatalf("after merge %+v", p)
	}
	before = d.refs()
	d.want(d.api("PUT", "pulls/1/merge", nil), 405, "Pull Request is not mergeable")
	d.sameRefs(before, "merging a merged pull request")

	// A conflict: not mergeable, and the base does not move.
	d.branchWith("clash", "README.md", "theirs\n")
	enc := base64.StdEncoding.EncodeToString([]byte("ours\n"))
	readme := d.git("rev-parse", "main:README.md")
	d.want(d.api("PUT", "contents/README.md", map[string]any{"message": "ours", "content": enc, "sha": readme}), 200, "")
	d.want(d.api("POST", "pulls", map[string]any{"title": "Clash", "head": "clash", "base": "main"}), 201, "").json(t, &p)
	if p.Mergeable == nil || *p.Mergeable || p.MergeableState != "dirty" {
		t.Fatalf("conflicting pull request: mergeable %v %q", p.Mergeable, p.MergeableState)
	}
	before = d.refs()
	d.want(d.api("PUT", "pulls/2/merge", nil), 405, "Pull Request is not mergeable")
	d.want(d.api("PUT", "pulls/2/update-branch", nil), 422, "merge conflict between base and head")
	d.sameRefs(before, "a conflicting merge")

	// update-branch merges the base into the head.
	up := d.branchWith("behind", "g.txt", "g\n")
	d.want(d.api("POST", "pulls", map[string]any{"title": "Behind", "head": "behind", "base": "main"}), 201, "").json(t, &p)
	d.want(d.api("PUT", "pulls/3/update-branch", nil), 422, "There are no new commits on the base branch.")
	d.want(d.api("PUT", "contents/h.txt", map[string]any{"message": "h", "content": enc}), 201, "")
	main = d.refs()["refs/heads/main"]
	d.want(d.api("PUT", "pulls/3/update-branch", map[string]any{"expected_head_sha": main}), 422, "expected head sha didn't match current head ref.")
	d.want(d.api("PUT", "pulls/3/update-branch", map[string]any{"expected_head_sha": up}), 202, "Updating pull request branch.")
	newHead := d.refs()["refs/heads/behind"]
	if parents := strings.Fields(d.git("show", "-s", "--format=%P", newHead)); len(parents) != 2 || parents[0] != up || parents[1] != main {
		t.Fatalf("update-branch made %s with parents %v", newHead, parents)
	}
	if d.refs()["refs/heads/main"] != main {
		t.Fatal("update-branch moved the base")
	}

	// Squash: one commit on main with the pull request's changes.
	d.want(d.api("PUT", "pulls/3/merge", map[string]any{"merge_method": "squash"}), 200, "").json(t, &m)
	if parents := strings.Fields(d.git("show", "-s", "--format=%P", m.SHA)); len(parents) != 1 || parents[0] != main {
		t.Fatalf("squash parents %v", parents)
	}
	if d.git("show", m.SHA+":g.txt") != "g" {
		t.Error("squash lost g.txt")
	}

	// Update: title, close, reopen, base; a merged one cannot reopen.
	d.want(d.api("PATCH", "pulls/2", map[string]any{"title": "Renamed", "state": "closed"}), 200, "").json(t, &p)
	if p.Title != "Renamed" || p.State != "closed" {
		t.Fatalf("patched %+v", p)
	}
	d.want(d.api("PATCH", "pulls/2", map[string]any{"state": "open", "base": "behind"}), 200, "").json(t, &p)
	if p.State != "open" || p.Base.Ref != "behind" {
		t.Fatalf("reopened %+v", p)
	}
	d.want(d.api("PATCH", "pulls/2", map[string]any{"base": "nope"}), 422, "Validation Failed")
	d.want(d.api("PATCH", "pulls/1", map[string]any{"state": "open"}), 422, "Validation Failed")
}

// Rebase merges replay the head's commits on the base.
func TestPullRebaseMerge(t *testing.T) {
	d := newRepoDouble(t)
	c1 := d.branchWith("topic", "t1.txt", "1\n")
	c2 := d.commitOn(c1, "t2.txt", "2\n")
	d.want(d.api("PATCH", "git/refs/heads/topic", map[string]any{"sha": c2}), 200, "")
	enc := base64.StdEncoding.EncodeToString([]byte("m\n"))
	d.want(d.api("PUT", "contents/m.txt", map[string]any{"message": "m", "content": enc}), 201, "")
	main := d.refs()["refs/heads/main"]
	d.want(d.api("POST", "pulls", map[string]any{"title": "Topic", "head": "topic", "base": "main"}), 201, "")
	var m struct{ SHA string }
	d.want(d.api("PUT", "pulls/1/merge", map[string]any{"merge_method": "rebase"}), 200, "").json(t, &m)
	log := strings.Fields(d.git("rev-list", main+".."+m.SHA))
	if len(log) != 2 || d.git("show", m.SHA+":t1.txt") != "1" || d.git("show", m.SHA+":m.txt") != "m" {
		t.Fatalf("rebase made %v", log)
	}
	if c := d.git("show", "-s", "--format=%cn", m.SHA); c != "GitHub" {
		t.Errorf("committer %q, want GitHub", c)
	}
}
