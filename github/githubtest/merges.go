package githubtest

// Merges and branches: POST /merges, merge-upstream, branches (list, get,
// rename), and reverting a merged pull request.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	mergingDocs  = "https://docs.github.com/rest/branches/branches#merge-a-branch"
	branchesDocs = "https://docs.github.com/rest/branches/branches"
)

// mergeBranch merges head (a branch or a commit) into branch base with a
// merge commit. It returns the commit, or 204 (nothing to merge) or a
// refusal with GitHub's message.
func (rc *repoCtx) mergeBranch(base, head string, message *string) (string, int, string) {
	baseSHA, ok := rc.branch(base)
	if !ok {
		return "", http.StatusNotFound, "Base does not exist"
	}
	headSHA, ok := rc.branch(head)
	if !ok {
		if rc.objectType(head) != "commit" {
			return "", http.StatusNotFound, "Head does not exist"
		}
		headSHA = head
	}
	if rc.isAncestor(headSHA, baseSHA) {
		return "", http.StatusNoContent, ""
	}
	tree, conflict, err := rc.mergeTrees(baseSHA, headSHA)
	if err != nil || conflict {
		return "", http.StatusConflict, "Merge conflict"
	}
	msg := fmt.Sprintf("Merge %s into %s", head, base)
	if message != nil && *message != "" {
		msg = *message
	}
	now := time.Now()
	commit, err := rc.commitTree(tree, []string{baseSHA, headSHA}, msg, rc.s.botIdent(now), webFlow(now))
	if err == nil {
		err = rc.update(refUpdate{ref: "refs/heads/" + base, old: baseSHA, new: commit})
	}
	if err != nil {
		return "", http.StatusConflict, "Merge conflict"
	}
	return commit, 0, ""
}

// postMerge serves POST /repos/{owner}/{repo}/merges {base, head,
// commit_message}: 201 and the merge commit, 204 when there is nothing to
// merge, 409 on a conflict, 404 when base or head does not exist.
func (s *Server) postMerge(w http.ResponseWriter, r *http.Request, args []string) {
	rc, ok := s.openRepo(w, r, args[0], args[1], mergingDocs, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Base    *string `json:"base"`
		Head    *string `json:"head"`
		Message *string `json:"commit_message"`
	}
	if !readJSON(w, r, mergingDocs, &body) || missingFields(w, mergingDocs, map[string]bool{"base": body.Base != nil, "head": body.Head != nil}, "base", "head") {
		return
	}
	commit, status, msg := rc.mergeBranch(*body.Base, *body.Head, body.Message)
	switch status {
	case 0:
		writeJSON(w, http.StatusCreated, rc.repoCommitJSON(commit))
	case http.StatusNoContent:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, status, msg, mergingDocs)
	}
}

// repoCommitJSON is GitHub's repository commit object (GET
// /repos/{owner}/{repo}/commits/{ref}).
func (rc *repoCtx) repoCommitJSON(sha string) map[string]any {
	g := rc.commitJSON(sha)
	u := rc.base + "/repos/" + rc.full()
	parents := []map[string]any{}
	for _, p := range g["parents"].([]map[string]any) {
		parents = append(parents, map[string]any{"sha": p["sha"], "url": u + "/commits/" + p["sha"].(string), "html_url": p["html_url"]})
	}
	return map[string]any{
		"sha": sha, "node_id": g["node_id"], "url": u + "/commits/" + sha, "html_url": g["html_url"],
		"comments_url": u + "/commits/" + sha + "/comments",
		"commit": map[string]any{
			"author": g["author"], "committer": g["committer"], "message": g["message"], "tree": g["tree"],
			"url": g["url"], "comment_count": 0, "verification": g["verification"],
		},
		"author": nil, "committer": nil, "parents": parents,
	}
}

// getCommitREST serves GET /repos/{owner}/{repo}/commits/{ref}.
func (s *Server) getCommitREST(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = "https://docs.github.com/rest/commits/commits#get-a-commit"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	sha, err := rc.git("", nil, "rev-parse", "-q", "--verify", args[2]+"^{commit}")
	if err != nil || strings.HasPrefix(args[2], "-") {
		writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+args[2], doc)
		return
	}
	writeJSON(w, http.StatusOK, rc.repoCommitJSON(sha))
}

