package githubtest

// The resolvers of schema.graphql's fields: one per field of every object
// type, reading and writing the same state as the REST API (refs.go,
// pulls.go, issues.go).

import (
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// resolvers maps "Type.field" to its resolver.
var resolvers = map[string]resolver{}

// on registers the resolver of typ.name for objects of Go type T.
func on[T any](typ, name string, fn func(e *gqlExec, o T, args map[string]any) (any, error)) {
	resolvers[typ+"."+name] = func(e *gqlExec, obj any, args map[string]any) (any, error) {
		o, ok := obj.(T)
		if !ok {
			return nil, failf("INTERNAL", "the GitHub double resolved %s.%s on a %T", typ, name, obj)
		}
		return fn(e, o, args)
	}
}

// value registers a resolver that cannot fail.
func value[T any](typ, name string, fn func(e *gqlExec, o T) any) {
	on(typ, name, func(e *gqlExec, o T, _ map[string]any) (any, error) { return fn(e, o), nil })
}

// ---------------------------------------------------------------------------
// Objects.

type gRepo struct{ rc *repoCtx }

func (gRepo) gqlType() string { return "Repository" }

type gRef struct {
	rc   *repoCtx
	full string // refs/heads/main
}

func (gRef) gqlType() string { return "Ref" }

type gCommit struct {
	rc  *repoCtx
	sha string
}

func (gCommit) gqlType() string { return "Commit" }

type gTree struct {
	rc  *repoCtx
	sha string
}

func (gTree) gqlType() string { return "Tree" }

type gPull struct {
	rc *repoCtx
	p  *pullRequest
}

func (gPull) gqlType() string { return "PullRequest" }

type gIssue struct {
	rc  *repoCtx
	iss *issue
}

func (gIssue) gqlType() string { return "Issue" }

// gAccount is a user, an organization or a bot.
type gAccount struct {
	typ   string // User, Organization, Bot
	login string
	id    int64
	kind  string // node id kind, e.g. "04:User"
}

func (a gAccount) gqlType() string { return a.typ }

type gComment struct {
	rc  *repoCtx
	iss *issue
	c   *comment
}

func (gComment) gqlType() string { return "IssueComment" }

type gLabel struct {
	rc *repoCtx
	l  *label
}

func (gLabel) gqlType() string { return "Label" }

type gReview struct {
	rc *repoCtx
	p  *pullRequest
	rv *review
}

func (gReview) gqlType() string { return "PullRequestReview" }

type gPullCommit struct {
	rc  *repoCtx
	p   *pullRequest
	sha string
}

func (gPullCommit) gqlType() string { return "PullRequestCommit" }

type gAutoMerge struct {
	rc *repoCtx
	p  *pullRequest
}

func (gAutoMerge) gqlType() string { return "AutoMergeRequest" }

type gGitActor struct {
	rc *repoCtx
	i  ident
}

func (gGitActor) gqlType() string { return "GitActor" }

type gRollup struct {
	rc  *repoCtx
	sha string
}

func (gRollup) gqlType() string { return "StatusCheckRollup" }

type gStatus struct {
	rc *repoCtx
	st *commitStatus
}

func (gStatus) gqlType() string { return "StatusContext" }

type gCheckRun struct {
	rc *repoCtx
	cr *checkRun
}

func (gCheckRun) gqlType() string { return "CheckRun" }

type gCheckSuite struct{ id string }

func (gCheckSuite) gqlType() string { return "CheckSuite" }

type gReactionGroup struct {
	content string
	n       int
}

func (gReactionGroup) gqlType() string { return "ReactionGroup" }

type gRateLimit struct{ at time.Time }

func (gRateLimit) gqlType() string { return "RateLimit" }

// gConn is a connection (typ "LabelConnection"...) over a page of items.
type gConn struct {
	typ      string
	all      int
	items    []any
	first    int // index in all of items[0]
	hasNext  bool
	hasPrev  bool
	startCur string
	endCur   string
}

func (c gConn) gqlType() string { return c.typ }

type gEdge struct {
	typ    string
	cursor string
	node   any
}

func (e gEdge) gqlType() string { return e.typ }

type gPageInfo struct{ c gConn }

func (gPageInfo) gqlType() string { return "PageInfo" }

// gPayload is a mutation's payload.
type gPayload struct {
	typ string
	f   map[string]any
}

func (p gPayload) gqlType() string { return p.typ }

// Objects that never occur in the double's data (no team, milestone,
// project or workflow exists there) are still types of the schema.
type gNever struct{ typ string }

func (n gNever) gqlType() string { return n.typ }

// cursor makes a connection cursor for position i.
func cursor(i int) string {
	return base64.StdEncoding.EncodeToString([]byte("cursor:" + strconv.Itoa(i+1)))
}

func uncursor(c string) (int, bool) {
	raw, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(raw), "cursor:"))
	return n - 1, err == nil && strings.HasPrefix(string(raw), "cursor:")
}

