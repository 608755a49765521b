package githubtest

// Git hosting: every repository of every installation is a bare repository
// served by git's own git-http-backend (through net/http/cgi), as github.com
// serves https://github.com/OWNER/REPO.git. Access is as strict as GitHub's
// for an installation token: Basic auth with the token as password, the
// token live, covering the repository, with contents read to fetch and
// contents write to push.

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitHubHosts are the names of github.com's git and API hosts. A
// certificate for the double (TestCA.ServerCertificate) that names them lets
// a client reach the double under the real names, e.g. through a proxy that
// resolves them to the double's address.
var GitHubHosts = []string{"github.com", "api.github.com", "uploads.github.com"}

// gitHost is the Host that serves git when there is no path prefix: on
// github.com, git lives on github.com and the REST API on api.github.com.
// With a path prefix (GitHub Enterprise Server), git lives at the root of
// every host and the API under the prefix.
const gitHost = "github.com"

// GitHub's answers to refused git requests (text/plain, which git prints
// after "remote: ").
const (
	msgGitBadCredentials = "Invalid username or token. Password authentication is not supported for Git operations."
	msgGitRepoNotFound   = "Repository not found."
	msgGitWriteDenied    = "Write access to repository not granted."
)

// gitChunk is the size of the pieces a git answer is written in when
// SetGitChunkDelay slows it.
const gitChunk = 16 << 10

// Seed content of every repository: one commit on main with a README.
var (
	seedTime   = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	seedAuthor = "GitHub Double <double@example.com>"
)

// gitRepos holds the bare repositories on disk, made on first use.
type gitRepos struct {
	mu   sync.Mutex // serialises creation
	root string     // temp dir; "" until the first repository is made
	made map[int64]bool
	err  error // why the root could not be made
}

// gitBackend is the path of git-http-backend, found once.
var gitBackend = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("githubtest: git --exec-path: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("githubtest: git-http-backend: %w", err)
	}
	return p, nil
})

// gitRequest is a parsed smart-HTTP request path.
type gitRequest struct {
	owner, name string // as in the URL
	rest        string // "info/refs", "git-upload-pack" or "git-receive-pack"
}

// parseGitPath parses /OWNER/REPO[.git]/(info/refs|git-upload-pack|git-receive-pack).
func parseGitPath(p string) (gitRequest, bool) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(segs) < 3 || segs[0] == "" || segs[1] == "" {
		return gitRequest{}, false
	}
	g := gitRequest{owner: segs[0], name: strings.TrimSuffix(segs[1], ".git"), rest: strings.Join(segs[2:], "/")}
	switch g.rest {
	case "info/refs", "git-upload-pack", "git-receive-pack":
		return g, g.name != ""
	}
	return gitRequest{}, false
}

// servesGit reports whether the request is for git rather than the API: on
// the host github.com, everything is; with a path prefix (GitHub Enterprise
// Server), a smart-HTTP path outside the prefix is.
func (s *Server) servesGit(r *http.Request) bool {
	if s.prefix == "" {
		return requestHost(r) == gitHost
	}
	if _, inPrefix := s.stripPrefix(r.URL.Path); inPrefix {
		return false
	}
	_, ok := parseGitPath(r.URL.Path)
	return ok
}

// requestHost is the request's Host without port, lower case.
func requestHost(r *http.Request) string {
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(h)
}

// credential returns the token or password an Authorization header carries
// and its scheme: Basic's password, or Bearer's or token's credential.
func credential(r *http.Request) (scheme, cred string) {
	if user, pass, ok := r.BasicAuth(); ok {
		_ = user // GitHub accepts any user name with a token as password
		return "Basic", pass
	}
	scheme, cred, _ = strings.Cut(r.Header.Get("Authorization"), " ")
	return scheme, strings.TrimSpace(cred)
}

