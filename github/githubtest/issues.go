package githubtest

// Issues and the other writes an agent makes that move no ref: issue and
// pull request comments, labels, reactions, reviews, review comments,
// check runs and commit statuses.

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// issue is an issue, or the conversation of a pull request (pull set).
type issue struct {
	number   int
	id       int64
	title    string
	body     string
	state    string
	labels   []string
	comments []*comment
	created  time.Time
	updated  time.Time
	closedAt time.Time
	pull     *pullRequest
	reacts   []*reaction
}

// comment is an issue (or pull request conversation) comment.
type comment struct {
	id      int64
	body    string
	created time.Time
	updated time.Time
	reacts  []*reaction
}

// reaction is a reaction to an issue or a comment.
type reaction struct {
	id      int64
	content string
	created time.Time
}

// label is a repository's label.
type label struct {
	id          int64
	name        string
	color       string
	description string
}

// release is a release, on a tag.
type release struct {
	id         int64
	tag        string
	target     string
	name       string
	body       string
	draft      bool
	prerelease bool
	created    time.Time
	published  time.Time
}

// review is a pull request review.
type review struct {
	id        int64
	body      string
	state     string // APPROVED, CHANGES_REQUESTED, COMMENTED, PENDING
	commit    string
	submitted time.Time
}

// reviewComment is a pull request review comment (on a line of the diff).
type reviewComment struct {
	id        int64
	reviewID  int64
	body      string
	path      string
	line      int
	side      string
	commit    string
	inReplyTo int64
	created   time.Time
}

// commitStatus is a commit status.
type commitStatus struct {
	id          int64
	sha         string
	state       string // error, failure, pending, success
	context     string
	description string
	targetURL   string
	created     time.Time
}

// checkRun is a check run.
type checkRun struct {
	id         int64
	sha        string
	name       string
	status     string // queued, in_progress, completed
	conclusion string
	started    time.Time
	completed  time.Time
}

// newIssue opens an issue (or a pull request's conversation) with the
// repository's next number.
func (rc *repoCtx) newIssue(title, body string, now time.Time) *issue {
	rc.st.nextNumber++
	iss := &issue{number: rc.st.nextNumber, id: rc.s.newObjectID(), title: title, body: body, state: "open", created: now, updated: now}
	rc.st.issues = append(rc.st.issues, iss)
	return iss
}

// labelsJSON is the label objects of an issue's labels.
func (rc *repoCtx) labelsJSON(iss *issue) []map[string]any {
	out := []map[string]any{}
	for _, name := range iss.labels {
		for _, l := range rc.st.labels {
			if l.name == name {
				out = append(out, rc.labelJSON(l))
			}
		}
	}
	return out
}

func (rc *repoCtx) labelJSON(l *label) map[string]any {
	return map[string]any{
		"id": l.id, "node_id": opaqueID("LA", rc.id, l.name), "url": rc.base + "/repos/" + rc.full() + "/labels/" + l.name,
		"name": l.name, "color": l.color, "description": nilIfEmpty(l.description), "default": false,
	}
}

// checksPassed reports whether every required check (RequireChecks) has
// passed on commit sha: a commit status "success" with that context, or a
// completed check run of that name with conclusion success, neutral or
// skipped.
func (rc *repoCtx) checksPassed(sha string) bool {
	for _, name := range rc.st.required {
		if !rc.checkPassed(sha, name) {
			return false
		}
	}
	return true
}

func (rc *repoCtx) checkPassed(sha, name string) bool {
	var state string
	for _, st := range rc.st.statuses {
		if st.sha == sha && st.context == name {
			state = st.state // the latest counts
		}
	}
	if state == "success" {
		return true
	}
	for _, cr := range rc.st.checkRuns {
		if cr.sha == sha && cr.name == name && cr.status == "completed" {
			switch cr.conclusion {
			case "success", "neutral", "skipped":
				state = "success"
			default:
				state = cr.conclusion
			}
		}
	}
	return state == "success"
}

// issue finds issue (or pull request) number.
func (rc *repoCtx) issue(number int) *issue {
	for _, iss := range rc.st.issues {
		if iss.number == number {
			return iss
		}
	}
	return nil
}

