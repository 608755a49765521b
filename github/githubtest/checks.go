package githubtest

// Reviews, review comments, commit statuses and check runs: writes that
// move no ref, though statuses and check runs can let an auto-merge
// happen (RequireChecks).

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (rc *repoCtx) reviewJSON(p *pullRequest, rv *review) map[string]any {
	html := rc.webURL("/pull/" + strconv.Itoa(p.number) + "#pullrequestreview-" + strconv.FormatInt(rv.id, 10))
	pu := rc.base + "/repos/" + rc.full() + "/pulls/" + strconv.Itoa(p.number)
	out := map[string]any{
		"id": rv.id, "node_id": opaqueID("PRR", rc.id, strconv.FormatInt(rv.id, 10)), "user": rc.s.botJSON(rc.base), "body": rv.body,
		"state": rv.state, "html_url": html, "pull_request_url": pu, "commit_id": rv.commit, "author_association": "NONE",
		"_links": map[string]any{"html": map[string]any{"href": html}, "pull_request": map[string]any{"href": pu}},
	}
	if rv.state != "PENDING" {
		out["submitted_at"] = rv.submitted
	}
	return out
}

// createReview serves POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews
// {commit_id, body, event, comments}. As on GitHub, the author of a pull
// request (here the App's bot, for every pull request its tokens open)
// cannot approve it or request changes on it.
func (s *Server) createReview(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = reviewsDocs + "#create-a-review-for-a-pull-request"
	rc, p, ok := s.openPull(w, r, args, doc, writePulls)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		CommitID string `json:"commit_id"`
		Body     string `json:"body"`
		Event    string `json:"event"`
		Comments []struct {
			Path string `json:"path"`
			Line int    `json:"line"`
			Side string `json:"side"`
			Body string `json:"body"`
		} `json:"comments"`
	}
	if !readJSON(w, r, doc, &body) {
		return
	}
	rc.refresh(p)
	state := map[string]string{"": "PENDING", "APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}[body.Event]
	switch {
	case state == "":
		validationFailed(w, doc, fieldError("PullRequestReview", "event", "invalid"))
		return
	case state == "APPROVED":
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Unprocessable Entity", "errors": []string{"Can not approve your own pull request"}, "documentation_url": doc, "status": "422"})
		return
	case state == "CHANGES_REQUESTED":
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Unprocessable Entity", "errors": []string{"Can not request changes on your own pull request"}, "documentation_url": doc, "status": "422"})
		return
	}
	commit := cmpOr(body.CommitID, p.headSHA)
	rv := &review{id: s.newObjectID(), body: body.Body, state: state, commit: commit, submitted: time.Now().UTC().Truncate(time.Second)}
	for _, c := range body.Comments {
		if _, _, ok := rc.fileAt(commit, c.Path); !ok {
			validationFailed(w, doc, map[string]any{"resource": "PullRequestReviewComment", "code": "custom", "field": "pull_request_review_thread.path", "message": "could not be resolved"})
			return
		}
	}
	for _, c := range body.Comments {
		p.comments = append(p.comments, &reviewComment{id: s.newObjectID(), reviewID: rv.id, body: c.Body, path: c.Path, line: c.Line, side: cmpOr(c.Side, "RIGHT"), commit: commit, created: rv.submitted})
	}
	p.reviews = append(p.reviews, rv)
	writeJSON(w, http.StatusOK, rc.reviewJSON(p, rv))
}

// listReviews serves GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews.
func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = reviewsDocs + "#list-reviews-for-a-pull-request"
	rc, p, ok := s.openPull(w, r, args, doc, readPulls)
	if !ok {
		return
	}
	defer rc.done()
	items := []map[string]any{}
	for _, rv := range page(w, r, rc.base+"/repos/"+rc.full()+"/pulls/"+args[2]+"/reviews", p.reviews) {
		items = append(items, rc.reviewJSON(p, rv))
	}
	writeJSON(w, http.StatusOK, items)
}

