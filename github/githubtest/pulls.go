package githubtest

// Pull requests: created, read, updated and merged through REST and
// GraphQL. A merge writes the base branch of the repository's git content
// (refs.go) with a real merge (or squash, or rebase) commit.

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const pullsDocs = "https://docs.github.com/rest/pulls/pulls"

var (
	readPulls  = needs("read", "pull_requests")
	writePulls = needs("write", "pull_requests")
)

// pullRequest is a pull request; its fields are guarded by its
// repository's lock.
type pullRequest struct {
	number     int
	id         int64
	title      string
	body       string
	head, base string // branch names, in the same repository
	headSHA    string // the head's commit when last seen (kept if the branch is deleted)
	state      string // "open" or "closed"
	draft      bool
	merged     bool
	mergedAt   time.Time
	mergeSHA   string
	created    time.Time
	updated    time.Time
	closedAt   time.Time
	canModify  bool
	autoMerge  *autoMerge
	reviews    []*review
	comments   []*reviewComment
	issueState *issue // its conversation (labels, comments), shared with the issues API
}

// autoMerge is a pull request's enabled auto-merge.
type autoMerge struct {
	method       string // MERGE, SQUASH or REBASE
	title, body  string
	email        string
	enabledAt    time.Time
	expectedHead string
}

// openPull opens the repository of /repos/{owner}/{repo}/pulls/{n}
// (args) as openRepo does and finds pull request n: a 404 when there is
// none. When ok, the caller calls rc.done.
func (s *Server) openPull(w http.ResponseWriter, r *http.Request, args []string, doc string, n need) (*repoCtx, *pullRequest, bool) {
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, n)
	if !ok {
		return nil, nil, false
	}
	p := rc.pull(pullNumber(args[2]))
	if p == nil {
		rc.done()
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return nil, nil, false
	}
	return rc, p, true
}

// pull finds pull request number.
func (rc *repoCtx) pull(number int) *pullRequest {
	for _, p := range rc.st.pulls {
		if p.number == number {
			return p
		}
	}
	return nil
}

// refresh updates what the pull request knows of its head.
func (rc *repoCtx) refresh(p *pullRequest) {
	if sha, ok := rc.branch(p.head); ok && !p.merged {
		p.headSHA = sha
	}
}

// mergeability is whether p can be merged now: "clean", "dirty" (a
// conflict), "blocked" (required checks not passed), or "" for a closed one.
func (rc *repoCtx) mergeability(p *pullRequest) string {
	if p.state != "open" {
		return ""
	}
	base, ok := rc.branch(p.base)
	if !ok {
		return "dirty"
	}
	if _, conflict, err := rc.mergeTrees(base, p.headSHA); err != nil || conflict {
		return "dirty"
	}
	if !rc.checksPassed(p.headSHA) {
		return "blocked"
	}
	return "clean"
}

