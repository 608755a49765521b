package githubtest

// Issues and the other writes an agent makes that move no ref: issue and
// pull request comments, labels, reactions, reviews, review comments,
// check runs and commit statuses.

import (
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