// mergeUpstream serves POST /repos/{owner}/{repo}/merge-upstream {branch}:
// only a fork has an upstream to sync with, and the double's repositories
// are not forks, so it answers 422 as GitHub does for a branch that cannot
// be synced.
func (s *Server) mergeUpstream(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = branchesDocs + "#sync-a-fork-branch-with-the-upstream-repository"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Branch *string `json:"branch"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"branch": body.Branch != nil}, "branch") {
		return
	}
	writeError(w, http.StatusUnprocessableEntity, "This repository is not a fork.", doc)
}

// branchJSON is a branch as the branches API lists it; full adds the
// commit object and links, as GET branches/{branch} does.
func (rc *repoCtx) branchJSON(name, sha string, full bool) map[string]any {
	u := rc.base + "/repos/" + rc.full()
	b := map[string]any{
		"name": name, "protected": false,
		"protection": map[string]any{"enabled": false, "required_status_checks": map[string]any{
			"enforcement_level": "off", "contexts": []string{}, "checks": []any{}}},
		"protection_url": u + "/branches/" + name + "/protection",
	}
	if full {
		b["commit"] = rc.repoCommitJSON(sha)
		b["_links"] = map[string]any{"self": u + "/branches/" + name, "html": rc.webURL("/tree/" + name)}
	} else {
		b["commit"] = map[string]any{"sha": sha, "url": u + "/commits/" + sha}
	}
	return b
}

// listBranches serves GET /repos/{owner}/{repo}/branches, in pages.
func (s *Server) listBranches(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = branchesDocs + "#list-branches"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	refs, err := rc.refs()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	var names []string
	for ref := range refs {
		if n, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
			names = append(names, n)
		}
	}
	sortStrings(names)
	items := []map[string]any{}
	for _, n := range page(w, r, rc.base+"/repos/"+rc.full()+"/branches", names) {
		items = append(items, rc.branchJSON(n, refs["refs/heads/"+n], false))
	}
	writeJSON(w, http.StatusOK, items)
}

// getBranch serves GET /repos/{owner}/{repo}/branches/{branch}.
func (s *Server) getBranch(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = branchesDocs + "#get-a-branch"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	sha, ok := rc.branch(args[2])
	if !ok {
		writeError(w, http.StatusNotFound, "Branch not found", doc)
		return
	}
	writeJSON(w, http.StatusOK, rc.branchJSON(args[2], sha, true))
}

// renameBranch serves POST /repos/{owner}/{repo}/branches/{branch}/rename
// {new_name}: 201 and the branch. Open pull requests follow it (base and
// head), and so does the default branch, as on GitHub; renaming the
// default branch also needs administration write.
func (s *Server) renameBranch(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = branchesDocs + "#rename-a-branch"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		NewName *string `json:"new_name"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"new_name": body.NewName != nil}, "new_name") {
		return
	}
	old, newName := args[2], strings.TrimPrefix(*body.NewName, "refs/heads/")
	sha, ok := rc.branch(old)
	if !ok {
		writeError(w, http.StatusNotFound, "Branch not found", doc)
		return
	}
	isDefault := rc.defaultBranch() == old
	if isDefault && !tokenHas(rc.tok, needs("write", "administration")) {
		writeError(w, http.StatusForbidden, msgNotAccessible, doc)
		return
	}
	if !validRefName("refs/heads/"+newName) || strings.HasPrefix(newName, "-") || newName == "HEAD" {
		validationFailed(w, doc, fieldError("Branch", "new_name", "invalid"))
		return
	}
	if _, exists := rc.branch(newName); exists {
		validationFailed(w, doc, customError("Branch", "Branch "+newName+" already exists"))
		return
	}
	if err := rc.update(refUpdate{ref: "refs/heads/" + old, old: sha}, refUpdate{ref: "refs/heads/" + newName, new: sha}); err != nil {
		writeError(w, http.StatusUnprocessableEntity, msgRefUpdateFail, doc)
		return
	}
	if isDefault {
		if err := rc.setDefaultBranch(newName); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error(), doc)
			return
		}
	}
	for _, p := range rc.st.pulls {
		if p.state != "open" {
			continue
		}
		if p.base == old {
			p.base = newName
		}
		if p.head == old {
			p.head = newName
		}
	}
	writeJSON(w, http.StatusCreated, rc.branchJSON(newName, sha, true))
}

// revertPull opens a pull request reverting merged pull request p: a
// branch revert-<number>-<head> from its base with a commit undoing p's
// merge, as GitHub's "Revert" button does.
func (rc *repoCtx) revertPull(p *pullRequest, title, body *string, draft bool) (*pullRequest, int, string) {
	if !p.merged || p.mergeSHA == "" {
		return nil, http.StatusUnprocessableEntity, "Pull request is not merged"
	}
	base, ok := rc.branch(p.base)
	if !ok {
		return nil, http.StatusUnprocessableEntity, "Base branch does not exist"
	}
	info, err := rc.readCommit(p.mergeSHA)
	if err != nil || len(info.Parents) == 0 {
		return nil, http.StatusUnprocessableEntity, "Cannot revert the merge commit"
	}
	var tree string
	err = rc.withIndex(func(env []string) error {
		if _, err := rc.git("", env, "read-tree", "-i", "-m", "--aggressive", p.mergeSHA, base, info.Parents[0]); err != nil {
			return err
		}
		var err error
		tree, err = rc.git("", env, "write-tree")
		return err
	})
	if err != nil {
		return nil, http.StatusUnprocessableEntity, "Revert has conflicts"
	}
	now := time.Now()
	msg := fmt.Sprintf("Revert \"%s\"", p.title)
	commit, err := rc.commitTree(tree, []string{base}, msg+"\n\nThis reverts commit "+p.mergeSHA+".", rc.s.botIdent(now), webFlow(now))
	if err != nil {
		return nil, http.StatusUnprocessableEntity, err.Error()
	}
	branch := "revert-" + strconv.Itoa(p.number) + "-" + p.head
	for i := 2; ; i++ {
		if _, exists := rc.branch(branch); !exists {
			break
		}
		branch = fmt.Sprintf("revert-%d-%s-%d", p.number, p.head, i)
	}
	if err := rc.update(refUpdate{ref: "refs/heads/" + branch, new: commit}); err != nil {
		return nil, http.StatusUnprocessableEntity, msgRefUpdateFail
	}
	in := pullInput{title: msg, body: fmt.Sprintf("Reverts %s#%d", rc.full(), p.number), head: branch, base: p.base, draft: draft, canModify: true}
	if title != nil {
		in.title = *title
	}
	if body != nil {
		in.body = *body
	}
	rev, errs := rc.createPull(in)
	if errs != nil {
		return nil, http.StatusUnprocessableEntity, validationText(errs)
	}
	return rev, 0, ""
}
