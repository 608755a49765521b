package proxy

import (
	"net/url"
	"strings"
)

// Where a write goes, read from its host and path as GitHub routes it,
// and the REST routes: those that move a ref, with the ref GitHub would
// really write, and the documented list of writes that move none.
//
// Paths are decided on what GitHub decodes: each segment is
// percent-decoded once; a write whose path has an encoded '/', a '%'
// left after decoding (double encoding), or a '.', '..' or empty segment
// is refused, since servers disagree on those. Route words compare
// case-insensitively, so /REPOS/... meets the same rule as /repos/...;
// values (owner, repository, branch) keep their case.

type endpointKind int

const (
	epOther endpointKind = iota
	epPush
	epREST
	epGraphQL
)

// endpoint is a write's destination.
type endpoint struct {
	kind endpointKind
	host string
	// restPrefix is where REST lives on host ("" on api.github.com,
	// "/api/v3" on GitHub Enterprise Server); graphqlPath is GraphQL's.
	restPrefix, graphqlPath string
	segs                    []string // the decoded path after restPrefix (REST)
	uploads                 bool     // the uploads host (release assets)
	noRef                   bool     // epOther: on the list of writes that move no ref
	unlisted                string   // epOther: why it is on no list
}

// parseEndpoint reads host and the escaped path of a write.
func parseEndpoint(host, escaped string) (endpoint, *refusal) {
	segs, ref := decodePath(escaped)
	if ref != nil {
		return endpoint{}, ref
	}
	ep := endpoint{host: host}
	word := func(i int, w string) bool { return i < len(segs) && strings.EqualFold(segs[i], w) }
	switch {
	case word(0, "api") && word(1, "v3"):
		ep.kind, ep.restPrefix, ep.graphqlPath, ep.segs = epREST, "/api/v3", "/api/graphql", segs[2:]
	case word(0, "api") && word(1, "graphql") && len(segs) == 2:
		ep.kind, ep.restPrefix, ep.graphqlPath = epGraphQL, "/api/v3", "/api/graphql"
	case word(0, "api") && word(1, "uploads"):
		ep.kind, ep.restPrefix, ep.graphqlPath, ep.segs, ep.uploads = epREST, "/api/v3", "/api/graphql", segs[2:], true
	case strings.HasPrefix(host, "api."):
		ep.kind, ep.graphqlPath, ep.segs = epREST, "/graphql", segs
		if word(0, "graphql") && len(segs) == 1 {
			ep.kind = epGraphQL
		}
	case strings.HasPrefix(host, "uploads."):
		ep.kind, ep.graphqlPath, ep.segs, ep.uploads = epREST, "/graphql", segs, true
	default:
		ep.kind, ep.noRef, ep.unlisted = gitHostRoute(segs)
	}
	return ep, nil
}

// gitHostRoute classifies a write to the git host: a push, or one of the
// git and Git LFS requests that move no ref.
func gitHostRoute(segs []string) (endpointKind, bool, string) {
	n := len(segs)
	if n >= 3 && strings.EqualFold(segs[n-1], "git-receive-pack") {
		return epPush, false, ""
	}
	if n >= 3 && strings.EqualFold(segs[n-1], "git-upload-pack") {
		return epOther, true, "" // a fetch
	}
	// Git LFS: /{owner}/{repo}.git/info/lfs/objects/batch, .../locks,
	// .../locks/verify, .../locks/{id}/unlock.
	if n >= 5 && strings.EqualFold(segs[2], "info") && strings.EqualFold(segs[3], "lfs") {
		lfs := strings.ToLower(strings.Join(segs[4:], "/"))
		switch {
		case lfs == "objects/batch", lfs == "locks", lfs == "locks/verify",
			len(segs) == 7 && strings.EqualFold(segs[4], "locks") && strings.EqualFold(segs[6], "unlock"):
			return epOther, true, ""
		}
	}
	return epOther, false, "on the git host, only git push (checked), fetches and Git LFS are writes it lets through"
}