func (rc *repoCtx) reviewCommentJSON(p *pullRequest, c *reviewComment) map[string]any {
	u := rc.base + "/repos/" + rc.full() + "/pulls/comments/" + strconv.FormatInt(c.id, 10)
	out := map[string]any{
		"id": c.id, "node_id": opaqueID("PRRC", rc.id, strconv.FormatInt(c.id, 10)), "url": u,
		"pull_request_review_id": c.reviewID, "path": c.path, "line": c.line, "side": c.side, "commit_id": c.commit,
		"original_commit_id": c.commit, "user": rc.s.botJSON(rc.base), "body": c.body, "created_at": c.created, "updated_at": c.created,
		"html_url":         rc.webURL("/pull/" + strconv.Itoa(p.number) + "#discussion_r" + strconv.FormatInt(c.id, 10)),
		"pull_request_url": rc.base + "/repos/" + rc.full() + "/pulls/" + strconv.Itoa(p.number), "author_association": "NONE",
	}
	if c.inReplyTo != 0 {
		out["in_reply_to_id"] = c.inReplyTo
	}
	return out
}

// createReviewComment serves POST
// /repos/{owner}/{repo}/pulls/{pull_number}/comments {body, commit_id,
// path, line, side} or {body, in_reply_to}.
func (s *Server) createReviewComment(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = reviewComDocs + "#create-a-review-comment-for-a-pull-request"
	rc, p, ok := s.openPull(w, r, args, doc, writePulls)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Body      *string `json:"body"`
		CommitID  string  `json:"commit_id"`
		Path      string  `json:"path"`
		Line      int     `json:"line"`
		Side      string  `json:"side"`
		InReplyTo int64   `json:"in_reply_to"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"body": body.Body != nil}, "body") {
		return
	}
	rc.refresh(p)
	c := &reviewComment{id: s.newObjectID(), body: *body.Body, created: time.Now().UTC().Truncate(time.Second)}
	if body.InReplyTo != 0 {
		var parent *reviewComment
		for _, x := range p.comments {
			if x.id == body.InReplyTo {
				parent = x
			}
		}
		if parent == nil {
			writeError(w, http.StatusNotFound, msgNotFound, doc)
			return
		}
		c.path, c.line, c.side, c.commit, c.inReplyTo = parent.path, parent.line, parent.side, parent.commit, parent.id
	} else {
		if missingFields(w, doc, map[string]bool{"commit_id": body.CommitID != "", "path": body.Path != ""}, "commit_id", "path") {
			return
		}
		if _, _, ok := rc.fileAt(body.CommitID, body.Path); !ok {
			validationFailed(w, doc, map[string]any{"resource": "PullRequestReviewComment", "code": "custom", "field": "pull_request_review_thread.path", "message": "could not be resolved"})
			return
		}
		c.path, c.line, c.side, c.commit = body.Path, body.Line, cmpOr(body.Side, "RIGHT"), body.CommitID
	}
	p.comments = append(p.comments, c)
	writeJSON(w, http.StatusCreated, rc.reviewCommentJSON(p, c))
}

// listReviewComments serves GET /repos/{owner}/{repo}/pulls/{pull_number}/comments.
func (s *Server) listReviewComments(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = reviewComDocs + "#list-review-comments-on-a-pull-request"
	rc, p, ok := s.openPull(w, r, args, doc, readPulls)
	if !ok {
		return
	}
	defer rc.done()
	items := []map[string]any{}
	for _, c := range page(w, r, rc.base+"/repos/"+rc.full()+"/pulls/"+args[2]+"/comments", p.comments) {
		items = append(items, rc.reviewCommentJSON(p, c))
	}
	writeJSON(w, http.StatusOK, items)
}

// ---------------------------------------------------------------------------
// Statuses and check runs.

func (rc *repoCtx) statusJSON(st *commitStatus) map[string]any {
	return map[string]any{
		"id": st.id, "node_id": opaqueID("SC", rc.id, strconv.FormatInt(st.id, 10)), "url": rc.base + "/repos/" + rc.full() + "/statuses/" + st.sha,
		"state": st.state, "description": nilIfEmpty(st.description), "target_url": nilIfEmpty(st.targetURL), "context": st.context,
		"created_at": st.created, "updated_at": st.created, "creator": rc.s.botJSON(rc.base),
	}
}

// createStatus serves POST /repos/{owner}/{repo}/statuses/{sha} {state,
// target_url, description, context}.
func (s *Server) createStatus(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = statusesDocs + "#create-a-commit-status"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, needs("write", "statuses"))
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		State       *string `json:"state"`
		TargetURL   string  `json:"target_url"`
		Description string  `json:"description"`
		Context     string  `json:"context"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"state": body.State != nil}, "state") {
		return
	}
	switch *body.State {
	case "error", "failure", "pending", "success":
	default:
		validationFailed(w, doc, fieldError("Status", "state", "invalid"))
		return
	}
	if rc.objectType(args[2]) != "commit" {
		writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+args[2], doc)
		return
	}
	st := &commitStatus{id: s.newObjectID(), sha: args[2], state: *body.State, context: cmpOr(body.Context, "default"),
		description: body.Description, targetURL: body.TargetURL, created: time.Now().UTC().Truncate(time.Second)}
	rc.st.statuses = append(rc.st.statuses, st)
	rc.by = "auto-merge"
	rc.tryAutoMerge()
	writeJSON(w, http.StatusCreated, rc.statusJSON(st))
}

