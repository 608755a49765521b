package githubtest

// The REST endpoints an installation token's clients (gh, curl, a Go
// client) read a repository with: GET /repos/{owner}/{repo} and its README.

import (
	"encoding/base64"
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
	body := repoJSON(in, repo, s.apiBase(r))
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
	tree, err := gitOutput(dir, "ls-tree", "refs/heads/main")
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
	self := s.apiBase(r) + "/repos/" + full + "/contents/" + name + "?ref=main"
	gitURL := s.apiBase(r) + "/repos/" + full + "/git/blobs/" + sha
	html := webRoot + "/" + full + "/blob/main/" + name
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
		"download_url": "https://raw.githubusercontent.com/" + full + "/main/" + name,
		"_links":       map[string]any{"self": self, "git": gitURL, "html": html},
	})
}