// pullJSON is GitHub's pull request object.
func (rc *repoCtx) pullJSON(p *pullRequest) map[string]any {
	rc.refresh(p)
	u := rc.base + "/repos/" + rc.full()
	html := webRoot + "/" + rc.full() + "/pull/" + strconv.Itoa(p.number)
	s := rc.s
	s.mu.Lock()
	in := s.installationForAccount(rc.owner)
	var repo map[string]any
	if in != nil {
		if r, ok := in.repoByName(rc.name); ok {
			repo = s.repoJSON(in, r, rc.base)
		}
	}
	s.mu.Unlock()
	baseSHA, _ := rc.branch(p.base)
	side := func(branch, sha string) map[string]any {
		return map[string]any{"label": rc.owner + ":" + branch, "ref": branch, "sha": sha, "user": repo["owner"], "repo": repo}
	}
	state := rc.mergeability(p)
	var mergeable any
	if p.state == "open" {
		mergeable = state != "dirty"
	}
	out := map[string]any{
		"url": u + "/pulls/" + strconv.Itoa(p.number), "id": p.id, "node_id": pullNodeID(rc.id, p.number),
		"html_url": html, "diff_url": html + ".diff", "patch_url": html + ".patch",
		"issue_url": u + "/issues/" + strconv.Itoa(p.number), "number": p.number, "state": p.state, "locked": false,
		"title": p.title, "user": s.botJSON(rc.base), "body": nilIfEmpty(p.body), "labels": rc.labelsJSON(p.issueState),
		"milestone": nil, "active_lock_reason": nil,
		"created_at": p.created, "updated_at": p.updated, "closed_at": timeOrNil(p.closedAt), "merged_at": timeOrNil(p.mergedAt),
		"merge_commit_sha": nilIfEmpty(p.mergeSHA), "assignee": nil, "assignees": []any{}, "requested_reviewers": []any{}, "requested_teams": []any{},
		"head": side(p.head, p.headSHA), "base": side(p.base, baseSHA),
		"author_association": "NONE", "auto_merge": rc.autoMergeJSON(p), "draft": p.draft,
		"merged": p.merged, "mergeable": mergeable, "rebaseable": mergeable, "mergeable_state": cmpOr(state, "unknown"),
		"merged_by": nil, "comments": len(p.issueState.comments), "review_comments": len(p.comments),
		"maintainer_can_modify": p.canModify, "commits": rc.countCommits(baseSHA, p.headSHA),
		"additions": 0, "deletions": 0, "changed_files": 0,
	}
	if p.merged {
		out["merged_by"] = s.botJSON(rc.base)
	}
	return out
}

func (rc *repoCtx) autoMergeJSON(p *pullRequest) any {
	if p.autoMerge == nil {
		return nil
	}
	return map[string]any{"enabled_by": rc.s.botJSON(rc.base), "merge_method": strings.ToLower(p.autoMerge.method),
		"commit_title": p.autoMerge.title, "commit_message": p.autoMerge.body}
}

