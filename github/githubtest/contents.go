package githubtest

// The contents API: a file read, created, updated or deleted by one
// request, each write a commit on a branch (the default branch when the
// request names none, as on GitHub).

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

const contentsDocs = "https://docs.github.com/rest/repos/contents"

// fileAt is the blob sha and mode of path in commit, if it is a file.
func (rc *repoCtx) fileAt(commit, p string) (sha, typ string, ok bool) {
	out, err := rc.git("", nil, "ls-tree", commit, "--", p)
	if err != nil || out == "" {
		return "", "", false
	}
	meta, _, _ := strings.Cut(out, "\t")
	f := strings.Fields(meta)
	if len(f) != 3 {
		return "", "", false
	}
	return f[2], f[1], true
}

// contentJSON is GitHub's content object of a file.
func (rc *repoCtx) contentJSON(p, sha, ref string, size int) map[string]any {
	u := rc.base + "/repos/" + rc.full()
	self := u + "/contents/" + p + "?ref=" + url.QueryEscape(ref)
	gitURL := u + "/git/blobs/" + sha
	html := webRoot + "/" + rc.full() + "/blob/" + ref + "/" + p
	return map[string]any{
		"type": "file", "name": path.Base(p), "path": p, "sha": sha, "size": size,
		"url": self, "git_url": gitURL, "html_url": html,
		"download_url": "https://raw.githubusercontent.com/" + rc.full() + "/" + ref + "/" + p,
		"_links":       map[string]any{"self": self, "git": gitURL, "html": html},
	}
}

// getContents serves GET /repos/{owner}/{repo}/contents/{path}?ref=: a
// file with its content, or a directory's listing.
func (s *Server) getContents(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = contentsDocs + "#get-repository-content"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = rc.defaultBranch()
	}
	commit, err := rc.git("", nil, "rev-parse", "-q", "--verify", ref+"^{commit}")
	if err != nil {
		writeError(w, http.StatusNotFound, "No commit found for the ref "+ref, doc)
		return
	}
	p := strings.Trim(args[2], "/")
	sha, typ, ok := rc.fileAt(commit, p)
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, msgNotFound, doc)
	case typ == "blob":
		raw, err := rc.blob(sha)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error(), doc)
			return
		}
		c := rc.contentJSON(p, sha, ref, len(raw))
		c["encoding"], c["content"] = "base64", wrap60(base64.StdEncoding.EncodeToString(raw))
		writeJSON(w, http.StatusOK, c)
	default:
		tree := rc.treeJSON(sha)
		items := []map[string]any{}
		for _, e := range tree["tree"].([]map[string]any) {
			full := p + "/" + e["path"].(string)
			size, _ := e["size"].(int)
			c := rc.contentJSON(full, e["sha"].(string), ref, size)
			if e["type"] == "tree" {
				c["type"], c["download_url"] = "dir", nil
			}
			items = append(items, c)
		}
		writeJSON(w, http.StatusOK, items)
	}
}

