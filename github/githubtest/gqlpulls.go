package githubtest

// The resolvers of pull requests, issues and their conversations.

import (
	"strconv"
	"strings"
)

func pullResolvers() {
	pull := func(name string, fn func(e *gqlExec, p gPull) any) {
		value("PullRequest", name, func(e *gqlExec, p gPull) any { p.rc.refresh(p.p); return fn(e, p) })
	}
	pull("id", func(_ *gqlExec, p gPull) any { return pullNodeID(p.rc.id, p.p.number) })
	pull("databaseId", func(_ *gqlExec, p gPull) any { return p.p.id })
	pull("number", func(_ *gqlExec, p gPull) any { return p.p.number })
	pull("title", func(_ *gqlExec, p gPull) any { return p.p.title })
	pull("body", func(_ *gqlExec, p gPull) any { return p.p.body })
	pull("url", func(_ *gqlExec, p gPull) any { return p.rc.webURL("/pull/" + strconv.Itoa(p.p.number)) })
	pull("resourcePath", func(_ *gqlExec, p gPull) any { return "/" + p.rc.full() + "/pull/" + strconv.Itoa(p.p.number) })
	pull("state", func(_ *gqlExec, p gPull) any { return pullState(p.p) })
	pull("isDraft", func(_ *gqlExec, p gPull) any { return p.p.draft })
	pull("closed", func(_ *gqlExec, p gPull) any { return p.p.state == "closed" })
	pull("merged", func(_ *gqlExec, p gPull) any { return p.p.merged })
	pull("mergedAt", func(_ *gqlExec, p gPull) any { return timeOrNil(p.p.mergedAt) })
	pull("closedAt", func(_ *gqlExec, p gPull) any { return timeOrNil(p.p.closedAt) })
	pull("createdAt", func(_ *gqlExec, p gPull) any { return p.p.created })
	pull("updatedAt", func(_ *gqlExec, p gPull) any { return p.p.updated })
	pull("author", func(e *gqlExec, _ gPull) any { return e.bot() })
	pull("authorAssociation", func(*gqlExec, gPull) any { return "NONE" })
	pull("viewerDidAuthor", func(*gqlExec, gPull) any { return true })
	pull("baseRefName", func(_ *gqlExec, p gPull) any { return p.p.base })
	pull("headRefName", func(_ *gqlExec, p gPull) any { return p.p.head })
	pull("baseRefOid", func(_ *gqlExec, p gPull) any { sha, _ := p.rc.branch(p.p.base); return sha })
	pull("headRefOid", func(_ *gqlExec, p gPull) any { return p.p.headSHA })
	pull("baseRef", func(_ *gqlExec, p gPull) any {
		if r, ok := p.rc.refObj("refs/heads/" + p.p.base); ok {
			return r
		}
		return nil
	})
	pull("headRef", func(_ *gqlExec, p gPull) any {
		if r, ok := p.rc.refObj("refs/heads/" + p.p.head); ok {
			return r
		}
		return nil
	})
	pull("baseRepository", func(_ *gqlExec, p gPull) any { return gRepo{p.rc} })
	pull("headRepository", func(_ *gqlExec, p gPull) any { return gRepo{p.rc} })
	pull("repository", func(_ *gqlExec, p gPull) any { return gRepo{p.rc} })
	pull("headRepositoryOwner", func(_ *gqlExec, p gPull) any { return p.rc.ownerAccount() })
	pull("isCrossRepository", func(*gqlExec, gPull) any { return false })
	pull("maintainerCanModify", func(_ *gqlExec, p gPull) any { return p.p.canModify })
	pull("isInMergeQueue", func(*gqlExec, gPull) any { return false })
	pull("isMergeQueueEnabled", func(*gqlExec, gPull) any { return false })
	pull("mergeable", func(_ *gqlExec, p gPull) any {
		if p.rc.mergeability(p.p) == "dirty" {
			return "CONFLICTING"
		}
		if p.p.state != "open" {
			return "UNKNOWN"
		}
		return "MERGEABLE"
	})
	pull("mergeStateStatus", func(_ *gqlExec, p gPull) any {
		switch m := p.rc.mergeability(p.p); {
		case p.p.draft && p.p.state == "open":
			return "DRAFT"
		case m == "":
			return "UNKNOWN"
		default:
			return strings.ToUpper(m)
		}
	})
	pull("mergeCommit", func(_ *gqlExec, p gPull) any {
		if p.p.mergeSHA == "" {
			return nil
		}
		return gCommit{p.rc, p.p.mergeSHA}
	})
	pull("reviewDecision", func(_ *gqlExec, p gPull) any {
		decision := any(nil)
		for _, rv := range p.p.reviews {
			switch rv.state {
			case "APPROVED", "CHANGES_REQUESTED":
				decision = rv.state
			}
		}
		return decision
	})
	pull("additions", func(_ *gqlExec, p gPull) any { a, _ := p.rc.pullDiffStat(p.p); return a })
	pull("deletions", func(_ *gqlExec, p gPull) any { _, d := p.rc.pullDiffStat(p.p); return d })
	pull("changedFiles", func(_ *gqlExec, p gPull) any { return p.rc.pullChangedFiles(p.p) })
	pull("milestone", func(*gqlExec, gPull) any { return nil })
	pull("reactionGroups", func(_ *gqlExec, p gPull) any { return reactionGroups(p.p.issueState.reacts) })
	pull("autoMergeRequest", func(_ *gqlExec, p gPull) any {
		if p.p.autoMerge == nil {
			return nil
		}
		return gAutoMerge{p.rc, p.p}
	})
	pullConn := func(name, typ string, items func(p gPull) []any) {
		on("PullRequest", name, func(_ *gqlExec, p gPull, a map[string]any) (any, error) {
			p.rc.refresh(p.p)
			return conn(typ, items(p), a)
		})
	}
	pullConn("assignees", "UserConnection", func(gPull) []any { return nil })
	pullConn("projectCards", "ProjectCardConnection", func(gPull) []any { return nil })
	pullConn("reviewRequests", "ReviewRequestConnection", func(gPull) []any { return nil })
	pullConn("labels", "LabelConnection", func(p gPull) []any { return p.rc.labelObjs(p.p.issueState) })
	pullConn("comments", "IssueCommentConnection", func(p gPull) []any { return p.rc.commentObjs(p.p.issueState) })
	pullConn("reviews", "PullRequestReviewConnection", func(p gPull) []any {
		var out []any
		for _, rv := range p.p.reviews {
			out = append(out, gReview{p.rc, p.p, rv})
		}
		return out
	})
	pullConn("commits", "PullRequestCommitConnection", func(p gPull) []any {
		base, _ := p.rc.branch(p.p.base)
		if p.p.merged && p.p.mergeSHA != "" {
			base = p.p.mergeSHA + "^1"
		}
		out, _ := p.rc.git("", nil, "rev-list", "--reverse", base+".."+p.p.headSHA)
		var items []any
		for _, sha := range strings.Fields(out) {
			items = append(items, gPullCommit{p.rc, p.p, sha})
		}
		return items
	})
	value("PullRequestCommit", "id", func(_ *gqlExec, c gPullCommit) any {
		return opaqueID("PURC", c.rc.id, strconv.Itoa(c.p.number)+":"+c.sha)
	})
	value("PullRequestCommit", "commit", func(_ *gqlExec, c gPullCommit) any { return gCommit{c.rc, c.sha} })
	value("PullRequestCommit", "pullRequest", func(_ *gqlExec, c gPullCommit) any { return gPull{c.rc, c.p} })
	value("PullRequestCommit", "url", func(_ *gqlExec, c gPullCommit) any {
		return c.rc.webURL("/pull/" + strconv.Itoa(c.p.number) + "/commits/" + c.sha)
	})
	value("PullRequestCommit", "resourcePath", func(_ *gqlExec, c gPullCommit) any {
		return "/" + c.rc.full() + "/pull/" + strconv.Itoa(c.p.number) + "/commits/" + c.sha
	})
	value("AutoMergeRequest", "authorEmail", func(_ *gqlExec, a gAutoMerge) any { return nilIfEmpty(a.p.autoMerge.email) })
	value("AutoMergeRequest", "commitBody", func(_ *gqlExec, a gAutoMerge) any { return nilIfEmpty(a.p.autoMerge.body) })
	value("AutoMergeRequest", "commitHeadline", func(_ *gqlExec, a gAutoMerge) any { return nilIfEmpty(a.p.autoMerge.title) })
	value("AutoMergeRequest", "enabledAt", func(_ *gqlExec, a gAutoMerge) any { return a.p.autoMerge.enabledAt })
	value("AutoMergeRequest", "enabledBy", func(e *gqlExec, _ gAutoMerge) any { return e.bot() })
	value("AutoMergeRequest", "mergeMethod", func(_ *gqlExec, a gAutoMerge) any { return a.p.autoMerge.method })
	value("AutoMergeRequest", "pullRequest", func(_ *gqlExec, a gAutoMerge) any { return gPull{a.rc, a.p} })

	// Reviews.
	value("PullRequestReview", "id", func(_ *gqlExec, r gReview) any { return opaqueID("PRR", r.rc.id, strconv.FormatInt(r.rv.id, 10)) })
	value("PullRequestReview", "databaseId", func(_ *gqlExec, r gReview) any { return r.rv.id })
	value("PullRequestReview", "author", func(e *gqlExec, _ gReview) any { return e.bot() })
	value("PullRequestReview", "authorAssociation", func(*gqlExec, gReview) any { return "NONE" })
	value("PullRequestReview", "body", func(_ *gqlExec, r gReview) any { return r.rv.body })
	value("PullRequestReview", "state", func(_ *gqlExec, r gReview) any { return r.rv.state })
	value("PullRequestReview", "submittedAt", func(_ *gqlExec, r gReview) any { return timeOrNil(r.rv.submitted) })
	value("PullRequestReview", "createdAt", func(_ *gqlExec, r gReview) any { return r.rv.submitted })
	value("PullRequestReview", "commit", func(_ *gqlExec, r gReview) any { return gCommit{r.rc, r.rv.commit} })
	value("PullRequestReview", "reactionGroups", func(*gqlExec, gReview) any { return reactionGroups(nil) })
	value("PullRequestReview", "url", func(_ *gqlExec, r gReview) any {
		return r.rc.webURL("/pull/" + strconv.Itoa(r.p.number) + "#pullrequestreview-" + strconv.FormatInt(r.rv.id, 10))
	})
	value("PullRequestReview", "resourcePath", func(_ *gqlExec, r gReview) any {
		return "/" + r.rc.full() + "/pull/" + strconv.Itoa(r.p.number) + "#pullrequestreview-" + strconv.FormatInt(r.rv.id, 10)
	})

	// Issues, comments, labels.
	value("Issue", "id", func(_ *gqlExec, i gIssue) any { return opaqueID("I", i.rc.id, strconv.Itoa(i.iss.number)) })
	value("Issue", "databaseId", func(_ *gqlExec, i gIssue) any { return i.iss.id })
	value("Issue", "number", func(_ *gqlExec, i gIssue) any { return i.iss.number })
	value("Issue", "title", func(_ *gqlExec, i gIssue) any { return i.iss.title })
	value("Issue", "body", func(_ *gqlExec, i gIssue) any { return i.iss.body })
	value("Issue", "state", func(_ *gqlExec, i gIssue) any { return strings.ToUpper(i.iss.state) })
	value("Issue", "closed", func(_ *gqlExec, i gIssue) any { return i.iss.state == "closed" })
	value("Issue", "author", func(e *gqlExec, _ gIssue) any { return e.bot() })
	value("Issue", "createdAt", func(_ *gqlExec, i gIssue) any { return i.iss.created })
	value("Issue", "repository", func(_ *gqlExec, i gIssue) any { return gRepo{i.rc} })
	value("Issue", "url", func(_ *gqlExec, i gIssue) any { return i.rc.webURL("/issues/" + strconv.Itoa(i.iss.number)) })
	value("Issue", "resourcePath", func(_ *gqlExec, i gIssue) any { return "/" + i.rc.full() + "/issues/" + strconv.Itoa(i.iss.number) })
	on("Issue", "labels", func(_ *gqlExec, i gIssue, a map[string]any) (any, error) {
		return conn("LabelConnection", i.rc.labelObjs(i.iss), a)
	})
	on("Issue", "comments", func(_ *gqlExec, i gIssue, a map[string]any) (any, error) {
		return conn("IssueCommentConnection", i.rc.commentObjs(i.iss), a)
	})
	value("IssueComment", "id", func(_ *gqlExec, c gComment) any { return opaqueID("IC", c.rc.id, strconv.FormatInt(c.c.id, 10)) })
	value("IssueComment", "databaseId", func(_ *gqlExec, c gComment) any { return c.c.id })
	value("IssueComment", "author", func(e *gqlExec, _ gComment) any { return e.bot() })
	value("IssueComment", "authorAssociation", func(*gqlExec, gComment) any { return "NONE" })
	value("IssueComment", "body", func(_ *gqlExec, c gComment) any { return c.c.body })
	value("IssueComment", "createdAt", func(_ *gqlExec, c gComment) any { return c.c.created })
	value("IssueComment", "updatedAt", func(_ *gqlExec, c gComment) any { return c.c.updated })
	value("IssueComment", "includesCreatedEdit", func(_ *gqlExec, c gComment) any { return !c.c.updated.Equal(c.c.created) })
	value("IssueComment", "isMinimized", func(*gqlExec, gComment) any { return false })
	value("IssueComment", "minimizedReason", func(*gqlExec, gComment) any { return nil })
	value("IssueComment", "viewerDidAuthor", func(*gqlExec, gComment) any { return true })
	value("IssueComment", "reactionGroups", func(_ *gqlExec, c gComment) any { return reactionGroups(c.c.reacts) })
	value("IssueComment", "url", func(_ *gqlExec, c gComment) any { return c.rc.commentURL(c.iss, c.c) })
	value("IssueComment", "resourcePath", func(_ *gqlExec, c gComment) any {
		return strings.TrimPrefix(c.rc.commentURL(c.iss, c.c), webRoot)
	})
	value("Label", "id", func(_ *gqlExec, l gLabel) any { return opaqueID("LA", l.rc.id, l.l.name) })
	value("Label", "name", func(_ *gqlExec, l gLabel) any { return l.l.name })
	value("Label", "color", func(_ *gqlExec, l gLabel) any { return l.l.color })
	value("Label", "description", func(_ *gqlExec, l gLabel) any { return nilIfEmpty(l.l.description) })
	value("Label", "url", func(_ *gqlExec, l gLabel) any { return l.rc.webURL("/labels/" + l.l.name) })
}