// comment finds an issue comment by id.
func (rc *repoCtx) comment(id int64) (*issue, *comment) {
	for _, iss := range rc.st.issues {
		for _, c := range iss.comments {
			if c.id == id {
				return iss, c
			}
		}
	}
	return nil, nil
}

// addComment adds a comment to an issue or a pull request's conversation.
func (rc *repoCtx) addComment(iss *issue, body string) *comment {
	now := time.Now().UTC().Truncate(time.Second)
	c := &comment{id: rc.s.newObjectID(), body: body, created: now, updated: now}
	iss.comments = append(iss.comments, c)
	iss.updated = now
	return c
}

// tryAutoMerge merges the open pull requests with auto-merge enabled that
// can be merged now (required checks passed, no conflict), as GitHub does
// when their checks complete. Their base moves are recorded as
// "auto-merge" unless a mutation is merging at once.
func (rc *repoCtx) tryAutoMerge() {
	for _, p := range rc.st.pulls {
		if p.autoMerge == nil || p.state != "open" {
			continue
		}
		rc.refresh(p)
		if rc.mergeability(p) != "clean" {
			continue
		}
		am := p.autoMerge
		var title, body *string
		if am.title != "" {
			title = &am.title
		}
		if am.body != "" {
			body = &am.body
		}
		by := rc.by
		if !strings.HasPrefix(by, "GraphQL ") {
			rc.by = "auto-merge"
		}
		rc.mergePull(p, am.method, am.expectedHead, title, body)
		rc.by = by
	}
}

// RequireChecks makes merges into fullName wait for the named checks
// (commit status contexts or check run names) to pass on the head commit,
// as a branch's required status checks do: until then a pull request is
// "blocked" (405 on merge), and one with auto-merge enabled merges as soon
// as they pass. No names clears the requirement.
func (s *Server) RequireChecks(fullName string, names ...string) error {
	rc, err := s.repoCtxByName(fullName)
	if err != nil {
		return err
	}
	defer rc.done()
	rc.st.required = append([]string(nil), names...)
	rc.by = "auto-merge"
	rc.tryAutoMerge()
	return nil
}

// ---------------------------------------------------------------------------
// REST.

const (
	issuesDocs    = "https://docs.github.com/rest/issues/issues"
	commentsDocs  = "https://docs.github.com/rest/issues/comments"
	labelsDocs    = "https://docs.github.com/rest/issues/labels"
	reactionsDocs = "https://docs.github.com/rest/reactions/reactions"
	reviewsDocs   = "https://docs.github.com/rest/pulls/reviews"
	reviewComDocs = "https://docs.github.com/rest/pulls/comments"
	checksDocs    = "https://docs.github.com/rest/checks/runs"
	statusesDocs  = "https://docs.github.com/rest/commits/statuses"
)

var (
	writeIssues = needs("write", "issues")
	readIssues  = needs("read", "issues")
	// Comments, labels and reactions on a pull request's conversation need
	// issues or pull_requests.
	writeConversation = needs("write", "issues", "pull_requests")
	readConversation  = needs("read", "issues", "pull_requests")
)

// issueJSON is GitHub's issue object (pull requests are issues too).
func (rc *repoCtx) issueJSON(iss *issue) map[string]any {
	u := rc.base + "/repos/" + rc.full() + "/issues/" + strconv.Itoa(iss.number)
	out := map[string]any{
		"url": u, "repository_url": rc.base + "/repos/" + rc.full(), "labels_url": u + "/labels{/name}",
		"comments_url": u + "/comments", "events_url": u + "/events", "html_url": rc.webURL("/issues/" + strconv.Itoa(iss.number)),
		"id": iss.id, "node_id": opaqueID("I", rc.id, strconv.Itoa(iss.number)), "number": iss.number, "title": iss.title,
		"user": rc.s.botJSON(rc.base), "labels": rc.labelsJSON(iss), "state": iss.state, "locked": false,
		"assignee": nil, "assignees": []any{}, "milestone": nil, "comments": len(iss.comments),
		"created_at": iss.created, "updated_at": iss.updated, "closed_at": timeOrNil(iss.closedAt),
		"author_association": "NONE", "body": nilIfEmpty(iss.body), "reactions": reactionsSummary(u, iss.reacts),
	}
	if iss.pull != nil {
		pu := rc.base + "/repos/" + rc.full() + "/pulls/" + strconv.Itoa(iss.number)
		out["pull_request"] = map[string]any{"url": pu, "html_url": rc.webURL("/pull/" + strconv.Itoa(iss.number)),
			"diff_url": rc.webURL("/pull/"+strconv.Itoa(iss.number)) + ".diff", "patch_url": rc.webURL("/pull/"+strconv.Itoa(iss.number)) + ".patch",
			"merged_at": timeOrNil(iss.pull.mergedAt)}
	}
	return out
}