// combinedStatus serves GET /repos/{owner}/{repo}/commits/{ref}/status.
func (s *Server) combinedStatus(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = statusesDocs + "#get-the-combined-status-for-a-specific-reference"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, needs("read", "statuses"))
	if !ok {
		return
	}
	defer rc.done()
	sha, err := rc.git("", nil, "rev-parse", "-q", "--verify", args[2]+"^{commit}")
	if err != nil || strings.HasPrefix(args[2], "-") {
		writeError(w, http.StatusNotFound, "No commit found for SHA: "+args[2], doc)
		return
	}
	items := []map[string]any{}
	state := "pending"
	for _, c := range rc.contexts(sha) {
		if st, ok := c.(gStatus); ok {
			items = append(items, rc.statusJSON(st.st))
		}
	}
	if len(items) > 0 {
		state = "success"
		for _, it := range items {
			switch it["state"] {
			case "failure", "error":
				state = "failure"
			case "pending":
				if state == "success" {
					state = "pending"
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": state, "sha": sha, "total_count": len(items), "statuses": items,
		"commit_url": rc.base + "/repos/" + rc.full() + "/commits/" + sha, "url": rc.base + "/repos/" + rc.full() + "/commits/" + sha + "/status"})
}

func (rc *repoCtx) checkRunJSON(cr *checkRun) map[string]any {
	u := rc.base + "/repos/" + rc.full() + "/check-runs/" + strconv.FormatInt(cr.id, 10)
	return map[string]any{
		"id": cr.id, "node_id": opaqueID("CR", rc.id, strconv.FormatInt(cr.id, 10)), "head_sha": cr.sha, "name": cr.name,
		"status": cr.status, "conclusion": nilIfEmpty(cr.conclusion), "started_at": timeOrNil(cr.started), "completed_at": timeOrNil(cr.completed),
		"url": u, "html_url": rc.webURL("/runs/" + strconv.FormatInt(cr.id, 10)), "details_url": rc.webURL("/runs/" + strconv.FormatInt(cr.id, 10)),
		"app": map[string]any{"id": rc.s.AppID, "slug": rc.s.Slug}, "pull_requests": []any{},
		"output": map[string]any{"title": nil, "summary": nil, "text": nil, "annotations_count": 0},
	}
}

// checkRunBody is what POST and PATCH check-runs take.
type checkRunBody struct {
	Name        *string `json:"name"`
	HeadSHA     *string `json:"head_sha"`
	Status      *string `json:"status"`
	Conclusion  *string `json:"conclusion"`
	StartedAt   string  `json:"started_at"`
	CompletedAt string  `json:"completed_at"`
}

// apply sets cr from the body, checking it as GitHub does: a completed
// run needs a conclusion, and a conclusion completes the run.
func (b checkRunBody) apply(cr *checkRun) string {
	now := time.Now().UTC().Truncate(time.Second)
	if b.Status != nil {
		switch *b.Status {
		case "queued", "in_progress", "completed", "waiting", "requested", "pending":
			cr.status = *b.Status
		default:
			return "status"
		}
	}
	if b.Conclusion != nil {
		switch *b.Conclusion {
		case "action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out":
			cr.conclusion, cr.status = *b.Conclusion, "completed"
		default:
			return "conclusion"
		}
	}
	if cr.status == "completed" && cr.conclusion == "" {
		return "conclusion"
	}
	if t, err := time.Parse(time.RFC3339, b.StartedAt); err == nil {
		cr.started = t
	} else if cr.started.IsZero() {
		cr.started = now
	}
	if t, err := time.Parse(time.RFC3339, b.CompletedAt); err == nil {
		cr.completed = t
	} else if cr.status == "completed" && cr.completed.IsZero() {
		cr.completed = now
	}
	return ""
}

// createCheckRun serves POST /repos/{owner}/{repo}/check-runs.
func (s *Server) createCheckRun(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = checksDocs + "#create-a-check-run"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, needs("write", "checks"))
	if !ok {
		return
	}
	defer rc.done()
	var body checkRunBody
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"name": body.Name != nil, "head_sha": body.HeadSHA != nil}, "name", "head_sha") {
		return
	}
	if rc.objectType(*body.HeadSHA) != "commit" {
		validationFailed(w, doc, fieldError("CheckRun", "head_sha", "invalid"))
		return
	}
	cr := &checkRun{id: s.newObjectID(), sha: *body.HeadSHA, name: *body.Name, status: "queued"}
	if bad := body.apply(cr); bad != "" {
		validationFailed(w, doc, fieldError("CheckRun", bad, "invalid"))
		return
	}
	rc.st.checkRuns = append(rc.st.checkRuns, cr)
	rc.by = "auto-merge"
	rc.tryAutoMerge()
	writeJSON(w, http.StatusCreated, rc.checkRunJSON(cr))
}

