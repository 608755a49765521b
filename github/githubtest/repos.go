package githubtest

// The REST endpoints an installation token's clients (gh, curl, a Go
// client) read a repository with: GET /repos/{owner}/{repo} and its README.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
)

const reposDocs = "https://docs.github.com/rest/repos/repos#get-a-repository"
const readmeDocs = "https://docs.github.com/rest/repos/contents#get-a-repository-readme"

// msgNotAccessible is GitHub's answer when a token lacks the permission an
// endpoint needs.
const msgNotAccessible = "Resource not accessible by integration"

// getRepo serves GET /repos/{owner}/{repo} for an installation token that
// covers the repository; any other live token gets 404, as on GitHub for a
// private repository.
func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, args []string) {
	tok, ok := s.tokenAuth(w, r, reposDocs)
	if !ok {
		return
	}
	in, repo, ok := s.visibleRepo(tok, args[0], args[1])
	if !ok {
		writeError(w, http.StatusNotFound, msgNotFound, reposDocs)
		return
	}
	s.mu.Lock()
	body := s.repoJSON(in, repo, s.apiBase(r))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// getReadme serves GET /repos/{owner}/{repo}/readme from the repository's
// main branch (git.go), for a token with contents read.
func (s *Server) getReadme(w http.ResponseWriter, r *http.Request, args []string) {
	tok, ok := s.tokenAuth(w, r, readmeDocs)
	if !ok {
		return
	}
	in, repo, ok := s.visibleRepo(tok, args[0], args[1])
	if !ok {
		writeError(w, http.StatusNotFound, msgNotFound, readmeDocs)
		return
	}
	if permissionLevels[tok.Permissions["contents"]] < permissionLevels["read"] {
		writeError(w, http.StatusForbidden, msgNotAccessible, readmeDocs)
		return
	}
	dir, err := s.gitRepoDir(in.Account, repo)
	if err != nil {
		writeError(w, http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError), readmeDocs)
		return
	}
	// The README is the first entry at the root named README, any case,
	// with or without an extension.
	s.mu.Lock()
	branch := s.defaultBranchLocked(repo.ID)
	s.mu.Unlock()
	tree, err := gitOutput(dir, "ls-tree", "refs/heads/"+branch)
	var name, sha string
	for line := range strings.SplitSeq(tree, "\n") {
		meta, file, ok := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		if ok && len(f) == 3 && f[1] == "blob" && strings.EqualFold(strings.SplitN(file, ".", 2)[0], "README") {
			name, sha = file, f[2]
			break
		}
	}
	if err != nil || name == "" {
		writeError(w, http.StatusNotFound, msgNotFound, readmeDocs)
		return
	}
	cmd := exec.Command("git", "--git-dir="+dir, "cat-file", "blob", sha)
	cmd.Env = gitEnv()
	content, err := cmd.Output()
	if err != nil {
		writeError(w, http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError), readmeDocs)
		return
	}
	// GitHub wraps the base64 at 60 characters.
	enc := base64.StdEncoding.EncodeToString(content)
	var wrapped strings.Builder
	for len(enc) > 60 {
		wrapped.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	wrapped.WriteString(enc + "\n")
	full := in.Account + "/" + repo.Name
	self := s.apiBase(r) + "/repos/" + full + "/contents/" + name + "?ref=" + branch
	gitURL := s.apiBase(r) + "/repos/" + full + "/git/blobs/" + sha
	html := webRoot + "/" + full + "/blob/" + branch + "/" + name
	writeJSON(w, http.StatusOK, map[string]any{
		"type":         "file",
		"encoding":     "base64",
		"size":         len(content),
		"name":         name,
		"path":         name,
		"content":      wrapped.String(),
		"sha":          sha,
		"url":          self,
		"git_url":      gitURL,
		"html_url":     html,
		"download_url": "https://raw.githubusercontent.com/" + full + "/" + branch + "/" + name,
		"_links":       map[string]any{"self": self, "git": gitURL, "html": html},
	})
}

// patchRepo serves PATCH /repos/{owner}/{repo} for what a token's client
// changes there: default_branch (an existing branch; GitHub also needs
// administration write for it). Other settings are accepted and ignored.
func (s *Server) patchRepo(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = "https://docs.github.com/rest/repos/repos#update-a-repository"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, needs("write", "administration"))
	if !ok {
		return
	}
	defer rc.done()
	var body struct {
		DefaultBranch *string `json:"default_branch"`
	}
	if !readJSON(w, r, doc, &body) {
		return
	}
	if body.DefaultBranch != nil {
		if _, ok := rc.branch(*body.DefaultBranch); !ok {
			validationFailed(w, doc, map[string]any{"resource": "Repository", "code": "invalid", "field": "default_branch",
				"message": "Cannot update default branch for this repository to " + *body.DefaultBranch + "."})
			return
		}
		if err := rc.setDefaultBranch(*body.DefaultBranch); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error(), doc)
			return
		}
	}
	s.mu.Lock()
	in := s.installationForAccount(rc.owner)
	repo, _ := in.repoByName(rc.name)
	out := s.repoJSON(in, repo, rc.base)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// setDefaultBranch makes branch the default: the repository's HEAD (what a
// clone checks out) and what the API answers.
func (rc *repoCtx) setDefaultBranch(branch string) error {
	if _, err := rc.git("", nil, "symbolic-ref", "HEAD", "refs/heads/"+branch); err != nil {
		return err
	}
	rc.s.mu.Lock()
	rc.st.defaultBranch = branch
	rc.s.mu.Unlock()
	return nil
}

// SetDefaultBranch sets the default branch of fullName, as a repository
// administrator can on GitHub. The branch must exist.
func (s *Server) SetDefaultBranch(fullName, branch string) error {
	rc, err := s.repoCtxByName(fullName)
	if err != nil {
		return err
	}
	defer rc.done()
	if _, ok := rc.branch(branch); !ok {
		return fmt.Errorf("githubtest: %s has no branch %q", fullName, branch)
	}
	return rc.setDefaultBranch(branch)
}

// repoCtxByName opens fullName for the double's own API (no token), locked.
func (s *Server) repoCtxByName(fullName string) (*repoCtx, error) {
	owner, name, _ := strings.Cut(fullName, "/")
	s.mu.Lock()
	in := s.installationForAccount(owner)
	var repo Repo
	found := false
	if in != nil {
		repo, found = in.repoByName(name)
	}
	s.mu.Unlock()
	if !found {
		return nil, fmt.Errorf("githubtest: no repository %q", fullName)
	}
	rc, err := s.repoCtxFor(nil, Token{}, in, repo)
	if err != nil {
		return nil, err
	}
	rc.base, rc.by = s.URL, "double"
	return rc, nil
}
