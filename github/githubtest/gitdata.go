package githubtest

// The Git Data API: refs, blobs, trees and commits, written to the same
// bare repository that git push writes (refs.go).

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	refsDocs    = "https://docs.github.com/rest/git/refs"
	blobsDocs   = "https://docs.github.com/rest/git/blobs"
	treesDocs   = "https://docs.github.com/rest/git/trees"
	commitsDocs = "https://docs.github.com/rest/git/commits"
)

// GitHub's messages for refused ref writes.
const (
	msgRefExists      = "Reference already exists"
	msgRefMissing     = "Reference does not exist"
	msgObjectMissing  = "Object does not exist"
	msgNotFastForward = "Update is not a fast forward"
	msgRefInvalid     = "Reference name is not valid"
	msgRefUpdateFail  = "Reference update failed"
	// GitHub documents a 422 for deleting the default branch; the
	// wording is the double's.
	msgDeleteDefault = "Cannot delete the default branch"
)

var (
	readContents  = needs("read", "contents")
	writeContents = needs("write", "contents")
)

// refJSON is GitHub's git reference object.
func (rc *repoCtx) refJSON(ref, sha string) map[string]any {
	typ := rc.objectType(sha)
	u := rc.base + "/repos/" + rc.full()
	return map[string]any{
		"ref":     ref,
		"node_id": refNodeID(rc.id, ref),
		"url":     u + "/git/" + ref,
		"object":  map[string]any{"sha": sha, "type": typ, "url": u + "/git/" + typ + "s/" + sha},
	}
}

// listRefs serves GET /repos/{owner}/{repo}/git/refs: every ref, in
// pages.
func (s *Server) listRefs(w http.ResponseWriter, r *http.Request, args []string) {
	s.matchingRefs(w, r, args[0], args[1], "", true)
}

// getRefs serves GET /repos/{owner}/{repo}/git/refs/{ref}: the ref if it
// exists, else the refs it is a prefix of (an array), else 404.
func (s *Server) getRefs(w http.ResponseWriter, r *http.Request, args []string) {
	s.matchingRefs(w, r, args[0], args[1], args[2], true)
}

// listMatchingRefs serves GET /repos/{owner}/{repo}/git/matching-refs/{ref}:
// the refs starting with refs/{ref}, possibly none.
func (s *Server) listMatchingRefs(w http.ResponseWriter, r *http.Request, args []string) {
	s.matchingRefs(w, r, args[0], args[1], args[2], false)
}

func (s *Server) matchingRefs(w http.ResponseWriter, r *http.Request, owner, name, prefix string, exactFirst bool) {
	const doc = refsDocs + "#list-matching-references"
	rc, ok := s.openRepo(w, r, owner, name, doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	refs, err := rc.refs()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	full := "refs/" + prefix
	if prefix == "" {
		full = "refs/"
	}
	if sha, ok := refs[full]; ok && exactFirst && prefix != "" {
		writeJSON(w, http.StatusOK, rc.refJSON(full, sha))
		return
	}
	var names []string
	for ref := range refs {
		if strings.HasPrefix(ref, full) {
			names = append(names, ref)
		}
	}
	slices.Sort(names)
	if len(names) == 0 && exactFirst {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	}
	endpoint := rc.base + strings.TrimPrefix(r.URL.Path, rc.s.prefix)
	items := []map[string]any{}
	for _, ref := range page(w, r, endpoint, names) {
		items = append(items, rc.refJSON(ref, refs[ref]))
	}
	writeJSON(w, http.StatusOK, items)
}

// getRef serves GET /repos/{owner}/{repo}/git/ref/{ref}.
func (s *Server) getRef(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = refsDocs + "#get-a-reference"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	ref := "refs/" + args[2]
	sha, ok := rc.ref(ref)
	if !ok {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	}
	writeJSON(w, http.StatusOK, rc.refJSON(ref, sha))
}

// createRef serves POST /repos/{owner}/{repo}/git/refs {ref, sha}.
func (s *Server) createRef(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = refsDocs + "#create-a-reference"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Ref *string `json:"ref"`
		SHA *string `json:"sha"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"ref": body.Ref != nil, "sha": body.SHA != nil}, "ref", "sha") {
		return
	}
	status, msg := rc.createRef(*body.Ref, *body.SHA)
	if status != 0 {
		writeError(w, status, msg, doc)
		return
	}
	w.Header().Set("Location", rc.base+"/repos/"+rc.full()+"/git/"+*body.Ref)
	writeJSON(w, http.StatusCreated, rc.refJSON(*body.Ref, *body.SHA))
}

// createRef creates ref at sha, or returns GitHub's refusal (status and
// message).
func (rc *repoCtx) createRef(ref, sha string) (int, string) {
	if !validRefName(ref) {
		return http.StatusUnprocessableEntity, msgRefInvalid
	}
	if rc.objectType(sha) == "" {
		return http.StatusUnprocessableEntity, msgObjectMissing
	}
	if _, exists := rc.ref(ref); exists {
		return http.StatusUnprocessableEntity, msgRefExists
	}
	if err := rc.update(refUpdate{ref: ref, new: sha}); err != nil {
		return http.StatusUnprocessableEntity, msgRefUpdateFail
	}
	return 0, ""
}

// updateRef serves PATCH /repos/{owner}/{repo}/git/refs/{ref} {sha, force}.
func (s *Server) updateRef(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = refsDocs + "#update-a-reference"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		SHA   *string `json:"sha"`
		Force bool    `json:"force"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"sha": body.SHA != nil}, "sha") {
		return
	}
	ref := "refs/" + args[2]
	if status, msg := rc.moveRef(ref, *body.SHA, body.Force); status != 0 {
		writeError(w, status, msg, doc)
		return
	}
	writeJSON(w, http.StatusOK, rc.refJSON(ref, *body.SHA))
}