// reactionsSummary is the "reactions" object of an issue or comment.
func reactionsSummary(u string, rs []*reaction) map[string]any {
	out := map[string]any{"url": u + "/reactions", "total_count": len(rs)}
	for _, c := range []string{"+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"} {
		n := 0
		for _, r := range rs {
			if r.content == c {
				n++
			}
		}
		out[c] = n
	}
	return out
}

func (rc *repoCtx) commentJSON(iss *issue, c *comment) map[string]any {
	u := rc.base + "/repos/" + rc.full() + "/issues/comments/" + strconv.FormatInt(c.id, 10)
	return map[string]any{
		"id": c.id, "node_id": opaqueID("IC", rc.id, strconv.FormatInt(c.id, 10)), "url": u, "html_url": rc.commentURL(iss, c),
		"body": c.body, "user": rc.s.botJSON(rc.base), "created_at": c.created, "updated_at": c.updated,
		"issue_url":          rc.base + "/repos/" + rc.full() + "/issues/" + strconv.Itoa(iss.number),
		"author_association": "NONE", "reactions": reactionsSummary(u, c.reacts),
	}
}

// issueBody is what POST and PATCH issues take.
type issueBody struct {
	Title     *string   `json:"title"`
	Body      *string   `json:"body"`
	State     *string   `json:"state"`
	Labels    *[]any    `json:"labels"`
	Assignees *[]string `json:"assignees"`
	Milestone any       `json:"milestone"`
}

// labelNames reads labels given as names or as {"name": ...} objects,
// creating the ones the repository lacks, as GitHub does.
func (rc *repoCtx) labelNames(items []any) []string {
	var out []string
	for _, it := range items {
		name := ""
		switch v := it.(type) {
		case string:
			name = v
		case map[string]any:
			name, _ = v["name"].(string)
		}
		if name == "" || slices.Contains(out, name) {
			continue
		}
		rc.ensureLabel(name)
		out = append(out, name)
	}
	return out
}

func (rc *repoCtx) ensureLabel(name string) *label {
	for _, l := range rc.st.labels {
		if strings.EqualFold(l.name, name) {
			return l
		}
	}
	l := &label{id: rc.s.newObjectID(), name: name, color: "ededed"}
	rc.st.labels = append(rc.st.labels, l)
	return l
}

// createIssue serves POST /repos/{owner}/{repo}/issues.
func (s *Server) createIssue(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = issuesDocs + "#create-an-issue"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeIssues)
	if !ok {
		return
	}
	defer rc.done()
	var body issueBody
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"title": body.Title != nil}, "title") {
		return
	}
	if body.Assignees != nil && len(*body.Assignees) > 0 {
		validationFailed(w, doc, fieldError("Issue", "assignees", "invalid"))
		return
	}
	iss := rc.newIssue(*body.Title, deref(body.Body), time.Now().UTC().Truncate(time.Second))
	if body.Labels != nil {
		iss.labels = rc.labelNames(*body.Labels)
	}
	out := rc.issueJSON(iss)
	w.Header().Set("Location", out["url"].(string))
	writeJSON(w, http.StatusCreated, out)
}

// openIssue finds issue {issue_number} for a handler, answering 404.
func (rc *repoCtx) openIssue(w http.ResponseWriter, doc, number string) *issue {
	iss := rc.issue(pullNumber(number))
	if iss == nil {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
	}
	return iss
}

// getIssue serves GET /repos/{owner}/{repo}/issues/{issue_number}.
func (s *Server) getIssue(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = issuesDocs + "#get-an-issue"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readConversation)
	if !ok {
		return
	}
	defer rc.done()
	if iss := rc.openIssue(w, doc, args[2]); iss != nil {
		writeJSON(w, http.StatusOK, rc.issueJSON(iss))
	}
}