// conn makes a connection of typ over items, paged by first/after and
// last/before as GitHub does (at most 100 per page).
func conn(typ string, items []any, args map[string]any) (gConn, error) {
	lo, hi := 0, len(items)
	if a, ok := args["after"].(string); ok {
		n, ok := uncursor(a)
		if !ok {
			return gConn{}, failf("INVALID_CURSOR_ARGUMENTS", "`%s` does not appear to be a valid cursor.", a)
		}
		lo = max(lo, n+1)
	}
	if b, ok := args["before"].(string); ok {
		n, ok := uncursor(b)
		if !ok {
			return gConn{}, failf("INVALID_CURSOR_ARGUMENTS", "`%s` does not appear to be a valid cursor.", b)
		}
		hi = min(hi, n)
	}
	lo = min(lo, len(items))
	hi = max(hi, lo)
	first, fok := intArg(args, "first")
	last, lok := intArg(args, "last")
	for name, v := range map[string]int{"first": first, "last": last} {
		if v > 100 || v < 0 {
			return gConn{}, failf("EXCESSIVE_PAGE_SIZE", "Requesting %d records on the connection exceeds the `%s` limit of 100 records.", v, name)
		}
	}
	start, end := lo, hi
	if fok && end-start > first {
		end = start + first
	}
	if lok && end-start > last {
		start = end - last
	}
	c := gConn{typ: typ, all: len(items), items: items[start:end], first: start, hasNext: end < hi, hasPrev: start > lo}
	if end > start {
		c.startCur, c.endCur = cursor(start), cursor(end-1)
	}
	return c, nil
}

func intArg(args map[string]any, name string) (int, bool) {
	switch v := args[name].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case float64:
		return int(v), true
	}
	return 0, false
}

func str(args map[string]any, name string) string {
	s, _ := args[name].(string)
	return s
}

func strPtr(args map[string]any, name string) *string {
	if s, ok := args[name].(string); ok {
		return &s
	}
	return nil
}

// ---------------------------------------------------------------------------
// Access: repositories are reached through the token, as on GitHub.

// repo opens (once per execution) and locks repository id, if the token
// covers it.
func (e *gqlExec) repo(id int64) (*repoCtx, bool) {
	if rc, ok := e.open[id]; ok {
		return rc, true
	}
	e.s.mu.Lock()
	in := e.s.installations[e.tok.InstallationID]
	var repo Repo
	found := false
	if in != nil {
		for _, r := range in.Repositories {
			if r.ID == id && tokenCovers(&e.tok, r) {
				repo, found = r, true
			}
		}
	}
	e.s.mu.Unlock()
	if !found {
		return nil, false
	}
	rc, err := e.s.repoCtxFor(nil, e.tok, in, repo)
	if err != nil {
		return nil, false
	}
	rc.base = e.r.base
	e.open[id] = rc
	return rc, true
}

// repoNamed is repo by owner and name.
func (e *gqlExec) repoNamed(owner, name string) (*repoCtx, bool) {
	_, repo, ok := e.s.visibleRepo(e.tok, owner, name)
	if !ok {
		return nil, false
	}
	return e.repo(repo.ID)
}

// need fails unless the token holds permission n.
func (e *gqlExec) need(n need) error {
	if !tokenHas(e.tok, n) {
		return failf("FORBIDDEN", "%s", msgNotAccessible)
	}
	return nil
}

// writer prepares rc for a mutation's writes: the permission, and what its
// ref changes are recorded as.
func (e *gqlExec) writer(rc *repoCtx, n need) error {
	if err := e.need(n); err != nil {
		return err
	}
	rc.by = "GraphQL " + e.mut
	return nil
}

func notNode(id string) error {
	return failf("NOT_FOUND", "Could not resolve to a node with the global id of '%s'", id)
}

// node resolves a global node id the token can see.
func (e *gqlExec) node(id string) (gqlObj, error) {
	kind, repoID, key, ok := decodeNodeID(id)
	if !ok {
		return nil, notNode(id)
	}
	rc, ok := e.repo(repoID)
	if !ok {
		return nil, notNode(id)
	}
	switch kind {
	case "R":
		return gRepo{rc}, nil
	case "REF":
		if _, ok := rc.ref(key); ok {
			return gRef{rc, key}, nil
		}
	case "C":
		if rc.objectType(key) == "commit" {
			return gCommit{rc, key}, nil
		}
	case "PR":
		if p := rc.pull(pullNumber(key)); p != nil {
			return gPull{rc, p}, nil
		}
	case "I":
		if iss := rc.issue(pullNumber(key)); iss != nil && iss.pull == nil {
			return gIssue{rc, iss}, nil
		}
	case "IC":
		n, _ := strconv.ParseInt(key, 10, 64)
		if iss, c := rc.comment(n); c != nil {
			return gComment{rc, iss, c}, nil
		}
	case "LA":
		for _, l := range rc.st.labels {
			if l.name == key {
				return gLabel{rc, l}, nil
			}
		}
	}
	return nil, notNode(id)
}