// moveRef points the existing ref at sha, refusing an update that is not
// a fast forward unless force; it returns GitHub's refusal if any.
func (rc *repoCtx) moveRef(ref, sha string, force bool) (int, string) {
	old, exists := rc.ref(ref)
	if !exists {
		return http.StatusUnprocessableEntity, msgRefMissing
	}
	if rc.objectType(sha) == "" {
		return http.StatusUnprocessableEntity, msgObjectMissing
	}
	if !force && !rc.isAncestor(old, sha) {
		return http.StatusUnprocessableEntity, msgNotFastForward
	}
	if err := rc.update(refUpdate{ref: ref, old: old, new: sha}); err != nil {
		return http.StatusUnprocessableEntity, msgRefUpdateFail
	}
	return 0, ""
}

// deleteRef serves DELETE /repos/{owner}/{repo}/git/refs/{ref}.
func (s *Server) deleteRef(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = refsDocs + "#delete-a-reference"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	if status, msg := rc.deleteRef("refs/" + args[2]); status != 0 {
		writeError(w, status, msg, doc)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *repoCtx) deleteRef(ref string) (int, string) {
	old, exists := rc.ref(ref)
	if !exists {
		return http.StatusUnprocessableEntity, msgRefMissing
	}
	if ref == "refs/heads/"+rc.defaultBranch() {
		return http.StatusUnprocessableEntity, msgDeleteDefault
	}
	if err := rc.update(refUpdate{ref: ref, old: old}); err != nil {
		return http.StatusUnprocessableEntity, msgRefUpdateFail
	}
	return 0, ""
}

// ---------------------------------------------------------------------------
// Blobs, trees, commits.

// createBlob serves POST /repos/{owner}/{repo}/git/blobs {content, encoding}.
func (s *Server) createBlob(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = blobsDocs + "#create-a-blob"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Content  *string `json:"content"`
		Encoding string  `json:"encoding"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"content": body.Content != nil}, "content") {
		return
	}
	content := []byte(*body.Content)
	switch body.Encoding {
	case "", "utf-8":
	case "base64":
		dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(*body.Content, "\n", ""))
		if err != nil {
			writeError(w, http.StatusBadRequest, "Invalid Base64 content", doc)
			return
		}
		content = dec
	default:
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("encoding must be 'utf-8' or 'base64', not %q", body.Encoding), doc)
		return
	}
	sha, err := rc.writeBlob(content)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	u := rc.base + "/repos/" + rc.full() + "/git/blobs/" + sha
	w.Header().Set("Location", u)
	writeJSON(w, http.StatusCreated, map[string]any{"url": u, "sha": sha})
}

func (rc *repoCtx) writeBlob(content []byte) (string, error) {
	return rc.git(string(content), nil, "hash-object", "-w", "--stdin", "--no-filters")
}

// getBlob serves GET /repos/{owner}/{repo}/git/blobs/{sha}.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = blobsDocs + "#get-a-blob"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	if rc.objectType(args[2]) != "blob" {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	}
	raw, err := rc.blob(args[2])
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sha": args[2], "node_id": opaqueID("B", rc.id, args[2]), "size": len(raw), "encoding": "base64",
		"url": rc.base + "/repos/" + rc.full() + "/git/blobs/" + args[2], "content": wrap60(base64.StdEncoding.EncodeToString(raw)),
	})
}

// blob is the exact content of a blob.
func (rc *repoCtx) blob(sha string) ([]byte, error) {
	cmd := exec.Command("git", "--git-dir="+rc.dir, "cat-file", "blob", sha)
	cmd.Env = gitEnv()
	return cmd.Output()
}

// wrap60 wraps base64 at 60 characters, as GitHub does.
func wrap60(enc string) string {
	var b strings.Builder
	for len(enc) > 60 {
		b.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

// treeEntry is an entry of POST git/trees.
type treeEntry struct {
	Path    string  `json:"path"`
	Mode    string  `json:"mode"`
	Type    string  `json:"type"`
	SHA     *string `json:"sha"`
	Content *string `json:"content"`
	hasSHA  bool
}

// createTree serves POST /repos/{owner}/{repo}/git/trees {base_tree, tree}.
func (s *Server) createTree(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = treesDocs + "#create-a-tree"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		BaseTree *string          `json:"base_tree"`
		Tree     []map[string]any `json:"tree"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"tree": body.Tree != nil}, "tree") {
		return
	}
	var entries []treeEntry
	for _, raw := range body.Tree {
		var e treeEntry
		e.Path, _ = raw["path"].(string)
		e.Mode, _ = raw["mode"].(string)
		e.Type, _ = raw["type"].(string)
		if v, ok := raw["sha"]; ok {
			e.hasSHA = true
			if sv, ok := v.(string); ok {
				e.SHA = &sv
			}
		}
		if c, ok := raw["content"].(string); ok {
			e.Content = &c
		}
		if e.Path == "" || (!e.hasSHA && e.Content == nil) || (e.hasSHA && e.Content != nil) {
			writeError(w, http.StatusUnprocessableEntity, "Must supply a valid tree.path and exactly one of tree.sha or tree.content", doc)
			return
		}
		if e.Content == nil && e.SHA != nil && rc.objectType(*e.SHA) == "" {
			writeError(w, http.StatusUnprocessableEntity, "tree.sha "+*e.SHA+" is not a valid "+cmpOr(e.Type, "blob"), doc)
			return
		}
		entries = append(entries, e)
	}
	base := ""
	if body.BaseTree != nil {
		base = *body.BaseTree
		if t := rc.objectType(base); t != "tree" && t != "commit" {
			writeError(w, http.StatusUnprocessableEntity, "base_tree is not a valid tree oid", doc)
			return
		}
	}
	sha, err := rc.buildTree(base, entries)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "GitRPC::BadObjectState", doc)
		return
	}
	writeJSON(w, http.StatusCreated, rc.treeJSON(sha))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// buildTree writes a tree: base (a tree or commit, or "" for empty) with