// listIssues serves GET /repos/{owner}/{repo}/issues?state=, newest first,
// pull requests included, as on GitHub.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = issuesDocs + "#list-repository-issues"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readIssues)
	if !ok {
		return
	}
	defer rc.done()
	state := cmpOr(r.URL.Query().Get("state"), "open")
	var found []*issue
	for _, iss := range slices.Backward(rc.st.issues) {
		if state == "all" || iss.state == state {
			found = append(found, iss)
		}
	}
	items := []map[string]any{}
	for _, iss := range page(w, r, rc.base+"/repos/"+rc.full()+"/issues", found) {
		items = append(items, rc.issueJSON(iss))
	}
	writeJSON(w, http.StatusOK, items)
}

// updateIssue serves PATCH /repos/{owner}/{repo}/issues/{issue_number}.
func (s *Server) updateIssue(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = issuesDocs + "#update-an-issue"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeConversation)
	if !ok {
		return
	}
	defer rc.done()
	iss := rc.openIssue(w, doc, args[2])
	if iss == nil {
		return
	}
	var body issueBody
	if !readJSON(w, r, doc, &body) {
		return
	}
	if body.State != nil && *body.State != "open" && *body.State != "closed" {
		validationFailed(w, doc, fieldError("Issue", "state", "invalid"))
		return
	}
	if iss.pull != nil {
		if errs := rc.updatePull(iss.pull, body.Title, body.Body, body.State, nil, nil); errs != nil {
			validationFailed(w, doc, errs...)
			return
		}
	} else {
		now := time.Now().UTC().Truncate(time.Second)
		if body.Title != nil {
			iss.title = *body.Title
		}
		if body.Body != nil {
			iss.body = *body.Body
		}
		if body.State != nil && *body.State != iss.state {
			iss.state, iss.closedAt = *body.State, time.Time{}
			if iss.state == "closed" {
				iss.closedAt = now
			}
		}
		iss.updated = now
	}
	if body.Labels != nil {
		iss.labels = rc.labelNames(*body.Labels)
	}
	writeJSON(w, http.StatusOK, rc.issueJSON(iss))
}

// createComment serves POST /repos/{owner}/{repo}/issues/{issue_number}/comments.
func (s *Server) createComment(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = commentsDocs + "#create-an-issue-comment"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeConversation)
	if !ok {
		return
	}
	defer rc.done()
	iss := rc.openIssue(w, doc, args[2])
	if iss == nil {
		return
	}
	var body struct {
		Body *string `json:"body"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"body": body.Body != nil}, "body") {
		return
	}
	out := rc.commentJSON(iss, rc.addComment(iss, *body.Body))
	w.Header().Set("Location", out["url"].(string))
	writeJSON(w, http.StatusCreated, out)
}

// listComments serves GET /repos/{owner}/{repo}/issues/{issue_number}/comments.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = commentsDocs + "#list-issue-comments"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readConversation)
	if !ok {
		return
	}
	defer rc.done()
	iss := rc.openIssue(w, doc, args[2])
	if iss == nil {
		return
	}
	items := []map[string]any{}
	for _, c := range page(w, r, rc.base+"/repos/"+rc.full()+"/issues/"+args[2]+"/comments", iss.comments) {
		items = append(items, rc.commentJSON(iss, c))
	}
	writeJSON(w, http.StatusOK, items)
}

// updateComment serves PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}.
func (s *Server) updateComment(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = commentsDocs + "#update-an-issue-comment"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeConversation)
	if !ok {
		return
	}
	defer rc.done()
	id, _ := strconv.ParseInt(args[2], 10, 64)
	iss, c := rc.comment(id)
	if c == nil {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	}
	var body struct {
		Body *string `json:"body"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"body": body.Body != nil}, "body") {
		return
	}
	c.body, c.updated = *body.Body, time.Now().UTC().Truncate(time.Second)
	writeJSON(w, http.StatusOK, rc.commentJSON(iss, c))
}