func (rc *repoCtx) countCommits(base, head string) int {
	if base == "" || head == "" {
		return 0
	}
	out, err := rc.git("", nil, "rev-list", "--count", base+".."+head)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(out)
	return n
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// pullNumber parses a {pull_number} path segment.
func pullNumber(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// createPull serves POST /repos/{owner}/{repo}/pulls {title, head, base,
// body, draft, maintainer_can_modify}.
func (s *Server) createPull(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = pullsDocs + "#create-a-pull-request"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writePulls)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Title     *string `json:"title"`
		Head      *string `json:"head"`
		Base      *string `json:"base"`
		Body      string  `json:"body"`
		Draft     bool    `json:"draft"`
		CanModify *bool   `json:"maintainer_can_modify"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"head": body.Head != nil, "base": body.Base != nil}, "head", "base") {
		return
	}
	in := pullInput{head: *body.Head, base: *body.Base, body: body.Body, draft: body.Draft, canModify: body.CanModify == nil || *body.CanModify}
	if body.Title != nil {
		in.title = *body.Title
	}
	p, errs := rc.createPull(in)
	if errs != nil {
		validationFailed(w, doc, errs...)
		return
	}
	out := rc.pullJSON(p)
	w.Header().Set("Location", out["url"].(string))
	writeJSON(w, http.StatusCreated, out)
}

// pullInput is a pull request to create.
type pullInput struct {
	title, body, head, base string
	draft, canModify        bool
}

// createPull creates a pull request, or returns GitHub's validation errors.
func (rc *repoCtx) createPull(in pullInput) (*pullRequest, []map[string]any) {
	head := in.head
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, rc.owner) {
			return nil, []map[string]any{fieldError("PullRequest", "head", "invalid")}
		}
		head = branch
	}
	if in.title == "" {
		return nil, []map[string]any{fieldError("PullRequest", "title", "missing_field")}
	}
	headSHA, okHead := rc.branch(head)
	baseSHA, okBase := rc.branch(in.base)
	switch {
	case !okBase:
		return nil, []map[string]any{fieldError("PullRequest", "base", "invalid")}
	case !okHead:
		return nil, []map[string]any{fieldError("PullRequest", "head", "invalid")}
	}
	for _, p := range rc.st.pulls {
		if p.state == "open" && p.head == head && p.base == in.base {
			return nil, []map[string]any{customError("PullRequest", "A pull request already exists for "+rc.owner+":"+head+".")}
		}
	}
	if rc.isAncestor(headSHA, baseSHA) {
		return nil, []map[string]any{customError("PullRequest", "No commits between "+in.base+" and "+head)}
	}
	now := time.Now().UTC().Truncate(time.Second)
	iss := rc.newIssue(in.title, in.body, now)
	p := &pullRequest{
		number: iss.number, id: rc.s.newObjectID(), title: in.title, body: in.body, head: head, base: in.base, headSHA: headSHA,
		state: "open", draft: in.draft, created: now, updated: now, canModify: in.canModify, issueState: iss,
	}
	iss.pull = p
	rc.st.pulls = append(rc.st.pulls, p)
	return p, nil
}

// getPull serves GET /repos/{owner}/{repo}/pulls/{pull_number}.
func (s *Server) getPull(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = pullsDocs + "#get-a-pull-request"
	rc, p, ok := s.openPull(w, r, args, doc, readPulls)
	if !ok {
		return
	}
	defer rc.done()
	writeJSON(w, http.StatusOK, rc.pullJSON(p))
}

// listPulls serves GET /repos/{owner}/{repo}/pulls?state=&head=&base=,
// newest first, in pages.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = pullsDocs + "#list-pull-requests"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readPulls)
	if !ok {
		return
	}
	defer rc.done()
	q := r.URL.Query()
	state := cmpOr(q.Get("state"), "open")
	head := q.Get("head")
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, rc.owner) {
			head = "\x00" // another owner's branch: none here
		} else {
			head = branch
		}
	}
	var found []*pullRequest
	for _, p := range slices.Backward(rc.st.pulls) {
		if (state == "all" || p.state == state) && (head == "" || p.head == head) && (q.Get("base") == "" || p.base == q.Get("base")) {
			found = append(found, p)
		}
	}
	items := []map[string]any{}
	for _, p := range page(w, r, rc.base+"/repos/"+rc.full()+"/pulls", found) {
		items = append(items, rc.pullJSON(p))
	}
	writeJSON(w, http.StatusOK, items)
}

// updatePull serves PATCH /repos/{owner}/{repo}/pulls/{pull_number}
// {title, body, state, base, maintainer_can_modify}.
func (s *Server) updatePull(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = pullsDocs + "#update-a-pull-request"
	rc, p, ok := s.openPull(w, r, args, doc, writePulls)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Title     *string `json:"title"`
		Body      *string `json:"body"`
		State     *string `json:"state"`
		Base      *string `json:"base"`
		CanModify *bool   `json:"maintainer_can_modify"`
	}
	if !readJSON(w, r, doc, &body) {
		return
	}
	if errs := rc.updatePull(p, body.Title, body.Body, body.State, body.Base, body.CanModify); errs != nil {
		validationFailed(w, doc, errs...)
		return
	}
	writeJSON(w, http.StatusOK, rc.pullJSON(p))
}

// updatePull changes what is given, after checking all of it.
func (rc *repoCtx) updatePull(p *pullRequest, title, body, state, base *string, canModify *bool) []map[string]any {
	if state != nil && *state != "open" && *state != "closed" {
		return []map[string]any{fieldError("PullRequest", "state", "invalid")}
	}
	if state != nil && *state == "open" && p.merged {
		return []map[string]any{customError("PullRequest", "state cannot be changed. The pull request cannot be reopened because it has been merged.")}
	}
	if base != nil {
		if (state == nil && p.state != "open") || (state != nil && *state != "open") || p.merged {
			return []map[string]any{customError("PullRequest", "Cannot change the base branch of a closed pull request.")}
		}
		if _, ok := rc.branch(*base); !ok {
			return []map[string]any{customError("PullRequest", "Proposed base branch '"+*base+"' was not found")}
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	if title != nil {
		p.title, p.issueState.title = *title, *title
	}
	if body != nil {
		p.body, p.issueState.body = *body, *body
	}
	if base != nil {
		p.base = *base
	}
	if canModify != nil {
		p.canModify = *canModify
	}
	if state != nil && *state != p.state {
		p.state, p.issueState.state = *state, *state
		p.closedAt = time.Time{}
		if *state == "closed" {
			p.closedAt, p.autoMerge = now, nil
		}
	}
	p.updated = now
	return nil
}

// mergePull serves PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge
// {commit_title, commit_message, sha, merge_method}.
func (s *Server) mergePull(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = pullsDocs + "#merge-a-pull-request"
	rc, p, ok := s.openPull(w, r, args, doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Title   *string `json:"commit_title"`
		Message *string `json:"commit_message"`
		SHA     string  `json:"sha"`
		Method  string  `json:"merge_method"`
	}
	if !readJSON(w, r, doc, &body) {
		return
	}
	method := strings.ToUpper(cmpOr(body.Method, "merge"))
	if method != "MERGE" && method != "SQUASH" && method != "REBASE" {
		validationFailed(w, doc, fieldError("PullRequest", "merge_method", "invalid"))
		return
	}
	sha, status, msg := rc.mergePull(p, method, body.SHA, body.Title, body.Message)
	if status != 0 {
		writeError(w, status, msg, doc)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha": sha, "merged": true, "message": "Pull Request successfully merged"})
}

// GitHub's refusals of a merge.
const (
	msgNotMergeable = "Pull Request is not mergeable"
	msgHeadModified = "Head branch was modified. Review and try the merge again."
)

// mergePull merges p into its base with method (MERGE, SQUASH, REBASE),
// expecting the head at expect unless it is empty. It returns the new
// base commit, or GitHub's refusal.
func (rc *repoCtx) mergePull(p *pullRequest, method, expect string, title, message *string) (string, int, string) {
	rc.refresh(p)
	switch {
	case p.state != "open" || p.merged:
		return "", http.StatusMethodNotAllowed, msgNotMergeable
	case p.draft:
		return "", http.StatusMethodNotAllowed, "Pull Request is still a draft"
	case expect != "" && expect != p.headSHA:
		return "", http.StatusConflict, msgHeadModified
	}
	switch rc.mergeability(p) {
	case "clean":
	case "blocked":
		for _, name := range rc.st.required {
			if !rc.checkPassed(p.headSHA, name) {
				return "", http.StatusMethodNotAllowed, fmt.Sprintf("Required status check %q is expected.", name)
			}
		}
		return "", http.StatusMethodNotAllowed, msgNotMergeable
	default:
		return "", http.StatusMethodNotAllowed, msgNotMergeable
	}
	base, _ := rc.branch(p.base)
	now := time.Now()
	var commit string
	var err error
	switch method {
	case "MERGE":
		t := fmt.Sprintf("Merge pull request #%d from %s/%s", p.number, rc.owner, p.head)
		msg := t + "\n\n" + p.title
		if title != nil {
			msg = *title + "\n\n" + p.title
		}
		if message != nil {
			msg = cmpOr(deref(title), t) + "\n\n" + *message
		}
		tree, _, _ := rc.mergeTrees(base, p.headSHA)
		commit, err = rc.commitTree(tree, []string{base, p.headSHA}, msg, rc.s.botIdent(now), webFlow(now))
	case "SQUASH":
		msg := fmt.Sprintf("%s (#%d)", p.title, p.number)
		if title != nil {
			msg = *title
		}
		if message != nil {
			msg += "\n\n" + *message
		}
		tree, _, _ := rc.mergeTrees(base, p.headSHA)
		commit, err = rc.commitTree(tree, []string{base}, msg, rc.s.botIdent(now), webFlow(now))
	case "REBASE":
		commit, err = rc.rebase(base, p.headSHA, now)
	}
	if err != nil {
		return "", http.StatusMethodNotAllowed, msgNotMergeable
	}
	if err := rc.update(refUpdate{ref: "refs/heads/" + p.base, old: base, new: commit}); err != nil {
		return "", http.StatusConflict, "Base branch was modified. Review and try the merge again."
	}
	p.merged, p.state, p.mergedAt, p.closedAt, p.updated = true, "closed", now.UTC().Truncate(time.Second), now.UTC().Truncate(time.Second), now.UTC().Truncate(time.Second)
	p.mergeSHA, p.autoMerge = commit, nil
	p.issueState.state = "closed"
	return commit, 0, ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// rebase replays the commits of head not in base onto base, one by one,
// as GitHub's "rebase and merge" does, with GitHub as their committer.
func (rc *repoCtx) rebase(base, head string, now time.Time) (string, error) {
	out, err := rc.git("", nil, "rev-list", "--reverse", "--no-merges", base+".."+head)
	if err != nil {
		return "", err
	}
	cur := base
	for c := range strings.FieldsSeq(out) {
		info, err := rc.readCommit(c)
		if err != nil || len(info.Parents) != 1 {
			return "", fmt.Errorf("githubtest: cannot rebase %s", c)
		}
		var tree string
		err = rc.withIndex(func(env []string) error {
			if _, err := rc.git("", env, "read-tree", "-i", "-m", "--aggressive", info.Parents[0], cur, c); err != nil {
				return err
			}
			var err error
			tree, err = rc.git("", env, "write-tree")
			return err
		})
		if err != nil {
			return "", err
		}
		if cur, err = rc.commitTree(tree, []string{cur}, info.Message, info.Author, webFlow(now)); err != nil {
			return "", err
		}
	}
	return cur, nil
}

// updatePullBranch serves PUT
// /repos/{owner}/{repo}/pulls/{pull_number}/update-branch
// {expected_head_sha}: the base merged into the head, 202.
func (s *Server) updatePullBranch(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = pullsDocs + "#update-a-pull-request-branch"
	rc, p, ok := s.openPull(w, r, args, doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Expected string `json:"expected_head_sha"`
	}
	if !readJSON(w, r, doc, &body) {
		return
	}
	if status, msg := rc.updatePullBranch(p, body.Expected, "MERGE"); status != 0 {
		writeError(w, status, msg, doc)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message": "Updating pull request branch.", "url": webRoot + "/" + rc.full() + "/pull/" + strconv.Itoa(p.number)})
}

// updatePullBranch brings the base's new commits into p's head, by a merge
// commit (MERGE) or by rebasing the head on the base (REBASE).
func (rc *repoCtx) updatePullBranch(p *pullRequest, expected, method string) (int, string) {
	rc.refresh(p)
	if p.state != "open" {
		return http.StatusUnprocessableEntity, "Cannot update a closed pull request."
	}
	head, ok := rc.branch(p.head)
	if !ok {
		return http.StatusUnprocessableEntity, "head branch does not exist"
	}
	if expected != "" && expected != head {
		return http.StatusUnprocessableEntity, "expected head sha didn't match current head ref."
	}
	base, _ := rc.branch(p.base)
	if rc.isAncestor(base, head) {
		return http.StatusUnprocessableEntity, "There are no new commits on the base branch."
	}
	now := time.Now()
	var commit string
	var err error
	if method == "REBASE" {
		commit, err = rc.rebase(base, head, now)
	} else {
		tree, conflict, merr := rc.mergeTrees(head, base)
		if merr != nil || conflict {
			return http.StatusUnprocessableEntity, "merge conflict between base and head"
		}
		msg := fmt.Sprintf("Merge branch '%s' into %s", p.base, p.head)
		commit, err = rc.commitTree(tree, []string{head, base}, msg, rc.s.botIdent(now), webFlow(now))
	}
	if err != nil {
		return http.StatusUnprocessableEntity, "merge conflict between base and head"
	}
	if err := rc.update(refUpdate{ref: "refs/heads/" + p.head, old: head, new: commit}); err != nil {
		return http.StatusUnprocessableEntity, "expected head sha didn't match current head ref."
	}
	p.headSHA, p.updated = commit, now.UTC().Truncate(time.Second)
	return 0, ""
}