// entries applied (a nil sha removes the path).
func (rc *repoCtx) buildTree(base string, entries []treeEntry) (string, error) {
	var tree string
	err := rc.withIndex(func(env []string) error {
		if base != "" {
			if _, err := rc.git("", env, "read-tree", base); err != nil {
				return err
			}
		}
		for _, e := range entries {
			e.Path = strings.Trim(e.Path, "/")
			if e.Content == nil && e.SHA == nil {
				files, _ := rc.git("", env, "ls-files", "-z", "--", e.Path)
				var rm strings.Builder
				for f := range strings.SplitSeq(files, "\x00") {
					if f != "" {
						rm.WriteString("0 " + strings.Repeat("0", 40) + "\t" + f + "\n")
					}
				}
				if rm.Len() > 0 {
					if _, err := rc.git(rm.String(), env, "update-index", "--index-info"); err != nil {
						return err
					}
				}
				continue
			}
			sha := ""
			if e.Content != nil {
				var err error
				if sha, err = rc.writeBlob([]byte(*e.Content)); err != nil {
					return err
				}
			} else {
				sha = *e.SHA
			}
			mode := cmpOr(e.Mode, "100644")
			if mode == "040000" || e.Type == "tree" {
				if _, err := rc.git("", env, "read-tree", "--prefix="+e.Path+"/", sha); err != nil {
					return err
				}
				continue
			}
			if _, err := rc.git("", env, "update-index", "--add", "--cacheinfo", mode+","+sha+","+e.Path); err != nil {
				return err
			}
		}
		var err error
		tree, err = rc.git("", env, "write-tree")
		return err
	})
	return tree, err
}

// treeJSON is GitHub's tree object (not recursive).
func (rc *repoCtx) treeJSON(sha string) map[string]any {
	u := rc.base + "/repos/" + rc.full()
	out, _ := rc.git("", nil, "ls-tree", "-l", sha)
	items := []map[string]any{}
	for line := range strings.SplitSeq(out, "\n") {
		meta, path, ok := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 4 {
			continue
		}
		item := map[string]any{"path": path, "mode": f[0], "type": f[1], "sha": f[2], "url": u + "/git/" + f[1] + "s/" + f[2]}
		if n, err := strconv.Atoi(f[3]); err == nil {
			item["size"] = n
		}
		items = append(items, item)
	}
	return map[string]any{"sha": sha, "url": u + "/git/trees/" + sha, "tree": items, "truncated": false}
}

