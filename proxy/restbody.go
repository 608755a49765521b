package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// parseREST reads the body of a REST write that moves a ref and returns
// the refs GitHub would write, with GitHub's defaults applied; refs only
// GitHub knows are looked up (lookup.go) when the decision runs.
func (p *Proxy) parseREST(what string, ep endpoint, route restRoute, cred credential, body []byte) ([]scopedRequest, *refusal) {
	obj, ref := bodyObject(what, body)
	if ref != nil {
		return nil, ref
	}
	api := p.api(ep, cred)
	owner, repo := route.owner, route.repo
	req := scopedRequest{what: what}
	str := func(key string) (string, *refusal) {
		v, has := obj[key]
		s, ok := v.(string)
		if !has || !ok || s == "" {
			return "", refuseMalformed("%s needs %q, a non-empty string", what, key)
		}
		return s, nil
	}
	switch route.kind {
	case refCreate:
		r, ref := str("ref")
		if ref != nil {
			return nil, ref
		}
		req.writes = []write{{ref: r, how: "create"}}
	case refUpdate, refDelete:
		if _, has := obj["ref"]; has {
			return nil, refuseMalformed("%s names its ref in the path; a \"ref\" in the body as well is refused", what)
		}
		how := "update, force allowed"
		if route.kind == refDelete {
			how, req.serial = "delete", true
		}
		// The path's ref is heads/<branch>; anything else (tags/...,
		// refs/heads/...) reads as a ref that is not a branch.
		req.writes = []write{{ref: "refs/" + route.args[0], how: how}}
	case refContents:
		v, has := obj["branch"]
		if !has || v == nil {
			req.lookups = append(req.lookups, func(ctx context.Context) ([]write, *refusal) {
				b, ref := api.defaultBranch(ctx, owner, repo)
				return []write{{ref: "refs/heads/" + b, how: "no \"branch\" given: the default branch"}}, ref
			})
			break
		}
		w, ref := branchParam(what, "branch", v)
		if ref != nil {
			return nil, ref
		}
		req.writes = []write{w}
	case refMerges, refMergeUpstream:
		key := "base"
		if route.kind == refMergeUpstream {
			key = "branch"
		}
		w, ref := branchParam(what, key, obj[key])
		if ref != nil {
			return nil, ref
		}
		req.writes = []write{w}
	case refPullMerge, refUpdateBranch:
		n := route.args[0]
		if !isNumber(n) {
			return nil, refuseMalformed("%s: %q is not a pull request number", what, trimForMessage(n))
		}
		req.lookups = append(req.lookups, func(ctx context.Context) ([]write, *refusal) {
			base, head, ref := api.pull(ctx, owner, repo, n)
			if route.kind == refPullMerge {
				return []write{{ref: "refs/heads/" + base, how: "merge into pull request #" + n + "'s base"}}, ref
			}
			return []write{{ref: "refs/heads/" + head, how: "update pull request #" + n + "'s head"}}, ref
		})
	case refPullUpdateBase:
		v, has := obj["base"]
		if !has {
			return []scopedRequest{req}, nil // an edit of title, body or state: no ref
		}
		w, ref := branchParam(what, "base", v)
		if ref != nil {
			return nil, ref
		}
		w.how = "the new base of pull request #" + route.args[0] + " (what a later merge writes)"
		req.writes, req.serial = []write{w}, true
	case refRename:
		from, ref := branchParam(what, "the path's branch", route.args[0])
		if ref != nil {
			return nil, ref
		}
		to, ref := branchParam(what, "new_name", obj["new_name"])
		if ref != nil {
			return nil, ref
		}
		from.how, to.how = "rename from", "rename to"
		req.writes, req.serial = []write{from, to}, true
		req.lookups = append(req.lookups, func(context.Context) ([]write, *refusal) {
			p.scope.defaults.forget(api.repoKey(owner, repo)) // it may be the default branch
			return nil, nil
		})
	case refReleaseCreate, refReleaseUpdate:
		tag, hasTag := obj["tag_name"].(string)
		if _, has := obj["tag_name"]; has && (!hasTag || tag == "") {
			return nil, refuseMalformed("%s: \"tag_name\" must be a non-empty string", what)
		}
		if route.kind == refReleaseCreate && !hasTag {
			return nil, refuseMalformed("%s needs \"tag_name\", a non-empty string", what)
		}
		id := ""
		if route.kind == refReleaseUpdate {
			id = route.args[0]
		}
		req.lookups = append(req.lookups, func(ctx context.Context) ([]write, *refusal) {
			t := tag
			if t == "" {
				var ref *refusal
				if t, ref = api.releaseTag(ctx, owner, repo, id); ref != nil {
					return nil, ref
				}
			}
			exists, ref := api.tagExists(ctx, owner, repo, t)
			if ref != nil || exists {
				return nil, ref
			}
			return []write{{ref: "refs/tags/" + t, how: "a release of a tag that does not exist creates the tag"}}, nil
		})
	case refRepoUpdate:
		v, has := obj["default_branch"]
		if !has || len(obj) != 1 {
			return []scopedRequest{{what: what, unlisted: "repository settings are not a session's write; only a change of default_branch (alone) is checked and may pass"}}, nil
		}
		w, ref := branchParam(what, "default_branch", v)
		if ref != nil {
			return nil, ref
		}
		w.how = "the new default branch"
		req.writes, req.serial = []write{w}, true
		req.lookups = append(req.lookups, func(ctx context.Context) ([]write, *refusal) {
			p.scope.defaults.forget(api.repoKey(owner, repo))
			b, ref := api.defaultBranch(ctx, owner, repo)
			p.scope.defaults.forget(api.repoKey(owner, repo))
			return []write{{ref: "refs/heads/" + b, how: "the current default branch"}}, ref
		})
	default:
		return nil, &refusal{status: http.StatusForbidden, rule: ruleNotListed, msg: what + " has no rule"}
	}
	return []scopedRequest{req}, nil
}

// bodyObject decodes a REST write's body: empty, or one JSON object.
func bodyObject(what string, body []byte) (map[string]any, *refusal) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return map[string]any{}, nil
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, refuseMalformed("%s: %v", what, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, refuseMalformed("%s: the body is not a JSON object", what)
	}
	return obj, nil
}

// branchParam reads a parameter GitHub documents as a branch's name. A
// value that reads as a ref path (refs/..., heads/..., tags/...,
// remotes/...) is refused: which ref GitHub would resolve it to is not
// the proxy's to guess.
func branchParam(what, key string, v any) (write, *refusal) {
	s, ok := v.(string)
	if !ok || s == "" {
		return write{}, refuseMalformed("%s needs %q, a branch name (a non-empty string)", what, key)
	}
	first, _, _ := strings.Cut(s, "/")
	switch strings.ToLower(first) {
	case "refs", "heads", "tags", "remotes":
		return write{}, refuseMalformed("%s: %q is %q, which reads as a ref path; give the branch's name alone, without refs/heads/", what, key, trimForMessage(s))
	}
	return write{ref: "refs/heads/" + s, how: fmt.Sprintf("%q", key)}, nil
}

func isNumber(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