// putContents serves PUT /repos/{owner}/{repo}/contents/{path} {message,
// content, sha, branch, committer, author}: 201 for a new file, 200 for an
// update, which must name the blob it replaces (422 without sha, 409 for
// another).
func (s *Server) putContents(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = contentsDocs + "#create-or-update-file-contents"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Message   *string    `json:"message"`
		Content   *string    `json:"content"`
		SHA       *string    `json:"sha"`
		Branch    *string    `json:"branch"`
		Author    *identBody `json:"author"`
		Committer *identBody `json:"committer"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"message": body.Message != nil, "content": body.Content != nil}, "message", "content") {
		return
	}
	content, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(*body.Content, "\n", ""))
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "content is not valid Base64", doc)
		return
	}
	p := strings.Trim(args[2], "/")
	if !validPath(p) {
		writeError(w, http.StatusUnprocessableEntity, "path contains a malformed path component", doc)
		return
	}
	branch, head, ok := rc.contentsBranch(w, doc, body.Branch)
	if !ok {
		return
	}
	old, typ, exists := rc.fileAt(head, p)
	switch {
	case exists && typ != "blob":
		writeError(w, http.StatusUnprocessableEntity, "path cannot be a directory", doc)
		return
	case exists && body.SHA == nil:
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n\"sha\" wasn't supplied.", doc)
		return
	case exists && *body.SHA != old:
		writeError(w, http.StatusConflict, p+" does not match "+*body.SHA, doc)
		return
	}
	blob, err := rc.writeBlob(content)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	commit, ok := rc.commitFile(w, doc, branch, head, *body.Message, []treeEntry{{Path: p, SHA: &blob}}, body.Author, body.Committer)
	if !ok {
		return
	}
	status := http.StatusCreated
	if exists {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"content": rc.contentJSON(p, blob, branch, len(content)), "commit": rc.contentCommitJSON(commit)})
}

// deleteContents serves DELETE /repos/{owner}/{repo}/contents/{path}
// {message, sha, branch}.
func (s *Server) deleteContents(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = contentsDocs + "#delete-a-file"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Message   *string    `json:"message"`
		SHA       *string    `json:"sha"`
		Branch    *string    `json:"branch"`
		Author    *identBody `json:"author"`
		Committer *identBody `json:"committer"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"message": body.Message != nil, "sha": body.SHA != nil}, "message", "sha") {
		return
	}
	p := strings.Trim(args[2], "/")
	branch, head, ok := rc.contentsBranch(w, doc, body.Branch)
	if !ok {
		return
	}
	old, typ, exists := rc.fileAt(head, p)
	switch {
	case !exists || typ != "blob":
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	case *body.SHA != old:
		writeError(w, http.StatusConflict, p+" does not match "+*body.SHA, doc)
		return
	}
	commit, ok := rc.commitFile(w, doc, branch, head, *body.Message, []treeEntry{{Path: p}}, body.Author, body.Committer)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"content": nil, "commit": rc.contentCommitJSON(commit)})
}

// contentsBranch resolves a contents write's branch: the one named, or the
// default branch. It answers 404 if the branch does not exist.
func (rc *repoCtx) contentsBranch(w http.ResponseWriter, doc string, named *string) (branch, head string, ok bool) {
	branch = rc.defaultBranch()
	if named != nil && *named != "" {
		branch = strings.TrimPrefix(*named, "refs/heads/")
	}
	head, ok = rc.branch(branch)
	if !ok {
		writeError(w, http.StatusNotFound, "Branch "+branch+" not found", doc)
	}
	return branch, head, ok
}

// commitFile commits entries on branch (at head) and moves the branch.
func (rc *repoCtx) commitFile(w http.ResponseWriter, doc, branch, head, msg string, entries []treeEntry, author, committer *identBody) (string, bool) {
	tree, err := rc.buildTree(head, entries)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), doc)
		return "", false
	}
	now := time.Now()
	a := author.ident(committer.ident(rc.s.botIdent(now)))
	c := committer.ident(a)
	commit, err := rc.commitTree(tree, []string{head}, msg, a, c)
	if err == nil {
		err = rc.update(refUpdate{ref: "refs/heads/" + branch, old: head, new: commit})
	}
	if err != nil {
		now, _ := rc.branch(branch)
		writeError(w, http.StatusConflict, branch+" is at "+now+" but expected "+head, doc)
		return "", false
	}
	return commit, true
}

// contentCommitJSON is the commit object of a contents answer.
func (rc *repoCtx) contentCommitJSON(sha string) map[string]any {
	return rc.commitJSON(sha)
}

// validPath reports whether p is a path git can store: no empty, "." or
// ".." segment, nothing under .git.
func validPath(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.EqualFold(seg, ".git") || strings.ContainsRune(seg, 0) {
			return false
		}
	}
	return true
}