// CredentialSHA256 is how the double records a credential: base64 (standard)
// of its SHA-256, the form of the engine's hashed_token and of GitHub's audit
// log.
func CredentialSHA256(cred string) string {
	if cred == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(cred))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// serveGit answers a smart-HTTP request on github.com.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.takeFault(r); ok {
		if !f.afterEffect {
			writeGitText(w, f.status, http.StatusText(f.status))
			return
		}
		// Serve the request for its effect (a push moves refs), drop its
		// answer, and answer the fault.
		real := w
		w = discardWriter{h: http.Header{}}
		defer writeGitText(real, f.status, http.StatusText(f.status))
	}
	g, ok := parseGitPath(r.URL.Path)
	if !ok {
		writeGitText(w, http.StatusNotFound, "Not Found")
		return
	}
	push := g.rest == "git-receive-pack" || (g.rest == "info/refs" && r.URL.Query().Get("service") == "git-receive-pack")
	if (g.rest == "info/refs" && r.Method != http.MethodGet) || (g.rest != "info/refs" && r.Method != http.MethodPost) {
		writeGitText(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	s.revokeIfArmed(r)

	scheme, cred := credential(r)
	if scheme != "Basic" || cred == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		writeGitText(w, http.StatusUnauthorized, "")
		return
	}
	now := time.Now()
	s.mu.Lock()
	tok, found := s.tokenIndex[cred]
	live := found && tok.Live(now)
	var in *Installation
	var repo Repo
	var level int
	if live {
		if in = s.installations[tok.InstallationID]; in != nil {
			var has bool
			repo, has = in.repoByName(g.name)
			has = has && strings.EqualFold(in.Account, g.owner) && tokenCovers(tok, repo)
			if !has {
				in = nil
			}
			level = permissionLevels[tok.Permissions["contents"]]
		}
	}
	s.mu.Unlock()
	switch {
	case !live:
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		writeGitText(w, http.StatusUnauthorized, msgGitBadCredentials)
		return
	case in == nil || level < permissionLevels["read"]:
		writeGitText(w, http.StatusNotFound, msgGitRepoNotFound)
		return
	case push && level < permissionLevels["write"]:
		writeGitText(w, http.StatusForbidden, msgGitWriteDenied)
		return
	}

	dir, err := s.gitRepoDir(in.Account, repo)
	if err != nil {
		writeGitText(w, http.StatusInternalServerError, err.Error())
		return
	}
	backend, err := gitBackend()
	if err != nil {
		writeGitText(w, http.StatusInternalServerError, err.Error())
		return
	}
	// The backend sees the repository's canonical path, and never the
	// credential (CGI passes headers on as HTTP_* variables).
	r2 := r.Clone(r.Context())
	r2.Header.Del("Authorization")
	r2.URL.Path = "/" + filepath.Base(dir) + "/" + g.rest
	// net/http/cgi refuses chunked bodies; the server has de-chunked it,
	// and git-http-backend reads to EOF when there is no CONTENT_LENGTH.
	r2.TransferEncoding = nil
	h := &cgi.Handler{
		Path: backend,
		Dir:  filepath.Dir(dir),
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(dir),
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=x-access-token", // allows receive-pack
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + filepath.Dir(dir),
			// GitHub's receive-pack advertises push-options (and
			// accepts and ignores them): git push -o works there.
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=receive.advertisePushOptions",
			"GIT_CONFIG_VALUE_0=true",
		},
		Stderr: io.Discard,
	}
	if g.rest != "git-receive-pack" {
		h.ServeHTTP(&slowWriter{ResponseWriter: w, s: s, r: r}, r2)
		return
	}
	// A push holds the repository (refs.go) and records what it changed.
	s.mu.Lock()
	st := s.repoStateFor(repo.ID)
	s.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	before, err := refsIn(dir)
	if err != nil {
		writeGitText(w, http.StatusInternalServerError, err.Error())
		return
	}
	h.ServeHTTP(&slowWriter{ResponseWriter: w, s: s, r: r}, r2)
	if after, err := refsIn(dir); err == nil {
		s.recordPush(in.Account+"/"+repo.Name, before, after)
	}
}

// tokenCovers reports whether tok covers repo: it names it, or it names
// none (all of the installation's repositories).
func tokenCovers(tok *Token, repo Repo) bool {
	if len(tok.Repositories) == 0 {
		return true
	}
	for _, name := range tok.Repositories {
		if strings.EqualFold(name, repo.Name) {
			return true
		}
	}
	return false
}

// writeGitText answers status with a text/plain body, as github.com does to
// git.
func writeGitText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if msg != "" {
		io.WriteString(w, msg+"\n") //nolint:errcheck // the client may have gone
	}
}

// slowWriter writes a git answer in gitChunk pieces, each after the delay
// SetGitChunkDelay set (read before each piece, so a test may change it
// mid-transfer).
type slowWriter struct {
	http.ResponseWriter
	s *Server
	r *http.Request
}

func (w *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if d := w.s.gitChunkDelay(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-w.r.Context().Done():
				t.Stop()
				return n, w.r.Context().Err()
			case <-w.s.done:
				t.Stop()
				return n, errors.New("githubtest: server closing")
			}
		}
		k := min(len(b), gitChunk)
		m, err := w.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[k:]
	}
	return n, nil
}