// decodePath splits an escaped path into decoded segments, refusing
// what servers could read differently.
func decodePath(escaped string) ([]string, *refusal) {
	rest, ok := strings.CutPrefix(escaped, "/")
	if !ok {
		return nil, refuseMalformed("the path %q does not start with '/'", trimForMessage(escaped))
	}
	var segs []string
	for _, raw := range strings.Split(rest, "/") {
		seg, err := url.PathUnescape(raw)
		switch {
		case err != nil:
			return nil, refuseMalformed("the path %q has a bad percent-encoding", trimForMessage(escaped))
		case strings.Contains(seg, "/"):
			return nil, refuseMalformed("the path %q has an encoded '/' (%%2F); spell the path with plain '/' and no encoded one", trimForMessage(escaped))
		case strings.Contains(seg, "%"):
			return nil, refuseMalformed("the path %q is percent-encoded twice", trimForMessage(escaped))
		case seg == "", seg == ".", seg == "..":
			return nil, refuseMalformed("the path %q has an empty, '.' or '..' part, which a write's path may not have", trimForMessage(escaped))
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// refKind is how a REST route moves refs.
type refKind int

const (
	refNone           refKind = iota
	refCreate                 // POST git/refs: body ref
	refUpdate                 // PATCH git/refs/{ref}: the path's ref
	refDelete                 // DELETE git/refs/{ref}
	refContents               // PUT/DELETE contents/{path}: body branch, or the default branch
	refMerges                 // POST merges: body base
	refPullMerge              // PUT pulls/{n}/merge: the pull request's base
	refPullUpdateBase         // PATCH pulls/{n}: body base, when present
	refUpdateBranch           // PUT pulls/{n}/update-branch: the pull request's head
	refMergeUpstream          // POST merge-upstream: body branch
	refRename                 // POST branches/{branch}/rename: the path's branch and body new_name
	refReleaseCreate          // POST releases: tag_name, created when it does not exist
	refReleaseUpdate          // PATCH releases/{id}: its tag, likewise
	refRepoUpdate             // PATCH the repository: default_branch only
)

// restRoute is the route a REST write matched.
type restRoute struct {
	kind     refKind
	noRef    bool   // on the list of writes that move no ref
	unlisted string // on neither list: why
	owner    string
	repo     string
	args     []string // the path's '*' and '**' values
}

type routeRule struct {
	method string
	tail   string // after repos/{owner}/{repo}: words, '*' one segment, '**' one or more (last)
	kind   refKind
}

// refRoutes are the REST routes that move a ref (docs/agent-isolation.md
// lists them).
var refRoutes = []routeRule{
	{"POST", "git/refs", refCreate},
	{"PATCH", "git/refs/**", refUpdate},
	{"DELETE", "git/refs/**", refDelete},
	{"PUT", "contents/**", refContents},
	{"DELETE", "contents/**", refContents},
	{"POST", "merges", refMerges},
	{"PUT", "pulls/*/merge", refPullMerge},
	{"PATCH", "pulls/*", refPullUpdateBase},
	{"PUT", "pulls/*/update-branch", refUpdateBranch},
	{"POST", "merge-upstream", refMergeUpstream},
	{"POST", "releases", refReleaseCreate},
	{"PATCH", "releases/*", refReleaseUpdate},
	{"PATCH", "", refRepoUpdate},
	// POST branches/{branch}/rename: matched in matchREST (the branch
	// may hold '/').
}

// noRefRoutes are the writes that move no ref, under
// /repos/{owner}/{repo}/ (docs/agent-isolation.md lists them).
var noRefRoutes = []routeRule{
	// Issues, their comments, labels, assignees and reactions.
	{"POST", "issues", 0}, {"PATCH", "issues/*", 0},
	{"POST", "issues/*/comments", 0}, {"PATCH", "issues/comments/*", 0}, {"DELETE", "issues/comments/*", 0},
	{"POST", "issues/*/labels", 0}, {"PUT", "issues/*/labels", 0}, {"DELETE", "issues/*/labels", 0}, {"DELETE", "issues/*/labels/*", 0},
	{"POST", "issues/*/assignees", 0}, {"DELETE", "issues/*/assignees", 0},
	{"POST", "issues/*/reactions", 0}, {"DELETE", "issues/*/reactions/*", 0},
	{"POST", "issues/comments/*/reactions", 0}, {"DELETE", "issues/comments/*/reactions/*", 0},
	{"POST", "labels", 0}, {"PATCH", "labels/*", 0}, {"DELETE", "labels/*", 0},
	// Commit comments.
	{"POST", "commits/*/comments", 0}, {"PATCH", "comments/*", 0}, {"DELETE", "comments/*", 0},
	{"POST", "comments/*/reactions", 0}, {"DELETE", "comments/*/reactions/*", 0},
	// Pull requests (create; update is refPullUpdateBase), reviews and
	// review comments, review requests.
	{"POST", "pulls", 0},
	{"POST", "pulls/*/comments", 0}, {"POST", "pulls/*/comments/*/replies", 0},
	{"PATCH", "pulls/comments/*", 0}, {"DELETE", "pulls/comments/*", 0},
	{"POST", "pulls/comments/*/reactions", 0}, {"DELETE", "pulls/comments/*/reactions/*", 0},
	{"POST", "pulls/*/reviews", 0}, {"PUT", "pulls/*/reviews/*", 0}, {"DELETE", "pulls/*/reviews/*", 0},
	{"POST", "pulls/*/reviews/*/events", 0}, {"PUT", "pulls/*/reviews/*/dismissals", 0},
	{"POST", "pulls/*/requested_reviewers", 0}, {"DELETE", "pulls/*/requested_reviewers", 0},
	// Checks and commit statuses.
	{"POST", "check-runs", 0}, {"PATCH", "check-runs/*", 0}, {"POST", "check-runs/*/rerequest", 0},
	{"POST", "check-suites", 0}, {"POST", "check-suites/*/rerequest", 0},
	{"POST", "statuses/*", 0},
	// Git objects (a ref moves only through git/refs).
	{"POST", "git/blobs", 0}, {"POST", "git/trees", 0}, {"POST", "git/commits", 0}, {"POST", "git/tags", 0},
	// Releases beyond their tag: deleting one keeps its tag; assets.
	{"DELETE", "releases/*", 0}, {"PATCH", "releases/assets/*", 0}, {"DELETE", "releases/assets/*", 0},
	{"POST", "releases/*/reactions", 0}, {"DELETE", "releases/*/reactions/*", 0},
}

// uploadRoutes are the uploads host's writes: release assets.
var uploadRoutes = []routeRule{{"POST", "releases/*/assets", 0}}

// matchREST finds the route of a REST write.
func matchREST(method string, ep endpoint, rawQuery string) (restRoute, *refusal) {
	segs := ep.segs
	unlisted := restRoute{unlisted: "REST writes outside a repository's listed routes change no branch and are not a session's to make (deploy keys, hooks, runners, secrets, variables, invitations, workflow dispatch, forks, repositories and settings included)"}
	var tail []string
	byID := false
	switch {
	case len(segs) >= 3 && strings.EqualFold(segs[0], "repos"):
		tail = segs[3:]
	case len(segs) >= 2 && strings.EqualFold(segs[0], "repositories"):
		tail, byID = segs[2:], true
	default:
		return unlisted, nil
	}
	route := restRoute{args: nil}
	if !byID {
		route.owner, route.repo = segs[1], segs[2]
	}
	if ep.uploads {
		if _, ok := matchRules(uploadRoutes, method, tail); ok {
			return restRoute{noRef: true}, nil
		}
		return unlisted, nil
	}
	r, args, ok := matchRuleKind(refRoutes, method, tail)
	if !ok && method == "POST" && len(tail) >= 3 && strings.EqualFold(tail[0], "branches") && strings.EqualFold(tail[len(tail)-1], "rename") {
		r, args, ok = routeRule{kind: refRename}, []string{strings.Join(tail[1:len(tail)-1], "/")}, true
	}
	if !ok {
		if _, ok := matchRules(noRefRoutes, method, tail); ok {
			return restRoute{noRef: true}, nil
		}
		return unlisted, nil
	}
	switch {
	case byID:
		return route, refuseMalformed("%s on /repositories/{id}/...: send writes that move a ref to /repos/{owner}/{repo}/...", method)
	case rawQuery != "":
		return route, refuseMalformed("%s /repos/%s/%s/%s has a query string; a write that moves a ref takes its parameters in the JSON body only", method, route.owner, route.repo, strings.Join(tail, "/"))
	}
	route.kind, route.args = r.kind, args
	return route, nil
}

func matchRules(rules []routeRule, method string, tail []string) (routeRule, bool) {
	r, _, ok := matchRuleKind(rules, method, tail)
	return r, ok
}

// matchRuleKind finds the rule for method and tail and the values its
// '*' and '**' stand for ('**' joined with '/').
func matchRuleKind(rules []routeRule, method string, tail []string) (routeRule, []string, bool) {
next:
	for _, r := range rules {
		if r.method != method {
			continue
		}
		var words []string
		if r.tail != "" {
			words = strings.Split(r.tail, "/")
		}
		var args []string
		for i, w := range words {
			switch {
			case w == "**":
				if i >= len(tail) {
					continue next
				}
				args = append(args, strings.Join(tail[i:], "/"))
				return r, args, true
			case i >= len(tail):
				continue next
			case w == "*":
				args = append(args, tail[i])
			case !strings.EqualFold(w, tail[i]):
				continue next
			}
		}
		if len(words) == len(tail) {
			return r, args, true
		}
	}
	return routeRule{}, nil, false
}
