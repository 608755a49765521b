package githubtest

// Ref state: every write to a repository, through git push, REST or
// GraphQL, goes to the same bare repository (git.go), so that a push and an
// API call see one truth. Refs move only with git's own update-ref, each
// update checked against the value read before it (compare and swap), and
// every change is recorded with what made it, for tests to assert on.

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RefChange is one change of a ref the double recorded.
type RefChange struct {
	// Repo is the repository's full name ("owner/name") when it changed.
	Repo string `json:"repo"`
	// Ref is the full ref name, e.g. "refs/heads/main".
	Ref string `json:"ref"`
	// Old and New are the object ids before and after; Old is "" for a ref
	// created, New is "" for a ref deleted.
	Old string `json:"old"`
	New string `json:"new"`
	// By is what made the change: "git push", "REST " and the route as
	// GitHub documents it (e.g. "REST PATCH
	// /repos/{owner}/{repo}/git/refs/{ref}"), or "GraphQL " and the
	// mutation (e.g. "GraphQL updateRefs"); "auto-merge" for an auto-merge
	// the double carried out.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// repoState is what the double keeps for a repository besides its git
// content: the default branch, pull requests, issues and the rest. mu
// serialises every request that reads or writes the repository's refs or
// this state (a push holds it while git-receive-pack runs); it is taken
// before Server.mu, never while holding it.
type repoState struct {
	mu sync.Mutex

	defaultBranch string // guarded by Server.mu as well; "" means main

	nextNumber int // issues and pull requests share numbers
	pulls      []*pullRequest
	issues     []*issue
	releases   []*release
	labels     []*label
	statuses   []*commitStatus
	checkRuns  []*checkRun
	required   []string // status contexts or check names a merge waits for (RequireChecks)
}

// repoStateFor returns the state of repository id, made on first use.
// Callers hold s.mu.
func (s *Server) repoStateFor(id int64) *repoState {
	if s.repos == nil {
		s.repos = map[int64]*repoState{}
	}
	st := s.repos[id]
	if st == nil {
		st = &repoState{}
		s.repos[id] = st
	}
	return st
}

// defaultBranchLocked is repository id's default branch. Callers hold s.mu.
func (s *Server) defaultBranchLocked(id int64) string {
	if b := s.repoStateFor(id).defaultBranch; b != "" {
		return b
	}
	return "main"
}

// repoCtx is a request's repository: the token that reached it, where it
// lives and its state, whose lock the request holds until done.
type repoCtx struct {
	s     *Server
	r     *http.Request
	tok   Token
	owner string // the account's login, as GitHub spells it
	name  string
	id    int64
	dir   string // the bare repository
	st    *repoState
	by    string // what its ref changes are recorded as
	base  string // API base URL for links
}

func (rc *repoCtx) full() string { return rc.owner + "/" + rc.name }

// done releases the repository.
func (rc *repoCtx) done() { rc.st.mu.Unlock() }

// need is a permission a request needs: any of names at level or above.
type need struct {
	level string
	names []string
}

func needs(level string, names ...string) need { return need{level, names} }

// openRepo authenticates r as the REST API does for an endpoint on
// owner/name and locks the repository: 401 without a live installation
// token, 404 if the token does not cover the repository, 403 "Resource not
// accessible by integration" if it lacks the permission. On false the
// answer has been written.
func (s *Server) openRepo(w http.ResponseWriter, r *http.Request, owner, name, doc string, n need) (*repoCtx, bool) {
	tok, ok := s.tokenAuth(w, r, doc)
	if !ok {
		return nil, false
	}
	in, repo, ok := s.visibleRepo(tok, owner, name)
	if !ok {
		writeError(w, http.StatusNotFound, msgNotFound, doc)
		return nil, false
	}
	if !tokenHas(tok, n) {
		writeError(w, http.StatusForbidden, msgNotAccessible, doc)
		return nil, false
	}
	rc, err := s.repoCtxFor(r, tok, in, repo)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), doc)
		return nil, false
	}
	rc.by = "REST " + routeOf(r)
	return rc, true
}

// tokenHas reports whether tok holds one of n's permissions at n's level.
func tokenHas(tok Token, n need) bool {
	for _, name := range n.names {
		if permissionLevels[tok.Permissions[name]] >= permissionLevels[n.level] {
			return true
		}
	}
	return len(n.names) == 0
}

// repoCtxFor makes the repository ready (git.go) and locks it.
func (s *Server) repoCtxFor(r *http.Request, tok Token, in *Installation, repo Repo) (*repoCtx, error) {
	s.mu.Lock()
	account := in.Account
	st := s.repoStateFor(repo.ID)
	s.mu.Unlock()
	dir, err := s.gitRepoDir(account, repo)
	if err != nil {
		return nil, err
	}
	base := s.URL
	if r != nil {
		base = s.apiBase(r)
	}
	st.mu.Lock()
	return &repoCtx{s: s, r: r, tok: tok, owner: account, name: repo.Name, id: repo.ID, dir: dir, st: st, base: base}, nil
}