// pullByID resolves a pull request node id.
func (e *gqlExec) pullByID(id string) (*repoCtx, *pullRequest, error) {
	o, err := e.node(id)
	if err != nil {
		return nil, nil, err
	}
	p, ok := o.(gPull)
	if !ok {
		return nil, nil, failf("NOT_FOUND", "Could not resolve to PullRequest node with the global id of '%s'", id)
	}
	return p.rc, p.p, nil
}

// repoByID resolves a repository node id.
func (e *gqlExec) repoByID(id string) (*repoCtx, error) {
	o, err := e.node(id)
	if err != nil {
		return nil, err
	}
	r, ok := o.(gRepo)
	if !ok {
		return nil, failf("NOT_FOUND", "Could not resolve to Repository node with the global id of '%s'", id)
	}
	return r.rc, nil
}

// owner is the repository's owner account.
func (rc *repoCtx) ownerAccount() gAccount {
	rc.s.mu.Lock()
	defer rc.s.mu.Unlock()
	in := rc.s.installationForAccount(rc.owner)
	if in == nil {
		return gAccount{typ: "User", login: rc.owner, kind: "04:User"}
	}
	if in.AccountType == "Organization" {
		return gAccount{typ: "Organization", login: in.Account, id: in.accountID(), kind: "012:Organization"}
	}
	return gAccount{typ: "User", login: in.Account, id: in.accountID(), kind: "04:User"}
}

// bot is the App's bot, the author of what its tokens create.
func (e *gqlExec) bot() gAccount {
	return gAccount{typ: "Bot", login: e.s.BotLogin(), id: e.s.BotUserID(), kind: "03:Bot"}
}

// refObj resolves a qualified name ("main", "refs/heads/main",
// "refs/tags/v1") to a ref, if it exists.
func (rc *repoCtx) refObj(name string) (gRef, bool) {
	cands := []string{name}
	if !strings.HasPrefix(name, "refs/") {
		cands = []string{"refs/heads/" + name, "refs/tags/" + name}
	}
	for _, full := range cands {
		if _, ok := rc.ref(full); ok {
			return gRef{rc, full}, true
		}
	}
	return gRef{}, false
}

// splitRef splits a full ref name into GitHub's prefix and name.
func splitRef(full string) (prefix, name string) {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if rest, ok := strings.CutPrefix(full, p); ok {
			return p, rest
		}
	}
	rest := strings.TrimPrefix(full, "refs/")
	if i := strings.Index(rest, "/"); i >= 0 {
		return "refs/" + rest[:i+1], rest[i+1:]
	}
	return "refs/", rest
}

// gitObject is the GraphQL object of sha.
func (rc *repoCtx) gitObject(sha string) gqlObj {
	switch rc.objectType(sha) {
	case "commit":
		return gCommit{rc, sha}
	case "tree":
		return gTree{rc, sha}
	}
	return nil
}

