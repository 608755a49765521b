package githubtest

// The mutations: each writes the same state as its REST counterpart, and
// each ref it moves is recorded as made by "GraphQL <mutation>".

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// input is a mutation's input object.
func input(a map[string]any) map[string]any {
	in, _ := a["input"].(map[string]any)
	return in
}

// payload builds a mutation's payload, echoing clientMutationId.
func payload(typ string, in map[string]any, f map[string]any) gPayload {
	f["clientMutationId"] = in["clientMutationId"]
	return gPayload{typ, f}
}

// restFail turns a REST refusal into a GraphQL error.
func restFail(status int, msg string) error {
	typ := "UNPROCESSABLE"
	switch status {
	case http.StatusNotFound:
		typ = "NOT_FOUND"
	case http.StatusForbidden:
		typ = "FORBIDDEN"
	case http.StatusConflict:
		typ = "CONFLICT"
	}
	return failf(typ, "%s", msg)
}

const zeroOID = "0000000000000000000000000000000000000000"

func mutation(name string, fn func(e *gqlExec, in map[string]any) (any, error)) {
	on("Mutation", name, func(e *gqlExec, _ gqlRoot, a map[string]any) (any, error) { return fn(e, input(a)) })
}

func mutationResolvers() {
	// Every payload's fields are read from its map.
	for _, typ := range []string{"CreateRefPayload", "UpdateRefPayload", "UpdateRefsPayload", "DeleteRefPayload", "CreateCommitOnBranchPayload",
		"MergeBranchPayload", "MergePullRequestPayload", "EnablePullRequestAutoMergePayload", "DisablePullRequestAutoMergePayload",
		"UpdatePullRequestBranchPayload", "RevertPullRequestPayload", "CreatePullRequestPayload", "UpdatePullRequestPayload",
		"ClosePullRequestPayload", "ReopenPullRequestPayload", "MarkPullRequestReadyForReviewPayload", "AddCommentPayload",
		"AddLabelsToLabelablePayload", "RemoveLabelsFromLabelablePayload", "AddPullRequestReviewPayload", "CreateIssuePayload"} {
		def := gqlSchema().Types[typ]
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			name := f.Name
			value(typ, name, func(_ *gqlExec, p gPayload) any { return p.f[name] })
		}
	}

	mutation("createRef", func(e *gqlExec, in map[string]any) (any, error) {
		rc, err := e.repoByID(str(in, "repositoryId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writeContents); err != nil {
			return nil, err
		}
		name := str(in, "name")
		if status, msg := rc.createRef(name, str(in, "oid")); status != 0 {
			if msg == msgRefExists {
				msg = "A ref named \"" + name + "\" already exists in the repository."
			}
			return nil, restFail(status, msg)
		}
		return payload("CreateRefPayload", in, map[string]any{"ref": gRef{rc, name}}), nil
	})
	mutation("updateRef", func(e *gqlExec, in map[string]any) (any, error) {
		r, err := e.refByID(str(in, "refId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(r.rc, writeContents); err != nil {
			return nil, err
		}
		force, _ := in["force"].(bool)
		if status, msg := r.rc.moveRef(r.full, str(in, "oid"), force); status != 0 {
			return nil, restFail(status, msg)
		}
		return payload("UpdateRefPayload", in, map[string]any{"ref": r}), nil
	})
	mutation("deleteRef", func(e *gqlExec, in map[string]any) (any, error) {
		r, err := e.refByID(str(in, "refId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(r.rc, writeContents); err != nil {
			return nil, err
		}
		if status, msg := r.rc.deleteRef(r.full); status != 0 {
			return nil, restFail(status, msg)
		}
		return payload("DeleteRefPayload", in, map[string]any{}), nil
	})
	mutation("updateRefs", func(e *gqlExec, in map[string]any) (any, error) {
		rc, err := e.repoByID(str(in, "repositoryId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writeContents); err != nil {
			return nil, err
		}
		list, _ := in["refUpdates"].([]any)
		var ups []refUpdate
		for _, item := range list {
			u, _ := item.(map[string]any)
			name, after := str(u, "name"), str(u, "afterOid")
			force, _ := u["force"].(bool)
			if !validRefName(name) {
				return nil, failf("UNPROCESSABLE", "%q is not a valid ref name.", name)
			}
			cur, exists := rc.ref(name)
			if before, ok := u["beforeOid"].(string); ok {
				if (before == zeroOID && exists) || (before != zeroOID && before != cur) {
					return nil, failf("UNPROCESSABLE", "Expected %s to point to %s but it points to %s.", name, before, cmpOr(cur, zeroOID))
				}
			}
			up := refUpdate{ref: name, old: cur}
			switch {
			case after == zeroOID:
				if !exists {
					return nil, failf("UNPROCESSABLE", "%s: %s", name, msgRefMissing)
				}
				if name == "refs/heads/"+rc.defaultBranch() {
					return nil, failf("UNPROCESSABLE", "%s: %s", name, msgDeleteDefault)
				}
			case rc.objectType(after) == "":
				return nil, failf("UNPROCESSABLE", "%s: %s", name, msgObjectMissing)
			case exists && !force && !rc.isAncestor(cur, after):
				return nil, failf("UNPROCESSABLE", "%s: %s", name, msgNotFastForward)
			default:
				up.new = after
			}
			ups = append(ups, up)
		}
		if err := rc.update(ups...); err != nil {
			return nil, failf("UNPROCESSABLE", "%s", msgRefUpdateFail)
		}
		return payload("UpdateRefsPayload", in, map[string]any{}), nil
	})
	mutation("createCommitOnBranch", func(e *gqlExec, in map[string]any) (any, error) {
		br, _ := in["branch"].(map[string]any)
		var rc *repoCtx
		var branch string
		if id := str(br, "id"); id != "" {
			r, err := e.refByID(id)
			if err != nil {
				return nil, err
			}
			rc, branch = r.rc, strings.TrimPrefix(r.full, "refs/heads/")
		} else {
			owner, name, _ := strings.Cut(str(br, "repositoryNameWithOwner"), "/")
			var ok bool
			if rc, ok = e.repoNamed(owner, name); !ok {
				return nil, failf("NOT_FOUND", "Could not resolve to a Repository with the name '%s'.", str(br, "repositoryNameWithOwner"))
			}
			branch = str(br, "branchName")
		}
		if err := e.writer(rc, writeContents); err != nil {
			return nil, err
		}
		head, ok := rc.branch(branch)
		if !ok {
			return nil, failf("NOT_FOUND", "A ref named \"refs/heads/%s\" does not exist in the repository.", branch)
		}
		if exp := str(in, "expectedHeadOid"); exp != head {
			return nil, failf("STALE_DATA", "Expected branch to point to \"%s\" but it did not. Pull and try again.", exp)
		}
		var entries []treeEntry
		changes, _ := in["fileChanges"].(map[string]any)
		adds, _ := changes["additions"].([]any)
		dels, _ := changes["deletions"].([]any)
		for _, d := range dels {
			m, _ := d.(map[string]any)
			if _, _, ok := rc.fileAt(head, str(m, "path")); !ok {
				return nil, failf("UNPROCESSABLE", "A path was requested for deletion which does not exist as of commit oid `%s`", head)
			}
			entries = append(entries, treeEntry{Path: str(m, "path")})
		}
		for _, a := range adds {
			m, _ := a.(map[string]any)
			raw, err := base64.StdEncoding.DecodeString(str(m, "contents"))
			if err != nil {
				return nil, failf("UNPROCESSABLE", "contents of %s is not valid Base64", str(m, "path"))
			}
			sha, err := rc.writeBlob(raw)
			if err != nil {
				return nil, err
			}
			entries = append(entries, treeEntry{Path: str(m, "path"), SHA: &sha})
		}
		msg, _ := in["message"].(map[string]any)
		text := str(msg, "headline")
		if body := str(msg, "body"); body != "" {
			text += "\n\n" + body
		}
		tree, err := rc.buildTree(head, entries)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		commit, err := rc.commitTree(tree, []string{head}, text, rc.s.botIdent(now), webFlow(now))
		if err == nil {
			err = rc.update(refUpdate{ref: "refs/heads/" + branch, old: head, new: commit})
		}
		if err != nil {
			return nil, failf("UNPROCESSABLE", "%s", msgRefUpdateFail)
		}
		return payload("CreateCommitOnBranchPayload", in, map[string]any{"commit": gCommit{rc, commit}, "ref": gRef{rc, "refs/heads/" + branch}}), nil
	})
	mutation("mergeBranch", func(e *gqlExec, in map[string]any) (any, error) {
		rc, err := e.repoByID(str(in, "repositoryId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writeContents); err != nil {
			return nil, err
		}
		commit, status, msg := rc.mergeBranch(str(in, "base"), str(in, "head"), strPtr(in, "commitMessage"))
		switch {
		case status == http.StatusNoContent:
			return nil, failf("UNPROCESSABLE", "Failed to merge: \"Already merged\"")
		case status != 0:
			return nil, restFail(status, "Failed to merge: \""+msg+"\"")
		}
		return payload("MergeBranchPayload", in, map[string]any{"mergeCommit": gCommit{rc, commit}}), nil
	})
	mutation("mergePullRequest", func(e *gqlExec, in map[string]any) (any, error) {
		rc, p, err := e.pullByID(str(in, "pullRequestId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writeContents); err != nil {
			return nil, err
		}
		method := cmpOr(str(in, "mergeMethod"), "MERGE")
		if _, status, msg := rc.mergePull(p, method, str(in, "expectedHeadOid"), strPtr(in, "commitHeadline"), strPtr(in, "commitBody")); status != 0 {
			return nil, restFail(status, msg)
		}
		return payload("MergePullRequestPayload", in, map[string]any{"pullRequest": gPull{rc, p}, "actor": e.bot()}), nil
	})
	// Auto-merge: recorded on the pull request; it merges at once if the
	// pull request can be merged now (no required check pending, no
	// conflict), else when its required checks pass (RequireChecks).
	mutation("enablePullRequestAutoMerge", func(e *gqlExec, in map[string]any) (any, error) {
		rc, p, err := e.pullByID(str(in, "pullRequestId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writeContents); err != nil {
			return nil, err
		}
		rc.refresh(p)
		switch {
		case p.state != "open":
			return nil, failf("UNPROCESSABLE", "Pull request is not open")
		case str(in, "expectedHeadOid") != "" && str(in, "expectedHeadOid") != p.headSHA:
			return nil, failf("UNPROCESSABLE", "%s", msgHeadModified)
		case rc.mergeability(p) == "dirty":
			return nil, failf("UNPROCESSABLE", "Pull request is in dirty status")
		}
		p.autoMerge = &autoMerge{method: cmpOr(str(in, "mergeMethod"), "MERGE"), title: str(in, "commitHeadline"), body: str(in, "commitBody"),
			email: str(in, "authorEmail"), enabledAt: time.Now().UTC().Truncate(time.Second), expectedHead: str(in, "expectedHeadOid")}
		rc.tryAutoMerge()
		return payload("EnablePullRequestAutoMergePayload", in, map[string]any{"pullRequest": gPull{rc, p}, "actor": e.bot()}), nil
	})
	mutation("disablePullRequestAutoMerge", func(e *gqlExec, in map[string]any) (any, error) {
		rc, p, err := e.pullByID(str(in, "pullRequestId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writePulls); err != nil {
			return nil, err
		}
		p.autoMerge = nil
		return payload("DisablePullRequestAutoMergePayload", in, map[string]any{"pullRequest": gPull{rc, p}, "actor": e.bot()}), nil
	})
	mutation("updatePullRequestBranch", func(e *gqlExec, in map[string]any) (any, error) {
		rc, p, err := e.pullByID(str(in, "pullRequestId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writeContents); err != nil {
			return nil, err
		}
		if status, msg := rc.updatePullBranch(p, str(in, "expectedHeadOid"), cmpOr(str(in, "updateMethod"), "MERGE")); status != 0 {
			return nil, restFail(status, msg)
		}
		return payload("UpdatePullRequestBranchPayload", in, map[string]any{"pullRequest": gPull{rc, p}}), nil
	})
	mutation("revertPullRequest", func(e *gqlExec, in map[string]any) (any, error) {
		rc, p, err := e.pullByID(str(in, "pullRequestId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writeContents); err != nil {
			return nil, err
		}
		if err := e.need(writePulls); err != nil {
			return nil, err
		}
		draft, _ := in["draft"].(bool)
		rev, status, msg := rc.revertPull(p, strPtr(in, "title"), strPtr(in, "body"), draft)
		if status != 0 {
			return nil, restFail(status, msg)
		}
		return payload("RevertPullRequestPayload", in, map[string]any{"pullRequest": gPull{rc, p}, "revertPullRequest": gPull{rc, rev}}), nil
	})
	mutation("createPullRequest", func(e *gqlExec, in map[string]any) (any, error) {
		rc, err := e.repoByID(str(in, "repositoryId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writePulls); err != nil {
			return nil, err
		}
		if id := str(in, "headRepositoryId"); id != "" {
			if hr, err := e.repoByID(id); err != nil || hr != rc {
				return nil, failf("UNPROCESSABLE", "Head repository must be the repository itself in the GitHub double")
			}
		}
		draft, _ := in["draft"].(bool)
		canModify, ok := in["maintainerCanModify"].(bool)
		p, errs := rc.createPull(pullInput{title: str(in, "title"), body: str(in, "body"), head: str(in, "headRefName"), base: str(in, "baseRefName"),
			draft: draft, canModify: canModify || !ok})
		if errs != nil {
			return nil, failf("UNPROCESSABLE", "%s", validationText(errs))
		}
		return payload("CreatePullRequestPayload", in, map[string]any{"pullRequest": gPull{rc, p}}), nil
	})
	mutation("updatePullRequest", func(e *gqlExec, in map[string]any) (any, error) {
		rc, p, err := e.pullByID(str(in, "pullRequestId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writePulls); err != nil {
			return nil, err
		}
		for _, f := range []string{"assigneeIds", "projectIds"} {
			if ids, _ := in[f].([]any); len(ids) > 0 {
				return nil, notNode(strings.TrimSpace(ids[0].(string)))
			}
		}
		if id := str(in, "milestoneId"); id != "" {
			return nil, notNode(id)
		}
		var labels []string
		ids, setLabels := in["labelIds"].([]any)
		for _, id := range ids {
			o, err := e.node(id.(string))
			l, ok := o.(gLabel)
			if err != nil || !ok || l.rc != rc {
				return nil, notNode(id.(string))
			}
			labels = append(labels, l.l.name)
		}
		var state *string
		if s := str(in, "state"); s != "" {
			low := strings.ToLower(s)
			state = &low
		}
		var canModify *bool
		if v, ok := in["maintainerCanModify"].(bool); ok {
			canModify = &v
		}
		if errs := rc.updatePull(p, strPtr(in, "title"), strPtr(in, "body"), state, strPtr(in, "baseRefName"), canModify); errs != nil {
			return nil, failf("UNPROCESSABLE", "%s", validationText(errs))
		}
		if setLabels {
			p.issueState.labels = labels
		}
		return payload("UpdatePullRequestPayload", in, map[string]any{"pullRequest": gPull{rc, p}, "actor": e.bot()}), nil
	})
	setState := func(name, typ, state string) {
		mutation(name, func(e *gqlExec, in map[string]any) (any, error) {
			rc, p, err := e.pullByID(str(in, "pullRequestId"))
			if err != nil {
				return nil, err
			}
			if err := e.writer(rc, writePulls); err != nil {
				return nil, err
			}
			if errs := rc.updatePull(p, nil, nil, &state, nil, nil); errs != nil {
				return nil, failf("UNPROCESSABLE", "%s", validationText(errs))
			}
			return payload(typ, in, map[string]any{"pullRequest": gPull{rc, p}}), nil
		})
	}
	setState("closePullRequest", "ClosePullRequestPayload", "closed")
	setState("reopenPullRequest", "ReopenPullRequestPayload", "open")
	mutation("markPullRequestReadyForReview", func(e *gqlExec, in map[string]any) (any, error) {
		rc, p, err := e.pullByID(str(in, "pullRequestId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writePulls); err != nil {
			return nil, err
		}
		p.draft = false
		return payload("MarkPullRequestReadyForReviewPayload", in, map[string]any{"pullRequest": gPull{rc, p}}), nil
	})
	labels := func(name, typ string, add bool) {
		mutation(name, func(e *gqlExec, in map[string]any) (any, error) {
			o, err := e.node(str(in, "labelableId"))
			if err != nil {
				return nil, err
			}
			var rc *repoCtx
			var iss *issue
			switch x := o.(type) {
			case gPull:
				rc, iss = x.rc, x.p.issueState
			case gIssue:
				rc, iss = x.rc, x.iss
			default:
				return nil, failf("NOT_FOUND", "Could not resolve to a Labelable node with the global id of '%s'", str(in, "labelableId"))
			}
			if err := e.writer(rc, writeConversation); err != nil {
				return nil, err
			}
			var names []string
			for _, id := range asList(in["labelIds"]) {
				lo, err := e.node(fmt.Sprint(id))
				l, ok := lo.(gLabel)
				if err != nil || !ok || l.rc != rc {
					return nil, notNode(fmt.Sprint(id))
				}
				names = append(names, l.l.name)
			}
			for _, n := range names {
				i := slices.Index(iss.labels, n)
				switch {
				case add && i < 0:
					iss.labels = append(iss.labels, n)
				case !add && i >= 0:
					iss.labels = slices.Delete(iss.labels, i, i+1)
				}
			}
			return payload(typ, in, map[string]any{"labelable": o}), nil
		})
	}
	labels("addLabelsToLabelable", "AddLabelsToLabelablePayload", true)
	labels("removeLabelsFromLabelable", "RemoveLabelsFromLabelablePayload", false)
	mutation("addPullRequestReview", func(e *gqlExec, in map[string]any) (any, error) {
		rc, p, err := e.pullByID(str(in, "pullRequestId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writePulls); err != nil {
			return nil, err
		}
		rc.refresh(p)
		state := map[string]string{"": "PENDING", "COMMENT": "COMMENTED", "APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED"}[str(in, "event")]
		switch state {
		case "APPROVED":
			return nil, failf("UNPROCESSABLE", "Review Can not approve your own pull request")
		case "CHANGES_REQUESTED":
			return nil, failf("UNPROCESSABLE", "Review Can not request changes on your own pull request")
		case "":
			return nil, failf("UNPROCESSABLE", "Review cannot be dismissed when it is being created")
		}
		rv := &review{id: e.s.newObjectID(), body: str(in, "body"), state: state, commit: cmpOr(str(in, "commitOID"), p.headSHA), submitted: time.Now().UTC().Truncate(time.Second)}
		p.reviews = append(p.reviews, rv)
		return payload("AddPullRequestReviewPayload", in, map[string]any{"pullRequestReview": gReview{rc, p, rv}}), nil
	})
	mutation("createIssue", func(e *gqlExec, in map[string]any) (any, error) {
		rc, err := e.repoByID(str(in, "repositoryId"))
		if err != nil {
			return nil, err
		}
		if err := e.writer(rc, writeIssues); err != nil {
			return nil, err
		}
		for _, f := range []string{"assigneeIds", "projectIds"} {
			if ids := asList(in[f]); len(ids) > 0 {
				return nil, notNode(fmt.Sprint(ids[0]))
			}
		}
		if id := str(in, "milestoneId"); id != "" {
			return nil, notNode(id)
		}
		var names []string
		for _, id := range asList(in["labelIds"]) {
			lo, err := e.node(fmt.Sprint(id))
			l, ok := lo.(gLabel)
			if err != nil || !ok || l.rc != rc {
				return nil, notNode(fmt.Sprint(id))
			}
			names = append(names, l.l.name)
		}
		iss := rc.newIssue(str(in, "title"), str(in, "body"), time.Now().UTC().Truncate(time.Second))
		iss.labels = names
		return payload("CreateIssuePayload", in, map[string]any{"issue": gIssue{rc, iss}}), nil
	})
	mutation("addComment", func(e *gqlExec, in map[string]any) (any, error) {
		o, err := e.node(str(in, "subjectId"))
		if err != nil {
			return nil, err
		}
		var rc *repoCtx
		var iss *issue
		switch x := o.(type) {
		case gPull:
			rc, iss = x.rc, x.p.issueState
		case gIssue:
			rc, iss = x.rc, x.iss
		default:
			return nil, failf("NOT_FOUND", "Could not resolve to an Issue or PullRequest node with the global id of '%s'", str(in, "subjectId"))
		}
		if err := e.writer(rc, needs("write", "issues", "pull_requests")); err != nil {
			return nil, err
		}
		c := rc.addComment(iss, str(in, "body"))
		return payload("AddCommentPayload", in, map[string]any{
			"commentEdge": gEdge{"IssueCommentEdge", cursor(len(iss.comments) - 1), gComment{rc, iss, c}},
			"subject":     o,
		}), nil
	})
}

// refByID resolves a ref node id.
func (e *gqlExec) refByID(id string) (gRef, error) {
	o, err := e.node(id)
	if err != nil {
		return gRef{}, err
	}
	r, ok := o.(gRef)
	if !ok {
		return gRef{}, failf("NOT_FOUND", "Could not resolve to Ref node with the global id of '%s'", id)
	}
	return r, nil
}

// validationText words "Validation Failed" errors as GraphQL messages.
func validationText(errs []map[string]any) string {
	var parts []string
	for _, e := range errs {
		if m, ok := e["message"].(string); ok {
			parts = append(parts, m)
			continue
		}
		parts = append(parts, e["field"].(string)+" "+e["code"].(string))
	}
	return strings.Join(parts, ", ")
}