// defaultBranch is the repository's default branch.
func (rc *repoCtx) defaultBranch() string {
	rc.s.mu.Lock()
	defer rc.s.mu.Unlock()
	return rc.s.defaultBranchLocked(rc.id)
}

// git runs git on the repository with stdin (may be empty) and extra
// environment, and returns its output without the final newline.
func (rc *repoCtx) git(stdin string, env []string, args ...string) (string, error) {
	return gitIn(rc.dir, stdin, env, args...)
}

// gitError is a git command that exited non-zero.
type gitError struct {
	args   []string
	code   int
	stderr string
}

func (e *gitError) Error() string {
	return fmt.Sprintf("githubtest: git %s: exit %d: %s", strings.Join(e.args, " "), e.code, e.stderr)
}

func gitIn(dir, stdin string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"--git-dir=" + dir}, args...)...)
	cmd.Env = append(gitEnv(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), &gitError{args: args, code: ee.ExitCode(), stderr: strings.TrimSpace(stderr.String())}
		}
		return "", fmt.Errorf("githubtest: git %s: %w", args[0], err)
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

// refsIn lists the refs of the bare repository dir: full name → object id.
func refsIn(dir string) (map[string]string, error) {
	out, err := gitIn(dir, "", nil, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return nil, err
	}
	refs := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if sha, ref, ok := strings.Cut(line, " "); ok {
			refs[ref] = sha
		}
	}
	return refs, nil
}

// refs lists the repository's refs.
func (rc *repoCtx) refs() (map[string]string, error) { return refsIn(rc.dir) }

// ref is the object id ref (a full name) points to, if it exists.
func (rc *repoCtx) ref(ref string) (string, bool) {
	out, err := rc.git("", nil, "rev-parse", "-q", "--verify", ref)
	if err != nil || !strings.HasPrefix(ref, "refs/") {
		return "", false
	}
	return out, true
}

// branch is the commit branch (a short name) points to, if it exists.
func (rc *repoCtx) branch(name string) (string, bool) {
	return rc.ref("refs/heads/" + name)
}

// refUpdate is one ref change: Old "" creates (the ref must not exist),
// New "" deletes; otherwise the ref must still be at Old.
type refUpdate struct {
	ref, old, new string
}

// errRefMoved is an update-ref that failed: a ref was not where the
// update expected it (a concurrent push), or the name is not valid.
var errRefMoved = errors.New("githubtest: reference update failed")

// update applies ups in one git transaction, all or none, and records
// each change as made by rc.by.
func (rc *repoCtx) update(ups ...refUpdate) error {
	var in strings.Builder
	in.WriteString("start\n")
	for _, u := range ups {
		switch {
		case u.old == "" && u.new == "":
			continue
		case u.old == "":
			fmt.Fprintf(&in, "create %s %s\n", u.ref, u.new)
		case u.new == "":
			fmt.Fprintf(&in, "delete %s %s\n", u.ref, u.old)
		default:
			fmt.Fprintf(&in, "update %s %s %s\n", u.ref, u.new, u.old)
		}
	}
	in.WriteString("prepare\ncommit\n")
	if _, err := rc.git(in.String(), nil, "update-ref", "--stdin"); err != nil {
		return fmt.Errorf("%w: %v", errRefMoved, err)
	}
	now := time.Now()
	rc.s.mu.Lock()
	for _, u := range ups {
		if u.old != u.new {
			rc.s.refChanges = append(rc.s.refChanges, RefChange{Repo: rc.full(), Ref: u.ref, Old: u.old, New: u.new, By: rc.by, At: now})
		}
	}
	rc.s.mu.Unlock()
	return nil
}

