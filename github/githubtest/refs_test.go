package githubtest_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// repoDouble is a double with acme/widgets and acme/gadgets, a token for
// both with the default permissions (contents, pull_requests, issues
// write), and helpers to call the API on acme/widgets.
type repoDouble struct {
	*githubtest.Server
	t     *testing.T
	id    int64
	token string
}

func newRepoDouble(t *testing.T) *repoDouble {
	t.Helper()
	s := newServer(t)
	d := &repoDouble{Server: s, t: t, id: s.AddInstallation("acme", "Organization", "widgets", "gadgets").ID}
	d.token = d.mint(nil)
	return d
}

// mint mints a token for acme with body (nil: everything).
func (d *repoDouble) mint(body any) string {
	d.t.Helper()
	var tok tokenAnswer
	mint(d.t, d.Server, d.id, body, http.StatusCreated).json(d.t, &tok)
	return tok.Token
}

// api calls the API with the full token; path is relative to
// /repos/acme/widgets unless it starts with "/".
func (d *repoDouble) api(method, path string, body any) response {
	d.t.Helper()
	return d.apiAs(d.token, method, path, body)
}

func (d *repoDouble) apiAs(token, method, path string, body any) response {
	d.t.Helper()
	if !strings.HasPrefix(path, "/") {
		path = "/repos/acme/widgets/" + path
	}
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return do(d.t, method, d.URL+strings.TrimSuffix(path, "/"), auth, body)
}

// want checks a response's status and, if msg is not empty, its message.
func (d *repoDouble) want(r response, status int, msg string) response {
	d.t.Helper()
	wantStatus(d.t, r, status)
	if msg != "" {
		if got := r.message(d.t); got != msg {
			d.t.Fatalf("%s %s: message %q, want %q", r.Request.Method, r.Request.URL.Path, got, msg)
		}
	}
	return r
}

// refs is acme/widgets' refs now.
func (d *repoDouble) refs() map[string]string {
	d.t.Helper()
	refs, err := d.Refs("acme/widgets")
	if err != nil {
		d.t.Fatal(err)
	}
	return refs
}

// sameRefs fails unless acme/widgets' refs are still before.
func (d *repoDouble) sameRefs(before map[string]string, what string) {
	d.t.Helper()
	if after := d.refs(); fmt.Sprint(after) != fmt.Sprint(before) {
		d.t.Fatalf("%s moved refs: %v, was %v", what, after, before)
	}
}