// getTree serves GET /repos/{owner}/{repo}/git/trees/{tree_sha}.
func (s *Server) getTree(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = treesDocs + "#get-a-tree"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	sha, err := rc.git("", nil, "rev-parse", "-q", "--verify", args[2]+"^{tree}")
	if err != nil {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	}
	writeJSON(w, http.StatusOK, rc.treeJSON(sha))
}

// identBody is an author or committer in a request body.
type identBody struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

// ident turns a body's identity into one, defaulting to def.
func (b *identBody) ident(def ident) ident {
	if b == nil || b.Name == "" || b.Email == "" {
		return def
	}
	id := ident{Name: b.Name, Email: b.Email, Date: def.Date}
	if t, err := time.Parse(time.RFC3339, b.Date); err == nil {
		id.Date = t
	}
	return id
}

// createCommit serves POST /repos/{owner}/{repo}/git/commits {message,
// tree, parents, author, committer}.
func (s *Server) createCommit(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = commitsDocs + "#create-a-commit"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		Message   *string    `json:"message"`
		Tree      *string    `json:"tree"`
		Parents   []string   `json:"parents"`
		Author    *identBody `json:"author"`
		Committer *identBody `json:"committer"`
	}
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"message": body.Message != nil, "tree": body.Tree != nil}, "message", "tree") {
		return
	}
	if rc.objectType(*body.Tree) != "tree" {
		writeError(w, http.StatusUnprocessableEntity, "Tree SHA does not exist", doc)
		return
	}
	for _, p := range body.Parents {
		if rc.objectType(p) != "commit" {
			writeError(w, http.StatusUnprocessableEntity, "Parent SHA does not exist or is not a commit object", doc)
			return
		}
	}
	now := time.Now()
	author := body.Author.ident(s.botIdent(now))
	committer := body.Committer.ident(author)
	sha, err := rc.commitTree(*body.Tree, body.Parents, *body.Message, author, committer)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	c := rc.commitJSON(sha)
	w.Header().Set("Location", c["url"].(string))
	writeJSON(w, http.StatusCreated, c)
}

// getCommit serves GET /repos/{owner}/{repo}/git/commits/{commit_sha}.
func (s *Server) getCommit(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = commitsDocs + "#get-a-commit-object"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	if rc.objectType(args[2]) != "commit" {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return
	}
	writeJSON(w, http.StatusOK, rc.commitJSON(args[2]))
}

// commitInfo is what the double reads of a commit.
type commitInfo struct {
	SHA, Tree         string
	Parents           []string
	Author, Committer ident
	Message           string
}

func (rc *repoCtx) readCommit(sha string) (commitInfo, error) {
	out, err := rc.git("", nil, "show", "-s", "--format=%H%n%T%n%P%n%an%n%ae%n%at%n%cn%n%ce%n%ct%n%B", sha)
	if err != nil {
		return commitInfo{}, err
	}
	f := strings.SplitN(out, "\n", 10)
	if len(f) < 10 {
		f = append(f, make([]string, 10-len(f))...)
	}
	at, _ := strconv.ParseInt(f[5], 10, 64)
	ct, _ := strconv.ParseInt(f[8], 10, 64)
	return commitInfo{
		SHA: f[0], Tree: f[1], Parents: strings.Fields(f[2]),
		Author:    ident{f[3], f[4], time.Unix(at, 0).UTC()},
		Committer: ident{f[6], f[7], time.Unix(ct, 0).UTC()},
		Message:   strings.TrimRight(f[9], "\n"),
	}, nil
}

// commitJSON is GitHub's git commit object.
func (rc *repoCtx) commitJSON(sha string) map[string]any {
	c, _ := rc.readCommit(sha)
	u := rc.base + "/repos/" + rc.full()
	parents := []map[string]any{}
	for _, p := range c.Parents {
		parents = append(parents, map[string]any{"sha": p, "url": u + "/git/commits/" + p, "html_url": webRoot + "/" + rc.full() + "/commit/" + p})
	}
	person := func(i ident) map[string]any {
		return map[string]any{"name": i.Name, "email": i.Email, "date": gitTime(i.Date)}
	}
	return map[string]any{
		"sha":       c.SHA,
		"node_id":   commitNodeID(rc.id, c.SHA),
		"url":       u + "/git/commits/" + c.SHA,
		"html_url":  webRoot + "/" + rc.full() + "/commit/" + c.SHA,
		"author":    person(c.Author),
		"committer": person(c.Committer),
		"message":   c.Message,
		"tree":      map[string]any{"sha": c.Tree, "url": u + "/git/trees/" + c.Tree},
		"parents":   parents,
		"verification": map[string]any{
			"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil,
		},
	}
}