// recordPush records what a push changed, from the refs before and after.
func (s *Server) recordPush(full string, before, after map[string]string) {
	now := time.Now()
	names := slices.Sorted(maps.Keys(before))
	for ref := range after {
		if _, ok := before[ref]; !ok {
			names = append(names, ref)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ref := range names {
		if before[ref] != after[ref] {
			s.refChanges = append(s.refChanges, RefChange{Repo: full, Ref: ref, Old: before[ref], New: after[ref], By: "git push", At: now})
		}
	}
}

// isAncestor reports whether commit a is an ancestor of (or is) b.
func (rc *repoCtx) isAncestor(a, b string) bool {
	_, err := rc.git("", nil, "merge-base", "--is-ancestor", a, b)
	return err == nil
}

// objectType is the type of object sha ("commit", "tree", "blob", "tag"),
// or "" if the repository has no such object.
func (rc *repoCtx) objectType(sha string) string {
	if !isObjectID(sha) {
		return ""
	}
	t, err := rc.git("", nil, "cat-file", "-t", sha)
	if err != nil {
		return ""
	}
	return t
}

// isObjectID reports whether s is a full SHA-1 object id, lower case.
func isObjectID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validRefName reports whether ref is a full ref name git accepts.
func validRefName(ref string) bool {
	if !strings.HasPrefix(ref, "refs/") || strings.Count(ref, "/") < 2 {
		return false
	}
	return exec.Command("git", "check-ref-format", ref).Run() == nil
}

// ident is a commit's author or committer.
type ident struct {
	Name, Email string
	Date        time.Time
}

func (i ident) env(role string) []string {
	return []string{
		"GIT_" + role + "_NAME=" + i.Name,
		"GIT_" + role + "_EMAIL=" + i.Email,
		"GIT_" + role + "_DATE=" + strconv.FormatInt(i.Date.Unix(), 10) + " +0000",
	}
}

// botIdent is the App's bot, the author of what its tokens commit.
func (s *Server) botIdent(now time.Time) ident {
	return ident{Name: s.BotLogin(), Email: s.BotEmail(), Date: now.UTC().Truncate(time.Second)}
}

// webFlow is the committer of the commits GitHub itself makes (merges,
// commits through the API), as on github.com.
func webFlow(now time.Time) ident {
	return ident{Name: "GitHub", Email: "noreply@github.com", Date: now.UTC().Truncate(time.Second)}
}

// commitTree writes a commit object and returns its id.
func (rc *repoCtx) commitTree(tree string, parents []string, msg string, author, committer ident) (string, error) {
	args := []string{"commit-tree", tree}
	for _, p := range parents {
		args = append(args, "-p", p)
	}
	env := append(author.env("AUTHOR"), committer.env("COMMITTER")...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	return rc.git(msg, env, args...)
}

// mergeTrees merges commits ours and theirs as git merge would and returns
// the merged tree; conflict is true when they do not merge cleanly.
func (rc *repoCtx) mergeTrees(ours, theirs string) (tree string, conflict bool, err error) {
	out, err := rc.git("", nil, "merge-tree", "--write-tree", "--no-messages", ours, theirs)
	var ge *gitError
	if errors.As(err, &ge) && ge.code == 1 {
		return "", true, nil
	}
	if err != nil {
		return "", false, err
	}
	tree, _, _ = strings.Cut(out, "\n")
	return tree, false, nil
}

// withIndex runs fn with GIT_INDEX_FILE set to a fresh temporary index.
func (rc *repoCtx) withIndex(fn func(env []string) error) error {
	f, err := os.CreateTemp("", "githubtest-index-")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	os.Remove(name) // git wants to create it
	defer os.Remove(name)
	return fn([]string{"GIT_INDEX_FILE=" + name})
}

// ---------------------------------------------------------------------------
// For tests.

// Refs returns the refs of repository fullName ("owner/name") now: full ref
// name (refs/heads/..., refs/tags/...) → object id.
func (s *Server) Refs(fullName string) (map[string]string, error) {
	dir, err := s.GitDir(fullName)
	if err != nil {
		return nil, err
	}
	st, err := s.stateOf(fullName)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return refsIn(dir)
}

// RefChanges returns every ref change recorded so far, in order: pushes,
// REST and GraphQL writes, on every repository.
func (s *Server) RefChanges() []RefChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refChanges)
}

// DefaultBranch returns the default branch of fullName.
func (s *Server) DefaultBranch(fullName string) (string, error) {
	id, err := s.repoID(fullName)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defaultBranchLocked(id), nil
}

// repoID finds fullName's id.
func (s *Server) repoID(fullName string) (int64, error) {
	owner, name, _ := strings.Cut(fullName, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.installationForAccount(owner); in != nil {
		if repo, ok := in.repoByName(name); ok {
			return repo.ID, nil
		}
	}
	return 0, fmt.Errorf("githubtest: no repository %q", fullName)
}

func (s *Server) stateOf(fullName string) (*repoState, error) {
	id, err := s.repoID(fullName)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repoStateFor(id), nil
}

// BotLogin is the login of the App's bot user, "<slug>[bot]", the author
// of what its installation tokens commit and create.
func (s *Server) BotLogin() string { return s.Slug + "[bot]" }

// BotUserID is the id of the App's bot user (GET /users/<slug>[bot]).
func (s *Server) BotUserID() int64 { return botUserOffset + s.AppID }

// botUserOffset makes bot user ids as long as github.com's.
const botUserOffset = 149_000_000

// BotEmail is the bot's commit email,
// "<id>+<slug>[bot]@users.noreply.github.com".
func (s *Server) BotEmail() string {
	return fmt.Sprintf("%d+%s@users.noreply.github.com", s.BotUserID(), s.BotLogin())
}