func (rc *repoCtx) pullsOn(args map[string]any, match func(p *pullRequest) bool) []any {
	states, _ := args["states"].([]any)
	var out []any
	for _, p := range rc.st.pulls {
		if !match(p) {
			continue
		}
		st := pullState(p)
		ok := len(states) == 0
		for _, s := range states {
			ok = ok || s == st
		}
		if head := str(args, "headRefName"); head != "" && p.head != head {
			ok = false
		}
		if base := str(args, "baseRefName"); base != "" && p.base != base {
			ok = false
		}
		for _, l := range asList(args["labels"]) {
			ok = ok && slices.Contains(p.issueState.labels, fmt.Sprint(l))
		}
		if ok {
			out = append(out, gPull{rc, p})
		}
	}
	order, _ := args["orderBy"].(map[string]any)
	key := func(p *pullRequest) int64 {
		switch order["field"] {
		case "UPDATED_AT":
			return p.updated.UnixNano()
		case "COMMENTS":
			return int64(len(p.issueState.comments))
		}
		return int64(p.number)
	}
	desc := order["direction"] == "DESC"
	sort.SliceStable(out, func(i, j int) bool {
		a, b := key(out[i].(gPull).p), key(out[j].(gPull).p)
		if desc {
			return a > b
		}
		return a < b
	})
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func pullState(p *pullRequest) string {
	switch {
	case p.merged:
		return "MERGED"
	case p.state == "closed":
		return "CLOSED"
	}
	return "OPEN"
}

func (rc *repoCtx) webURL(path string) string { return webRoot + "/" + rc.full() + path }

// reactionGroups are GitHub's eight reaction groups with their counts.
func reactionGroups(rs []*reaction) []any {
	var out []any
	for _, c := range []string{"THUMBS_UP", "THUMBS_DOWN", "LAUGH", "HOORAY", "CONFUSED", "HEART", "ROCKET", "EYES"} {
		n := 0
		for _, r := range rs {
			if strings.EqualFold(reactionEnum(r.content), c) {
				n++
			}
		}
		out = append(out, gReactionGroup{c, n})
	}
	return out
}

// reactionEnum maps REST reaction content ("+1") to GraphQL's enum.
func reactionEnum(content string) string {
	switch content {
	case "+1":
		return "THUMBS_UP"
	case "-1":
		return "THUMBS_DOWN"
	}
	return strings.ToUpper(content)
}

func init() {
	// Query.
	on("Query", "repository", func(e *gqlExec, _ gqlRoot, a map[string]any) (any, error) {
		rc, ok := e.repoNamed(str(a, "owner"), str(a, "name"))
		if !ok {
			return nil, failf("NOT_FOUND", "Could not resolve to a Repository with the name '%s/%s'.", str(a, "owner"), str(a, "name"))
		}
		return gRepo{rc}, nil
	})
	on("Query", "node", func(e *gqlExec, _ gqlRoot, a map[string]any) (any, error) { return e.node(str(a, "id")) })
	on("Query", "nodes", func(e *gqlExec, _ gqlRoot, a map[string]any) (any, error) {
		ids, _ := a["ids"].([]any)
		out := []any{}
		for i, id := range ids {
			o, err := e.node(fmt.Sprint(id))
			if err != nil {
				e.errs = append(e.errs, gqlError{Type: "NOT_FOUND", Path: []any{"nodes", i}, Message: err.Error()})
				out = append(out, nil)
				continue
			}
			out = append(out, o)
		}
		return out, nil
	})
	// An installation token's viewer is the App's bot, as a User.
	value("Query", "viewer", func(e *gqlExec, _ gqlRoot) any {
		return gAccount{typ: "User", login: e.s.BotLogin(), id: e.s.BotUserID(), kind: "04:User"}
	})
	value("Query", "rateLimit", func(*gqlExec, gqlRoot) any { return gRateLimit{time.Now()} })
	value("RateLimit", "cost", func(*gqlExec, gRateLimit) any { return 1 })
	value("RateLimit", "limit", func(*gqlExec, gRateLimit) any { return rateLimitLimit })
	value("RateLimit", "nodeCount", func(*gqlExec, gRateLimit) any { return 0 })
	value("RateLimit", "remaining", func(*gqlExec, gRateLimit) any { return rateLimitLimit - 1 })
	value("RateLimit", "used", func(*gqlExec, gRateLimit) any { return 1 })
	value("RateLimit", "resetAt", func(_ *gqlExec, r gRateLimit) any { return r.at.Add(rateLimitWindow).Truncate(time.Second) })

	// Connections, edges and page info, for every connection type.
	for _, typ := range []string{"RefConnection", "CommitConnection", "PullRequestConnection", "PullRequestCommitConnection", "UserConnection",
		"LabelConnection", "ProjectCardConnection", "ReactingUserConnection", "IssueCommentConnection", "ReviewRequestConnection",
		"PullRequestReviewConnection", "StatusCheckRollupContextConnection"} {
		edge := strings.TrimSuffix(typ, "Connection") + "Edge"
		value(typ, "nodes", func(_ *gqlExec, c gConn) any { return c.items })
		value(typ, "totalCount", func(_ *gqlExec, c gConn) any { return c.all })
		value(typ, "pageInfo", func(_ *gqlExec, c gConn) any { return gPageInfo{c} })
		value(typ, "edges", func(_ *gqlExec, c gConn) any {
			out := []any{}
			for i, n := range c.items {
				out = append(out, gEdge{edge, cursor(c.first + i), n})
			}
			return out
		})
		value(edge, "cursor", func(_ *gqlExec, ed gEdge) any { return ed.cursor })
		value(edge, "node", func(_ *gqlExec, ed gEdge) any { return ed.node })
	}
	value("PageInfo", "hasNextPage", func(_ *gqlExec, p gPageInfo) any { return p.c.hasNext })
	value("PageInfo", "hasPreviousPage", func(_ *gqlExec, p gPageInfo) any { return p.c.hasPrev })
	value("PageInfo", "startCursor", func(_ *gqlExec, p gPageInfo) any { return nilIfEmpty(p.c.startCur) })
	value("PageInfo", "endCursor", func(_ *gqlExec, p gPageInfo) any { return nilIfEmpty(p.c.endCur) })
	value("IssueCommentEdge", "cursor", func(_ *gqlExec, ed gEdge) any { return ed.cursor })
	value("IssueCommentEdge", "node", func(_ *gqlExec, ed gEdge) any { return ed.node })

	// Accounts.
	for _, typ := range []string{"User", "Organization", "Bot"} {
		value(typ, "id", func(_ *gqlExec, a gAccount) any { return nodeID(a.kind, a.id) })
		value(typ, "databaseId", func(_ *gqlExec, a gAccount) any { return a.id })
		value(typ, "login", func(_ *gqlExec, a gAccount) any { return a.login })
		value(typ, "url", func(e *gqlExec, a gAccount) any {
			if a.typ == "Bot" {
				return webRoot + "/apps/" + e.s.Slug
			}
			return webRoot + "/" + a.login
		})
		value(typ, "resourcePath", func(e *gqlExec, a gAccount) any {
			if a.typ == "Bot" {
				return "/apps/" + e.s.Slug
			}
			return "/" + a.login
		})
		value(typ, "avatarUrl", func(_ *gqlExec, a gAccount) any {
			return fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", a.id)
		})
		if typ != "Bot" {
			value(typ, "name", func(_ *gqlExec, a gAccount) any { return nil })
			on(typ, "repository", func(e *gqlExec, a gAccount, args map[string]any) (any, error) {
				if rc, ok := e.repoNamed(a.login, str(args, "name")); ok {
					return gRepo{rc}, nil
				}
				return nil, nil
			})
		}
	}
	value("Team", "id", func(_ *gqlExec, n gNever) any { return nil })
	value("Team", "name", func(_ *gqlExec, n gNever) any { return nil })
	value("Team", "slug", func(_ *gqlExec, n gNever) any { return nil })
	value("Team", "organization", func(_ *gqlExec, n gNever) any { return nil })

	// Repository.
	value("Repository", "id", func(_ *gqlExec, r gRepo) any { return nodeID("010:Repository", r.rc.id) })
	value("Repository", "databaseId", func(_ *gqlExec, r gRepo) any { return r.rc.id })
	value("Repository", "name", func(_ *gqlExec, r gRepo) any { return r.rc.name })
	value("Repository", "nameWithOwner", func(_ *gqlExec, r gRepo) any { return r.rc.full() })
	value("Repository", "description", func(_ *gqlExec, r gRepo) any { return "Repository " + r.rc.full() + " served by the GitHub double" })
	value("Repository", "url", func(_ *gqlExec, r gRepo) any { return r.rc.webURL("") })
	value("Repository", "resourcePath", func(_ *gqlExec, r gRepo) any { return "/" + r.rc.full() })
	value("Repository", "sshUrl", func(_ *gqlExec, r gRepo) any { return "git@github.com:" + r.rc.full() + ".git" })
	value("Repository", "homepageUrl", func(*gqlExec, gRepo) any { return nil })
	value("Repository", "isPrivate", func(*gqlExec, gRepo) any { return true })
	value("Repository", "visibility", func(*gqlExec, gRepo) any { return "PRIVATE" })
	// The double's repositories are not forks.
	value("Repository", "isFork", func(*gqlExec, gRepo) any { return false })
	value("Repository", "isArchived", func(*gqlExec, gRepo) any { return false })
	value("Repository", "isTemplate", func(*gqlExec, gRepo) any { return false })
	value("Repository", "isEmpty", func(*gqlExec, gRepo) any { return false })
	value("Repository", "createdAt", func(*gqlExec, gRepo) any { return repoTime })
	value("Repository", "updatedAt", func(*gqlExec, gRepo) any { return repoTime })
	value("Repository", "pushedAt", func(*gqlExec, gRepo) any { return repoTime })
	value("Repository", "hasIssuesEnabled", func(*gqlExec, gRepo) any { return true })
	value("Repository", "hasWikiEnabled", func(*gqlExec, gRepo) any { return false })
	value("Repository", "hasProjectsEnabled", func(*gqlExec, gRepo) any { return true })
	value("Repository", "mergeCommitAllowed", func(*gqlExec, gRepo) any { return true })
	value("Repository", "squashMergeAllowed", func(*gqlExec, gRepo) any { return true })
	value("Repository", "rebaseMergeAllowed", func(*gqlExec, gRepo) any { return true })
	value("Repository", "autoMergeAllowed", func(*gqlExec, gRepo) any { return true })
	value("Repository", "deleteBranchOnMerge", func(*gqlExec, gRepo) any { return false })
	value("Repository", "viewerDefaultMergeMethod", func(*gqlExec, gRepo) any { return "MERGE" })
	value("Repository", "viewerPermission", func(e *gqlExec, _ gRepo) any {
		switch {
		case tokenHas(e.tok, needs("admin", "administration")):
			return "ADMIN"
		case tokenHas(e.tok, writeContents):
			return "WRITE"
		}
		return "READ"
	})
	value("Repository", "owner", func(_ *gqlExec, r gRepo) any { return r.rc.ownerAccount() })
	value("Repository", "parent", func(*gqlExec, gRepo) any { return nil })
	on("Repository", "defaultBranchRef", func(e *gqlExec, r gRepo, _ map[string]any) (any, error) {
		if ref, ok := r.rc.refObj("refs/heads/" + r.rc.defaultBranch()); ok {
			return ref, nil
		}
		return nil, nil
	})
	on("Repository", "ref", func(e *gqlExec, r gRepo, a map[string]any) (any, error) {
		if err := e.need(readContents); err != nil {
			return nil, err
		}
		if ref, ok := r.rc.refObj(str(a, "qualifiedName")); ok {
			return ref, nil
		}
		return nil, nil
	})
	on("Repository", "refs", func(e *gqlExec, r gRepo, a map[string]any) (any, error) {
		if err := e.need(readContents); err != nil {
			return nil, err
		}
		prefix := str(a, "refPrefix")
		if !strings.HasPrefix(prefix, "refs/") || !strings.HasSuffix(prefix, "/") {
			return nil, failf("UNPROCESSABLE", "refPrefix must start with \"refs/\" and end with \"/\"")
		}
		refs, err := r.rc.refs()
		if err != nil {
			return nil, err
		}
		var names []string
		for full := range refs {
			if strings.HasPrefix(full, prefix) && strings.Contains(strings.TrimPrefix(full, prefix), str(a, "query")) {
				names = append(names, full)
			}
		}
		sortStrings(names)
		var items []any
		for _, n := range names {
			items = append(items, gRef{r.rc, n})
		}
		return conn("RefConnection", items, a)
	})
	on("Repository", "object", func(e *gqlExec, r gRepo, a map[string]any) (any, error) {
		if err := e.need(readContents); err != nil {
			return nil, err
		}
		expr := str(a, "expression")
		if oid := str(a, "oid"); oid != "" {
			expr = oid
		}
		sha, err := r.rc.git("", nil, "rev-parse", "-q", "--verify", expr)
		if err != nil || expr == "" || strings.HasPrefix(expr, "-") {
			return nil, nil
		}
		return r.rc.gitObject(sha), nil
	})
	on("Repository", "pullRequest", func(e *gqlExec, r gRepo, a map[string]any) (any, error) {
		if err := e.need(readPulls); err != nil {
			return nil, err
		}
		n, _ := intArg(a, "number")
		if p := r.rc.pull(n); p != nil {
			return gPull{r.rc, p}, nil
		}
		return nil, failf("NOT_FOUND", "Could not resolve to a PullRequest with the number of %d.", n)
	})
	on("Repository", "pullRequests", func(e *gqlExec, r gRepo, a map[string]any) (any, error) {
		if err := e.need(readPulls); err != nil {
			return nil, err
		}
		return conn("PullRequestConnection", r.rc.pullsOn(a, func(*pullRequest) bool { return true }), a)
	})
	on("Repository", "issue", func(e *gqlExec, r gRepo, a map[string]any) (any, error) {
		if err := e.need(needs("read", "issues")); err != nil {
			return nil, err
		}
		n, _ := intArg(a, "number")
		if iss := r.rc.issue(n); iss != nil && iss.pull == nil {
			return gIssue{r.rc, iss}, nil
		}
		return nil, failf("NOT_FOUND", "Could not resolve to an Issue with the number of %d.", n)
	})

	on("Repository", "labels", func(e *gqlExec, r gRepo, a map[string]any) (any, error) {
		var items []any
		for _, l := range r.rc.st.labels {
			if q := str(a, "query"); q == "" || strings.Contains(strings.ToLower(l.name), strings.ToLower(q)) {
				items = append(items, gLabel{r.rc, l})
			}
		}
		if order, _ := a["orderBy"].(map[string]any); order["field"] == "NAME" {
			sort.SliceStable(items, func(i, j int) bool {
				x, y := strings.ToLower(items[i].(gLabel).l.name), strings.ToLower(items[j].(gLabel).l.name)
				if order["direction"] == "DESC" {
					return x > y
				}
				return x < y
			})
		}
		return conn("LabelConnection", items, a)
	})

	// Ref.
	value("Ref", "id", func(_ *gqlExec, r gRef) any { return refNodeID(r.rc.id, r.full) })
	value("Ref", "name", func(_ *gqlExec, r gRef) any { _, n := splitRef(r.full); return n })
	value("Ref", "prefix", func(_ *gqlExec, r gRef) any { p, _ := splitRef(r.full); return p })
	value("Ref", "repository", func(_ *gqlExec, r gRef) any { return gRepo{r.rc} })
	value("Ref", "target", func(_ *gqlExec, r gRef) any {
		sha, _ := r.rc.ref(r.full)
		return r.rc.gitObject(sha)
	})
	on("Ref", "associatedPullRequests", func(e *gqlExec, r gRef, a map[string]any) (any, error) {
		_, branch := splitRef(r.full)
		return conn("PullRequestConnection", r.rc.pullsOn(a, func(p *pullRequest) bool { return "refs/heads/"+p.head == r.full && branch != "" }), a)
	})

	// Commit and tree.
	commit := func(name string, fn func(e *gqlExec, c gCommit, info commitInfo) any) {
		on("Commit", name, func(e *gqlExec, c gCommit, _ map[string]any) (any, error) {
			info, err := c.rc.readCommit(c.sha)
			if err != nil {
				return nil, err
			}
			return fn(e, c, info), nil
		})
	}
	for _, typ := range []string{"Commit", "Tree"} {
		kind := map[string]string{"Commit": "C", "Tree": "T"}[typ]
		sha := func(o any) (string, *repoCtx) {
			if c, ok := o.(gCommit); ok {
				return c.sha, c.rc
			}
			t := o.(gTree)
			return t.sha, t.rc
		}
		value(typ, "id", func(_ *gqlExec, o any) any { s, rc := sha(o); return opaqueID(kind, rc.id, s) })
		value(typ, "oid", func(_ *gqlExec, o any) any { s, _ := sha(o); return s })
		value(typ, "abbreviatedOid", func(_ *gqlExec, o any) any { s, _ := sha(o); return s[:7] })
		value(typ, "commitUrl", func(_ *gqlExec, o any) any { s, rc := sha(o); return rc.webURL("/commit/" + s) })
		value(typ, "commitResourcePath", func(_ *gqlExec, o any) any { s, rc := sha(o); return "/" + rc.full() + "/commit/" + s })
		value(typ, "repository", func(_ *gqlExec, o any) any { _, rc := sha(o); return gRepo{rc} })
	}
	value("Commit", "url", func(_ *gqlExec, c gCommit) any { return c.rc.webURL("/commit/" + c.sha) })
	value("Commit", "resourcePath", func(_ *gqlExec, c gCommit) any { return "/" + c.rc.full() + "/commit/" + c.sha })
	commit("message", func(_ *gqlExec, _ gCommit, i commitInfo) any { return i.Message })
	commit("messageHeadline", func(_ *gqlExec, _ gCommit, i commitInfo) any { h, _, _ := strings.Cut(i.Message, "\n"); return h })
	commit("messageBody", func(_ *gqlExec, _ gCommit, i commitInfo) any {
		_, b, _ := strings.Cut(i.Message, "\n")
		return strings.TrimSpace(b)
	})
	commit("authoredDate", func(_ *gqlExec, _ gCommit, i commitInfo) any { return i.Author.Date })
	commit("committedDate", func(_ *gqlExec, _ gCommit, i commitInfo) any { return i.Committer.Date })
	commit("author", func(_ *gqlExec, c gCommit, i commitInfo) any { return gGitActor{c.rc, i.Author} })
	commit("committer", func(_ *gqlExec, c gCommit, i commitInfo) any { return gGitActor{c.rc, i.Committer} })
	commit("tree", func(_ *gqlExec, c gCommit, i commitInfo) any { return gTree{c.rc, i.Tree} })
	commit("additions", func(_ *gqlExec, c gCommit, i commitInfo) any { a, _ := c.rc.diffStat(i); return a })
	commit("deletions", func(_ *gqlExec, c gCommit, i commitInfo) any { _, d := c.rc.diffStat(i); return d })
	on("Commit", "parents", func(e *gqlExec, c gCommit, a map[string]any) (any, error) {
		info, err := c.rc.readCommit(c.sha)
		if err != nil {
			return nil, err
		}
		var items []any
		for _, p := range info.Parents {
			items = append(items, gCommit{c.rc, p})
		}
		return conn("CommitConnection", items, a)
	})
	value("Commit", "statusCheckRollup", func(_ *gqlExec, c gCommit) any {
		if len(c.rc.contexts(c.sha)) == 0 {
			return nil
		}
		return gRollup{c.rc, c.sha}
	})
	value("GitActor", "name", func(_ *gqlExec, g gGitActor) any { return g.i.Name })
	value("GitActor", "email", func(_ *gqlExec, g gGitActor) any { return g.i.Email })
	value("GitActor", "date", func(_ *gqlExec, g gGitActor) any { return g.i.Date.Format(time.RFC3339) })
	value("GitActor", "user", func(e *gqlExec, g gGitActor) any {
		if g.i.Email == e.s.BotEmail() {
			return gAccount{typ: "User", login: e.s.BotLogin(), id: e.s.BotUserID(), kind: "04:User"}
		}
		return nil
	})

	// Statuses and checks.
	value("StatusCheckRollup", "id", func(_ *gqlExec, r gRollup) any { return opaqueID("SC", r.rc.id, r.sha) })
	value("StatusCheckRollup", "commit", func(_ *gqlExec, r gRollup) any { return gCommit{r.rc, r.sha} })
	value("StatusCheckRollup", "state", func(_ *gqlExec, r gRollup) any { return r.rc.rollupState(r.sha) })
	on("StatusCheckRollup", "contexts", func(_ *gqlExec, r gRollup, a map[string]any) (any, error) {
		return conn("StatusCheckRollupContextConnection", r.rc.contexts(r.sha), a)
	})
	value("StatusContext", "id", func(_ *gqlExec, s gStatus) any { return opaqueID("SC", s.rc.id, strconv.FormatInt(s.st.id, 10)) })
	value("StatusContext", "context", func(_ *gqlExec, s gStatus) any { return s.st.context })
	value("StatusContext", "state", func(_ *gqlExec, s gStatus) any { return strings.ToUpper(s.st.state) })
	value("StatusContext", "targetUrl", func(_ *gqlExec, s gStatus) any { return nilIfEmpty(s.st.targetURL) })
	value("StatusContext", "description", func(_ *gqlExec, s gStatus) any { return nilIfEmpty(s.st.description) })
	value("StatusContext", "createdAt", func(_ *gqlExec, s gStatus) any { return s.st.created })
	on("StatusContext", "isRequired", func(e *gqlExec, s gStatus, a map[string]any) (any, error) {
		return slices.Contains(s.rc.st.required, s.st.context), nil
	})
	on("CheckRun", "isRequired", func(e *gqlExec, c gCheckRun, a map[string]any) (any, error) {
		return slices.Contains(c.rc.st.required, c.cr.name), nil
	})
	value("CheckRun", "id", func(_ *gqlExec, c gCheckRun) any { return opaqueID("CR", c.rc.id, strconv.FormatInt(c.cr.id, 10)) })
	value("CheckRun", "databaseId", func(_ *gqlExec, c gCheckRun) any { return c.cr.id })
	value("CheckRun", "name", func(_ *gqlExec, c gCheckRun) any { return c.cr.name })
	value("CheckRun", "status", func(_ *gqlExec, c gCheckRun) any { return strings.ToUpper(c.cr.status) })
	value("CheckRun", "conclusion", func(_ *gqlExec, c gCheckRun) any { return nilIfEmpty(strings.ToUpper(c.cr.conclusion)) })
	value("CheckRun", "startedAt", func(_ *gqlExec, c gCheckRun) any { return timeOrNil(c.cr.started) })
	value("CheckRun", "completedAt", func(_ *gqlExec, c gCheckRun) any { return timeOrNil(c.cr.completed) })
	value("CheckRun", "detailsUrl", func(_ *gqlExec, c gCheckRun) any { return c.rc.webURL("/runs/" + strconv.FormatInt(c.cr.id, 10)) })
	value("CheckRun", "url", func(_ *gqlExec, c gCheckRun) any { return c.rc.webURL("/runs/" + strconv.FormatInt(c.cr.id, 10)) })
	value("CheckRun", "resourcePath", func(_ *gqlExec, c gCheckRun) any {
		return "/" + c.rc.full() + "/runs/" + strconv.FormatInt(c.cr.id, 10)
	})
	value("CheckRun", "checkSuite", func(_ *gqlExec, c gCheckRun) any {
		return gCheckSuite{opaqueID("CS", c.rc.id, strconv.FormatInt(c.cr.id, 10))}
	})
	value("CheckSuite", "id", func(_ *gqlExec, c gCheckSuite) any { return c.id })
	value("CheckSuite", "workflowRun", func(*gqlExec, gCheckSuite) any { return nil })
	for _, f := range []string{"WorkflowRun.id", "WorkflowRun.workflow", "Workflow.id", "Workflow.name", "Milestone.id", "Milestone.number",
		"Milestone.title", "Milestone.description", "Milestone.dueOn", "Project.id", "Project.name", "ProjectColumn.id", "ProjectColumn.name",
		"ProjectCard.id", "ProjectCard.project", "ProjectCard.column", "ReviewRequest.id", "ReviewRequest.asCodeOwner", "ReviewRequest.requestedReviewer"} {
		typ, name, _ := strings.Cut(f, ".")
		value(typ, name, func(*gqlExec, gNever) any { return nil })
	}

	// Reactions.
	value("ReactionGroup", "content", func(_ *gqlExec, g gReactionGroup) any { return g.content })
	value("ReactionGroup", "viewerHasReacted", func(_ *gqlExec, g gReactionGroup) any { return g.n > 0 })
	on("ReactionGroup", "users", func(e *gqlExec, g gReactionGroup, a map[string]any) (any, error) {
		var items []any
		for range g.n {
			items = append(items, gAccount{typ: "User", login: e.s.BotLogin(), id: e.s.BotUserID(), kind: "04:User"})
		}
		return conn("ReactingUserConnection", items, a)
	})

	pullResolvers()
	mutationResolvers()
}

// diffStat counts the lines a commit adds and deletes against its first
// parent.
func (rc *repoCtx) diffStat(i commitInfo) (add, del int) {
	args := []string{"diff", "--numstat", i.SHA + "^", i.SHA}
	if len(i.Parents) == 0 {
		args = []string{"diff", "--numstat", emptyTree, i.SHA}
	}
	out, _ := rc.git("", nil, args...)
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

// emptyTree is git's empty tree.
const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// contexts are the latest commit status of each context on sha, and its
// check runs, as the status check rollup lists them.
func (rc *repoCtx) contexts(sha string) []any {
	var out []any
	latest := map[string]*commitStatus{}
	var order []string
	for _, st := range rc.st.statuses {
		if st.sha == sha {
			if latest[st.context] == nil {
				order = append(order, st.context)
			}
			latest[st.context] = st
		}
	}
	for _, c := range order {
		out = append(out, gStatus{rc, latest[c]})
	}
	for _, cr := range rc.st.checkRuns {
		if cr.sha == sha {
			out = append(out, gCheckRun{rc, cr})
		}
	}
	return out
}

// rollupState combines the contexts of sha as GitHub does.
func (rc *repoCtx) rollupState(sha string) string {
	state := "SUCCESS"
	for _, c := range rc.contexts(sha) {
		var s string
		switch x := c.(type) {
		case gStatus:
			s = strings.ToUpper(x.st.state)
		case gCheckRun:
			switch {
			case x.cr.status != "completed":
				s = "PENDING"
			case x.cr.conclusion == "success" || x.cr.conclusion == "neutral" || x.cr.conclusion == "skipped":
				s = "SUCCESS"
			default:
				s = "FAILURE"
			}
		}
		switch {
		case s == "FAILURE" || s == "ERROR":
			return "FAILURE"
		case s == "PENDING":
			state = "PENDING"
		}
	}
	return state
}