// git runs git on acme/widgets' bare repository.
func (d *repoDouble) git(args ...string) string {
	d.t.Helper()
	dir, err := d.GitDir("acme/widgets")
	if err != nil {
		d.t.Fatal(err)
	}
	out, err := exec.Command("git", append([]string{"--git-dir=" + dir}, args...)...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commitOn commits path=content on top of parent through the Git Data
// API (blob, tree, commit) and returns the commit; no ref moves.
func (d *repoDouble) commitOn(parent, path, content string) string {
	d.t.Helper()
	var blob, tree, commit struct {
		SHA string `json:"sha"`
	}
	d.want(d.api("POST", "git/blobs", map[string]any{"content": base64.StdEncoding.EncodeToString([]byte(content)), "encoding": "base64"}), 201, "").json(d.t, &blob)
	d.want(d.api("POST", "git/trees", map[string]any{"base_tree": d.git("rev-parse", parent+"^{tree}"),
		"tree": []map[string]any{{"path": path, "mode": "100644", "type": "blob", "sha": blob.SHA}}}), 201, "").json(d.t, &tree)
	d.want(d.api("POST", "git/commits", map[string]any{"message": "Change " + path, "tree": tree.SHA, "parents": []string{parent}}), 201, "").json(d.t, &commit)
	return commit.SHA
}

// lastChange is the last ref change recorded.
func (d *repoDouble) lastChange() githubtest.RefChange {
	d.t.Helper()
	all := d.RefChanges()
	if len(all) == 0 {
		d.t.Fatal("no ref change recorded")
	}
	return all[len(all)-1]
}

func TestGitRefsREST(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	if main == "" || len(d.RefChanges()) != 0 {
		t.Fatalf("seed refs %v, changes %v", d.refs(), d.RefChanges())
	}
	var ref struct {
		Ref    string `json:"ref"`
		NodeID string `json:"node_id"`
		Object struct{ SHA, Type string }
	}
	d.want(d.api("GET", "git/ref/heads/main", nil), 200, "").json(t, &ref)
	if ref.Ref != "refs/heads/main" || ref.Object.SHA != main || ref.Object.Type != "commit" || ref.NodeID == "" {
		t.Fatalf("GET git/ref/heads/main: %+v", ref)
	}
	d.want(d.api("GET", "git/ref/heads/nope", nil), 404, "Not Found")

	// Create.
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/heads/feature/x", "sha": main}), 201, "")
	if got := d.refs()["refs/heads/feature/x"]; got != main {
		t.Fatalf("feature/x at %q, want %s", got, main)
	}
	want := githubtest.RefChange{Repo: "acme/widgets", Ref: "refs/heads/feature/x", Old: "", New: main, By: "REST POST /repos/{owner}/{repo}/git/refs"}
	if c := d.lastChange(); c.Repo != want.Repo || c.Ref != want.Ref || c.Old != want.Old || c.New != want.New || c.By != want.By || c.At.IsZero() {
		t.Fatalf("change %+v, want %+v", c, want)
	}
	before := d.refs()
	for _, c := range []struct {
		body   map[string]any
		status int
		msg    string
	}{
		{map[string]any{"ref": "refs/heads/feature/x", "sha": main}, 422, "Reference already exists"},
		{map[string]any{"ref": "refs/heads/y", "sha": strings.Repeat("1", 40)}, 422, "Object does not exist"},
		{map[string]any{"ref": "refs/heads/a..b", "sha": main}, 422, "Reference name is not valid"},
		{map[string]any{"ref": "heads/y", "sha": main}, 422, "Reference name is not valid"},
		{map[string]any{"ref": "refs/heads/y"}, 422, "Invalid request.\n\n\"sha\" wasn't supplied."},
		{map[string]any{}, 422, "Invalid request.\n\n\"ref\", \"sha\" weren't supplied."},
		{map[string]any{"ref": 7, "sha": main}, 422, "Invalid request.\n\nFor 'properties/ref', a number is not a string."},
	} {
		d.want(d.api("POST", "git/refs", c.body), c.status, c.msg)
	}
	d.want(d.api("POST", "git/refs", "{not json"), 400, "Problems parsing JSON")
	d.sameRefs(before, "refused creates")

	// Listing: all, a prefix, matching-refs.
	var list []struct{ Ref string }
	d.want(d.api("GET", "git/refs", nil), 200, "").json(t, &list)
	if len(list) != 2 || list[0].Ref != "refs/heads/feature/x" || list[1].Ref != "refs/heads/main" {
		t.Errorf("git/refs: %+v", list)
	}
	d.want(d.api("GET", "git/refs/heads/feature", nil), 200, "").json(t, &list)
	if len(list) != 1 || list[0].Ref != "refs/heads/feature/x" {
		t.Errorf("git/refs/heads/feature: %+v", list)
	}
	d.want(d.api("GET", "git/matching-refs/tags", nil), 200, "").json(t, &list)
	if len(list) != 0 {
		t.Errorf("matching-refs/tags: %+v", list)
	}

	// Update: a fast forward, then a refused non-fast-forward, then forced.
	next := d.commitOn(main, "a.txt", "a\n")
	side := d.commitOn(main, "b.txt", "b\n")
	d.sameRefs(before, "the Git Data API's objects")
	d.want(d.api("PATCH", "git/refs/heads/feature/x", map[string]any{"sha": next}), 200, "")
	if d.refs()["refs/heads/feature/x"] != next {
		t.Fatal("fast forward did not move feature/x")
	}
	if c := d.lastChange(); c.Old != main || c.New != next || c.By != "REST PATCH /repos/{owner}/{repo}/git/refs/{ref}" {
		t.Fatalf("change %+v", c)
	}
	before = d.refs()
	d.want(d.api("PATCH", "git/refs/heads/feature/x", map[string]any{"sha": side}), 422, "Update is not a fast forward")
	d.want(d.api("PATCH", "git/refs/heads/feature/x", map[string]any{"sha": side, "force": false}), 422, "Update is not a fast forward")
	d.want(d.api("PATCH", "git/refs/heads/nope", map[string]any{"sha": side}), 422, "Reference does not exist")
	d.want(d.api("PATCH", "git/refs/heads/feature/x", map[string]any{"sha": strings.Repeat("2", 40), "force": true}), 422, "Object does not exist")
	d.want(d.api("PATCH", "git/refs/heads/feature/x", map[string]any{}), 422, "Invalid request.\n\n\"sha\" wasn't supplied.")
	d.sameRefs(before, "refused updates")
	d.want(d.api("PATCH", "git/refs/heads/feature/x", map[string]any{"sha": side, "force": true}), 200, "")
	if d.refs()["refs/heads/feature/x"] != side {
		t.Fatal("forced update did not move feature/x")
	}

	// Tags are refs too.
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/tags/v1", "sha": main}), 201, "")

	// Permissions: read-only, another repository's token, none, revoked.
	readOnly := d.mint(map[string]any{"permissions": map[string]string{"contents": "read"}})
	gadgets := d.mint(map[string]any{"repositories": []string{"gadgets"}})
	noContents := d.mint(map[string]any{"permissions": map[string]string{"issues": "write"}})
	revoked := d.mint(nil)
	d.RevokeToken(revoked)
	before = d.refs()
	for _, method := range []string{"PATCH", "DELETE"} {
		body := map[string]any{"sha": main, "force": true}
		d.want(d.apiAs(readOnly, method, "git/refs/heads/feature/x", body), 403, "Resource not accessible by integration")
		d.want(d.apiAs(gadgets, method, "git/refs/heads/feature/x", body), 404, "Not Found")
		d.want(d.apiAs("", method, "git/refs/heads/feature/x", body), 401, "Requires authentication")
		d.want(d.apiAs(revoked, method, "git/refs/heads/feature/x", body), 401, "Bad credentials")
	}
	d.want(d.apiAs(readOnly, "POST", "git/refs", map[string]any{"ref": "refs/heads/z", "sha": main}), 403, "Resource not accessible by integration")
	d.want(d.apiAs(noContents, "GET", "git/ref/heads/main", nil), 403, "Resource not accessible by integration")
	d.want(d.apiAs(readOnly, "GET", "git/ref/heads/main", nil), 200, "")
	d.sameRefs(before, "refused tokens")

	// Delete.
	d.want(d.api("DELETE", "git/refs/heads/feature/x", nil), 204, "")
	if _, ok := d.refs()["refs/heads/feature/x"]; ok {
		t.Fatal("feature/x still there")
	}
	if c := d.lastChange(); c.Old != side || c.New != "" || c.By != "REST DELETE /repos/{owner}/{repo}/git/refs/{ref}" {
		t.Fatalf("change %+v", c)
	}
	d.want(d.api("DELETE", "git/refs/heads/feature/x", nil), 422, "Reference does not exist")
	before = d.refs()
	d.want(d.api("DELETE", "git/refs/heads/main", nil), 422, "Cannot delete the default branch")
	d.sameRefs(before, "deleting the default branch")

	if n := len(d.RefChanges()); n != 5 {
		t.Errorf("%d changes recorded, want 5: %+v", n, d.RefChanges())
	}
}

// A 502 after the effect: the ref moved, the client saw a failure.
func TestRefWriteFailsAfterEffect(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	d.FailNextAfterEffect(1, http.StatusBadGateway)
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/heads/orphan", "sha": main}), 502, "Bad Gateway")
	if d.refs()["refs/heads/orphan"] != main {
		t.Fatal("the ref was not created before the 502")
	}
	d.FailNext(1, http.StatusBadGateway)
	d.want(d.api("DELETE", "git/refs/heads/orphan", nil), 502, "Bad Gateway")
	if d.refs()["refs/heads/orphan"] != main {
		t.Fatal("a 502 without effect deleted the ref")
	}
}

func TestContentsREST(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	type answer struct {
		Content struct{ SHA, Path string }
		Commit  struct {
			SHA     string
			Parents []struct{ SHA string }
			Author  struct{ Name, Email string }
		}
	}

	// No branch: the default branch.
	var a answer
	d.want(d.api("PUT", "contents/docs/new.md", map[string]any{"message": "Add new.md", "content": enc("hello\n")}), 201, "").json(t, &a)
	if d.refs()["refs/heads/main"] != a.Commit.SHA || a.Commit.Parents[0].SHA != main || a.Content.Path != "docs/new.md" {
		t.Fatalf("PUT without branch: %+v, refs %v", a, d.refs())
	}
	if a.Commit.Author.Name != d.BotLogin() || a.Commit.Author.Email != d.BotEmail() {
		t.Errorf("author %+v, want the App's bot", a.Commit.Author)
	}
	if got := d.git("show", "main:docs/new.md"); got != "hello" {
		t.Errorf("main:docs/new.md = %q", got)
	}
	if c := d.lastChange(); c.Ref != "refs/heads/main" || c.By != "REST PUT /repos/{owner}/{repo}/contents/{path}" {
		t.Errorf("change %+v", c)
	}
	blob := a.Content.SHA

	// Updating needs the sha of the blob it replaces.
	before := d.refs()
	d.want(d.api("PUT", "contents/docs/new.md", map[string]any{"message": "m", "content": enc("x")}), 422, "Invalid request.\n\n\"sha\" wasn't supplied.")
	d.want(d.api("PUT", "contents/docs/new.md", map[string]any{"message": "m", "content": enc("x"), "sha": main}), 409, "docs/new.md does not match "+main)
	d.want(d.api("PUT", "contents/docs/new.md", map[string]any{"message": "m", "content": enc("x"), "branch": "nope"}), 404, "Branch nope not found")
	d.want(d.api("PUT", "contents/x.md", map[string]any{"content": enc("x")}), 422, "Invalid request.\n\n\"message\" wasn't supplied.")
	d.want(d.api("PUT", "contents/a/.git/config", map[string]any{"message": "m", "content": enc("x")}), 422, "path contains a malformed path component")
	d.want(d.apiAs(d.mint(map[string]any{"permissions": map[string]string{"contents": "read"}}), "PUT", "contents/x.md", map[string]any{"message": "m", "content": enc("x")}), 403, "Resource not accessible by integration")
	d.sameRefs(before, "refused contents writes")
	d.want(d.api("PUT", "contents/docs/new.md", map[string]any{"message": "Update", "content": enc("again\n"), "sha": blob}), 200, "").json(t, &a)
	if d.refs()["refs/heads/main"] != a.Commit.SHA {
		t.Fatal("update did not move main")
	}

	// A named branch moves that branch only.
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/heads/work", "sha": a.Commit.SHA}), 201, "")
	mainNow := d.refs()["refs/heads/main"]
	d.want(d.api("PUT", "contents/w.txt", map[string]any{"message": "On work", "content": enc("w"), "branch": "work"}), 201, "").json(t, &a)
	if r := d.refs(); r["refs/heads/work"] != a.Commit.SHA || r["refs/heads/main"] != mainNow {
		t.Fatalf("PUT on work: refs %v", r)
	}
	var got struct{ Content, Encoding, SHA string }
	d.want(d.api("GET", "contents/w.txt?ref=work", nil), 200, "").json(t, &got)
	if dec, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(got.Content, "\n", "")); string(dec) != "w" || got.SHA != a.Content.SHA {
		t.Errorf("GET contents/w.txt?ref=work: %+v", got)
	}
	d.want(d.api("GET", "contents/w.txt", nil), 404, "Not Found")

	// A changed default branch is where a PUT without branch goes.
	if err := d.SetDefaultBranch("acme/widgets", "work"); err != nil {
		t.Fatal(err)
	}
	var repo struct {
		DefaultBranch string `json:"default_branch"`
	}
	d.want(d.api("GET", "/repos/acme/widgets", nil), 200, "").json(t, &repo)
	if repo.DefaultBranch != "work" {
		t.Fatalf("default_branch %q", repo.DefaultBranch)
	}
	d.want(d.api("PUT", "contents/d.txt", map[string]any{"message": "On default", "content": enc("d")}), 201, "").json(t, &a)
	if r := d.refs(); r["refs/heads/work"] != a.Commit.SHA || r["refs/heads/main"] != mainNow {
		t.Fatalf("PUT without branch after the default changed: refs %v", r)
	}

	// Delete.
	before = d.refs()
	d.want(d.api("DELETE", "contents/d.txt", map[string]any{"message": "rm"}), 422, "Invalid request.\n\n\"sha\" wasn't supplied.")
	d.want(d.api("DELETE", "contents/d.txt", map[string]any{"message": "rm", "sha": main}), 409, "d.txt does not match "+main)
	d.want(d.api("DELETE", "contents/nope.txt", map[string]any{"message": "rm", "sha": main}), 404, "Not Found")
	d.sameRefs(before, "refused deletes")
	d.want(d.api("DELETE", "contents/d.txt", map[string]any{"message": "rm", "sha": a.Content.SHA}), 200, "").json(t, &a)
	if d.refs()["refs/heads/work"] != a.Commit.SHA {
		t.Fatal("delete did not move work")
	}
	if out, err := exec.Command("git", "--git-dir="+mustGitDir(t, d), "cat-file", "-e", "work:d.txt").CombinedOutput(); err == nil {
		t.Fatalf("d.txt still on work: %s", out)
	}
}

func mustGitDir(t *testing.T, d *repoDouble) string {
	dir, err := d.GitDir("acme/widgets")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// PATCH /repos/{owner}/{repo} default_branch needs administration write.
func TestPatchDefaultBranch(t *testing.T) {
	d := newRepoDouble(t)
	d.want(d.api("PATCH", "/repos/acme/widgets", map[string]any{"default_branch": "main"}), 403, "Resource not accessible by integration")
	in := d.AddInstallation("admins", "Organization", "site")
	in.Permissions["administration"] = "write"
	var tok tokenAnswer
	mint(t, d.Server, in.ID, nil, http.StatusCreated).json(t, &tok)
	main, _ := d.Refs("admins/site")
	r := do(t, "POST", d.URL+"/repos/admins/site/git/refs", "Bearer "+tok.Token, map[string]any{"ref": "refs/heads/next", "sha": main["refs/heads/main"]})
	wantStatus(t, r, 201)
	r = do(t, "PATCH", d.URL+"/repos/admins/site", "Bearer "+tok.Token, map[string]any{"default_branch": "nope"})
	wantStatus(t, r, 422)
	r = do(t, "PATCH", d.URL+"/repos/admins/site", "Bearer "+tok.Token, map[string]any{"default_branch": "next"})
	wantStatus(t, r, 200)
	if b, _ := d.DefaultBranch("admins/site"); b != "next" {
		t.Fatalf("default branch %q", b)
	}
}

// Tests in other processes read refs and ref changes through the admin API.
func TestAdminRefs(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/heads/x", "sha": main}), 201, "")
	var refs map[string]string
	wantStatus(t, do(t, "GET", d.URL+"/_double/refs?repo=acme/widgets", "", nil), 200)
	do(t, "GET", d.URL+"/_double/refs?repo=acme/widgets", "", nil).json(t, &refs)
	if len(refs) != 2 || refs["refs/heads/x"] != main {
		t.Fatalf("admin refs %v", refs)
	}
	wantStatus(t, do(t, "GET", d.URL+"/_double/refs?repo=acme/nope", "", nil), 404)
	var changes []githubtest.RefChange
	do(t, "GET", d.URL+"/_double/ref-changes", "", nil).json(t, &changes)
	if len(changes) != 1 || changes[0].Ref != "refs/heads/x" || changes[0].By != "REST POST /repos/{owner}/{repo}/git/refs" {
		t.Fatalf("admin ref changes %+v", changes)
	}
	wantStatus(t, do(t, "POST", d.URL+"/_double/repositories/default-branch", "", map[string]string{"repo": "acme/widgets", "branch": "x"}), 204)
	wantStatus(t, do(t, "POST", d.URL+"/_double/repositories/default-branch", "", map[string]string{"repo": "acme/widgets", "branch": "nope"}), 400)
	if b, _ := d.DefaultBranch("acme/widgets"); b != "x" {
		t.Fatalf("default branch %q", b)
	}
	wantStatus(t, do(t, "POST", d.URL+"/_double/repositories/required-checks", "", map[string]any{"repo": "acme/widgets", "checks": []string{"ci"}}), 204)
	d.branchWith("topic", "t.txt", "t\n")
	var p pullAnswer
	d.want(d.api("POST", "pulls", map[string]any{"title": "T", "head": "topic", "base": "x"}), 201, "").json(t, &p)
	if p.MergeableState != "blocked" {
		t.Fatalf("required check set through the admin API: %q", p.MergeableState)
	}
	wantStatus(t, do(t, "POST", d.URL+"/_double/repositories/required-checks", "", map[string]any{"repo": "acme/nope", "checks": []string{"ci"}}), 400)
}

// On GitHub Enterprise Server the same writes live under /api/v3 and
// /api/graphql, and are recorded the same way.
func TestRefWritesUnderPathPrefix(t *testing.T) {
	s := newServer(t, githubtest.WithPathPrefix("/api/v3"))
	id := s.AddInstallation("acme", "Organization", "widgets").ID
	var tok tokenAnswer
	mint(t, s, id, nil, http.StatusCreated).json(t, &tok)
	refs, _ := s.Refs("acme/widgets")
	main := refs["refs/heads/main"]
	wantStatus(t, do(t, "POST", s.URL+"/repos/acme/widgets/git/refs", "token "+tok.Token, map[string]any{"ref": "refs/heads/ghes", "sha": main}), 201)
	root := strings.TrimSuffix(s.URL, "/v3")
	r := do(t, "POST", root+"/graphql", "token "+tok.Token, map[string]any{"query": `{ repository(owner: "acme", name: "widgets") { ref(qualifiedName: "ghes") { target { oid } } } }`})
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), main) {
		t.Fatalf("GraphQL at /api/graphql: %s", r.body)
	}
	wantStatus(t, do(t, "POST", s.URL+"/graphql", "token "+tok.Token, map[string]any{"query": `{ viewer { login } }`}), 404)
	if c := s.RefChanges(); len(c) != 1 || c[0].By != "REST POST /repos/{owner}/{repo}/git/refs" {
		t.Fatalf("changes %+v", c)
	}
}