func (w *slowWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// gitRepoDir returns the bare repository of repo (owned by account), making
// it with its seed commit on first use. Repositories live under the id, so
// that a renamed or transferred repository keeps its content.
func (s *Server) gitRepoDir(account string, repo Repo) (string, error) {
	g := &s.git
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.root == "" && g.err == nil {
		g.root, g.err = os.MkdirTemp("", "githubtest-git-")
		g.made = map[int64]bool{}
	}
	if g.err != nil {
		return "", fmt.Errorf("githubtest: git root: %w", g.err)
	}
	dir := filepath.Join(g.root, strconv.FormatInt(repo.ID, 10)+".git")
	if g.made[repo.ID] {
		return dir, nil
	}
	if err := runGit("", nil, "init", "--quiet", "--bare", "--initial-branch=main", dir); err != nil {
		return "", err
	}
	readme := "# " + account + "/" + repo.Name + "\n\nServed by the GitHub double.\n"
	msg := "Initial commit\n"
	var in strings.Builder
	fmt.Fprintf(&in, "commit refs/heads/main\nauthor %s %d +0000\ncommitter %s %d +0000\ndata %d\n%s",
		seedAuthor, seedTime.Unix(), seedAuthor, seedTime.Unix(), len(msg), msg)
	fmt.Fprintf(&in, "M 100644 inline README.md\ndata %d\n%s\n", len(readme), readme)
	if err := runGit(dir, strings.NewReader(in.String()), "fast-import", "--quiet"); err != nil {
		return "", err
	}
	g.made[repo.ID] = true
	return dir, nil
}

// GitDir returns the path of the bare repository of fullName ("owner/name"),
// made with its seed commit (a README on main) if it was not yet, so that
// a test can inspect what a push left there.
func (s *Server) GitDir(fullName string) (string, error) {
	owner, name, _ := strings.Cut(fullName, "/")
	s.mu.Lock()
	var repo Repo
	var found bool
	in := s.installationForAccount(owner)
	if in != nil {
		repo, found = in.repoByName(name)
		owner = in.Account
	}
	s.mu.Unlock()
	if !found {
		return "", fmt.Errorf("githubtest: no repository %q", fullName)
	}
	return s.gitRepoDir(owner, repo)
}

// AddRandomContent commits size bytes of incompressible random data to the
// main branch of fullName, in files of at most 8 MiB under random/, stored
// uncompressed, so that the repository's pack is at least size bytes: a
// big repository for clone benchmarks, made at run time. It takes a few
// seconds per hundred megabytes.
func (s *Server) AddRandomContent(fullName string, size int64) error {
	dir, err := s.GitDir(fullName)
	if err != nil {
		return err
	}
	s.git.mu.Lock()
	defer s.git.mu.Unlock()
	head, err := gitOutput(dir, "rev-parse", "refs/heads/main")
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		msg := fmt.Sprintf("Add %d bytes of random data\n", size)
		now := time.Now().Unix()
		fmt.Fprintf(bw, "commit refs/heads/main\nauthor %s %d +0000\ncommitter %s %d +0000\ndata %d\n%sfrom %s\n",
			seedAuthor, now, seedAuthor, now, len(msg), msg, head)
		const fileSize = 8 << 20
		for i := 0; int64(i)*fileSize < size; i++ {
			n := min(fileSize, size-int64(i)*fileSize)
			fmt.Fprintf(bw, "M 100644 inline random/%04d.bin\ndata %d\n", i, n)
			if _, err := io.CopyN(bw, rand.Reader, n); err != nil {
				pw.CloseWithError(err)
				return
			}
			bw.WriteString("\n")
		}
		pw.CloseWithError(bw.Flush())
	}()
	// Random data does not compress: store it (level 0) and skip delta
	// attempts (big-file-threshold), so that making it is quick and a clone
	// reuses the pack as it is.
	err = runGit(dir, pr, "-c", "pack.compression=0", "-c", "core.compression=0", "-c", "fastimport.unpackLimit=0",
		"fast-import", "--quiet", "--big-file-threshold=1m")
	pr.Close()
	return err
}

// gitEnv is the environment of the double's own git commands: no system or
// user configuration.
func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
}

func runGit(dir string, stdin io.Reader, args ...string) error {
	if dir != "" {
		args = append([]string{"--git-dir=" + dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = gitEnv()
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("githubtest: git %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"--git-dir=" + dir}, args...)...)
	cmd.Env = gitEnv()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("githubtest: git %s: %w", args[0], err)
	}
	return strings.TrimSpace(string(out)), nil
}

// removeGitRepos deletes the repositories; called by Close.
func (s *Server) removeGitRepos() {
	s.git.mu.Lock()
	defer s.git.mu.Unlock()
	if s.git.root != "" {
		os.RemoveAll(s.git.root)
	}
}