// createLabel serves POST /repos/{owner}/{repo}/labels.
func (s *Server) createLabel(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = labelsDocs + "#create-a-label"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeConversation)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Name        *string `json:"name"`
		Color       string  `json:"color"`
		Description string  `json:"description"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"name": body.Name != nil}, "name") {
		return
	}
	for _, l := range rc.st.labels {
		if strings.EqualFold(l.name, *body.Name) {
			validationFailed(w, doc, fieldError("Label", "name", "already_exists"))
			return
		}
	}
	l := rc.ensureLabel(*body.Name)
	l.color, l.description = cmpOr(strings.TrimPrefix(body.Color, "#"), "ededed"), body.Description
	writeJSON(w, http.StatusCreated, rc.labelJSON(l))
}

// listLabels serves GET /repos/{owner}/{repo}/labels.
func (s *Server) listLabels(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = labelsDocs + "#list-labels-for-a-repository"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readConversation)
	if !ok {
		return
	}
	defer rc.done()
	items := []map[string]any{}
	for _, l := range page(w, r, rc.base+"/repos/"+rc.full()+"/labels", rc.st.labels) {
		items = append(items, rc.labelJSON(l))
	}
	writeJSON(w, http.StatusOK, items)
}

// addLabels serves POST /repos/{owner}/{repo}/issues/{issue_number}/labels
// {labels}: the issue's labels after adding them.
func (s *Server) addLabels(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = labelsDocs + "#add-labels-to-an-issue"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeConversation)
	if !ok {
		return
	}
	defer rc.done()
	iss := rc.openIssue(w, doc, args[2])
	if iss == nil {
		return
	}
	var body struct {
		Labels *[]any `json:"labels"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"labels": body.Labels != nil}, "labels") {
		return
	}
	for _, name := range rc.labelNames(*body.Labels) {
		if !slices.Contains(iss.labels, name) {
			iss.labels = append(iss.labels, name)
		}
	}
	writeJSON(w, http.StatusOK, rc.labelsJSON(iss))
}

// removeLabel serves DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}.
func (s *Server) removeLabel(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = labelsDocs + "#remove-a-label-from-an-issue"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeConversation)
	if !ok {
		return
	}
	defer rc.done()
	iss := rc.openIssue(w, doc, args[2])
	if iss == nil {
		return
	}
	i := slices.Index(iss.labels, args[3])
	if i < 0 {
		writeError(w, http.StatusNotFound, "Label does not exist", doc)
		return
	}
	iss.labels = slices.Delete(iss.labels, i, i+1)
	writeJSON(w, http.StatusOK, rc.labelsJSON(iss))
}

// react serves POST .../issues/{issue_number}/reactions and
// .../issues/comments/{comment_id}/reactions {content}: 201, or 200 when
// the bot already reacted so.
func react(target string) func(s *Server, w http.ResponseWriter, r *http.Request, args []string) {
	return func(s *Server, w http.ResponseWriter, r *http.Request, args []string) {
		doc := reactionsDocs + "#create-reaction-for-an-issue"
		if target == "comment" {
			doc = reactionsDocs + "#create-reaction-for-an-issue-comment"
		}
		rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeConversation)
		if !ok {
			return
		}
		defer rc.done()
		var list *[]*reaction
		if target == "comment" {
			id, _ := strconv.ParseInt(args[2], 10, 64)
			if _, c := rc.comment(id); c != nil {
				list = &c.reacts
			}
		} else if iss := rc.issue(pullNumber(args[2])); iss != nil {
			list = &iss.reacts
		}
		if list == nil {
			writeError(w, http.StatusNotFound, msgNotFound, doc)
			return
		}
		var body struct {
			Content *string `json:"content"`
		}
		if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"content": body.Content != nil}, "content") {
			return
		}
		switch *body.Content {
		case "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes":
		default:
			validationFailed(w, doc, fieldError("Reaction", "content", "invalid"))
			return
		}
		status := http.StatusCreated
		var re *reaction
		for _, x := range *list {
			if x.content == *body.Content {
				re, status = x, http.StatusOK
			}
		}
		if re == nil {
			re = &reaction{id: s.newObjectID(), content: *body.Content, created: time.Now().UTC().Truncate(time.Second)}
			*list = append(*list, re)
		}
		writeJSON(w, status, map[string]any{"id": re.id, "node_id": opaqueID("REA", rc.id, strconv.FormatInt(re.id, 10)),
			"user": s.botJSON(rc.base), "content": re.content, "created_at": re.created})
	}
}