// The Git Data API reads back what it wrote; POST /merges merges or
// refuses as GitHub does.
func TestGitDataReadsAndMerges(t *testing.T) {
	d := newRepoDouble(t)
	main := d.refs()["refs/heads/main"]
	c := d.commitOn(main, "dir/a.txt", "a\n")
	var commit struct {
		SHA     string
		Message string
		Tree    struct{ SHA string }
		Parents []struct{ SHA string }
		Author  struct{ Name string }
	}
	d.want(d.api("GET", "git/commits/"+c, nil), 200, "").json(t, &commit)
	if commit.SHA != c || commit.Message != "Change dir/a.txt" || len(commit.Parents) != 1 || commit.Parents[0].SHA != main || commit.Author.Name != d.BotLogin() {
		t.Fatalf("commit %+v", commit)
	}
	var tree struct {
		Tree []struct{ Path, Type, SHA string }
	}
	d.want(d.api("GET", "git/trees/"+commit.Tree.SHA, nil), 200, "").json(t, &tree)
	var dirSHA string
	for _, e := range tree.Tree {
		if e.Path == "dir" && e.Type == "tree" {
			dirSHA = e.SHA
		}
	}
	d.want(d.api("GET", "git/trees/"+dirSHA, nil), 200, "").json(t, &tree)
	if len(tree.Tree) != 1 || tree.Tree[0].Path != "a.txt" {
		t.Fatalf("tree %+v", tree)
	}
	var blob struct{ Content, Encoding string }
	d.want(d.api("GET", "git/blobs/"+tree.Tree[0].SHA, nil), 200, "").json(t, &blob)
	if raw, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(blob.Content, "\n", "")); string(raw) != "a\n" || blob.Encoding != "base64" {
		t.Fatalf("blob %+v", blob)
	}
	d.want(d.api("GET", "git/commits/"+strings.Repeat("3", 40), nil), 404, "Not Found")
	d.want(d.api("POST", "git/commits", map[string]any{"message": "m", "tree": strings.Repeat("4", 40)}), 422, "Tree SHA does not exist")
	d.want(d.api("POST", "git/commits", map[string]any{"message": "m", "tree": commit.Tree.SHA, "parents": []string{commit.Tree.SHA}}), 422, "Parent SHA does not exist or is not a commit object")
	// A tree entry with sha null removes the path.
	var nt struct{ SHA string }
	d.want(d.api("POST", "git/trees", map[string]any{"base_tree": commit.Tree.SHA, "tree": []map[string]any{{"path": "dir", "mode": "040000", "type": "tree", "sha": nil}}}), 201, "").json(t, &nt)
	d.want(d.api("GET", "git/trees/"+nt.SHA, nil), 200, "").json(t, &tree)
	for _, e := range tree.Tree {
		if e.Path == "dir" {
			t.Fatal("sha null kept dir")
		}
	}

	// Merges: 201 with the commit, 409 on a conflict, both branches left
	// alone when refused.
	d.want(d.api("POST", "git/refs", map[string]any{"ref": "refs/heads/a", "sha": c}), 201, "")
	ours := d.commitOn(main, "dir/a.txt", "ours\n")
	d.want(d.api("PATCH", "git/refs/heads/main", map[string]any{"sha": ours}), 200, "")
	before := d.refs()
	d.want(d.api("POST", "merges", map[string]any{"base": "main", "head": "a"}), 409, "Merge conflict")
	d.want(d.api("POST", "merges", map[string]any{"base": "nope", "head": "a"}), 404, "Base does not exist")
	d.want(d.api("POST", "merges", map[string]any{"base": "main"}), 422, "Invalid request.\n\n\"head\" wasn't supplied.")
	d.sameRefs(before, "refused merges")
	b := d.commitOn(main, "b.txt", "b\n")
	var m struct {
		SHA    string
		Commit struct{ Message string }
	}
	d.want(d.api("POST", "merges", map[string]any{"base": "main", "head": b, "commit_message": "Merge b"}), 201, "").json(t, &m)
	if d.refs()["refs/heads/main"] != m.SHA || m.Commit.Message != "Merge b" || d.lastChange().By != "REST POST /repos/{owner}/{repo}/merges" {
		t.Fatalf("merge %+v, %+v", m, d.lastChange())
	}
	var rc struct{ SHA string }
	d.want(d.api("GET", "commits/main", nil), 200, "").json(t, &rc)
	if rc.SHA != m.SHA {
		t.Fatalf("commits/main %+v", rc)
	}
}