func (rc *repoCtx) labelObjs(iss *issue) []any {
	var out []any
	for _, name := range iss.labels {
		for _, l := range rc.st.labels {
			if l.name == name {
				out = append(out, gLabel{rc, l})
			}
		}
	}
	return out
}

func (rc *repoCtx) commentObjs(iss *issue) []any {
	var out []any
	for _, c := range iss.comments {
		out = append(out, gComment{rc, iss, c})
	}
	return out
}

// commentURL is a comment's html_url.
func (rc *repoCtx) commentURL(iss *issue, c *comment) string {
	kind := "/issues/"
	if iss.pull != nil {
		kind = "/pull/"
	}
	return rc.webURL(kind + strconv.Itoa(iss.number) + "#issuecomment-" + strconv.FormatInt(c.id, 10))
}

// pullBase is the commit p's changes are counted from.
func (rc *repoCtx) pullBase(p *pullRequest) string {
	if p.merged && p.mergeSHA != "" {
		return p.mergeSHA + "^1"
	}
	base, _ := rc.branch(p.base)
	return base
}

// pullDiffStat counts the lines p adds and deletes (three-dot diff).
func (rc *repoCtx) pullDiffStat(p *pullRequest) (add, del int) {
	out, _ := rc.git("", nil, "diff", "--numstat", rc.pullBase(p)+"..."+p.headSHA)
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			a, _ := strconv.Atoi(f[0])
			d, _ := strconv.Atoi(f[1])
			add, del = add+a, del+d
		}
	}
	return add, del
}

func (rc *repoCtx) pullChangedFiles(p *pullRequest) int {
	out, _ := rc.git("", nil, "diff", "--name-only", rc.pullBase(p)+"..."+p.headSHA)
	return len(strings.Fields(out))
}