// updateCheckRun serves PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}.
func (s *Server) updateCheckRun(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = checksDocs + "#update-a-check-run"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, needs("write", "checks"))
	if !ok {
		return
	}
	defer rc.done()
	id, _ := strconv.ParseInt(args[2], 10, 64)
	var cr *checkRun
	for _, x := range rc.st.checkRuns {
		if x.id == id {
			cr = x
		}
	}
	if cr == nil {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	}
	var body checkRunBody
	if !readJSON(w, r, doc, &body) {
		return
	}
	next := *cr
	if bad := body.apply(&next); bad != "" {
		validationFailed(w, doc, fieldError("CheckRun", bad, "invalid"))
		return
	}
	if body.Name != nil {
		next.name = *body.Name
	}
	*cr = next
	rc.by = "auto-merge"
	rc.tryAutoMerge()
	writeJSON(w, http.StatusOK, rc.checkRunJSON(cr))
}

// listCheckRuns serves GET /repos/{owner}/{repo}/commits/{ref}/check-runs.
func (s *Server) listCheckRuns(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = checksDocs + "#list-check-runs-for-a-git-reference"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, needs("read", "checks"))
	if !ok {
		return
	}
	defer rc.done()
	sha, err := rc.git("", nil, "rev-parse", "-q", "--verify", args[2]+"^{commit}")
	if err != nil || strings.HasPrefix(args[2], "-") {
		writeError(w, http.StatusNotFound, "No commit found for SHA: "+args[2], doc)
		return
	}
	var runs []*checkRun
	for _, cr := range rc.st.checkRuns {
		if cr.sha == sha {
			runs = append(runs, cr)
		}
	}
	items := []map[string]any{}
	for _, cr := range page(w, r, rc.base+"/repos/"+rc.full()+"/commits/"+args[2]+"/check-runs", runs) {
		items = append(items, rc.checkRunJSON(cr))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(runs), "check_runs": items})
}
