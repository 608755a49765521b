package githubtest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
)

// webRoot is where the double's html_url links point.
const webRoot = "https://github.com"

// repoTime is the creation time of every repository.
var repoTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// nodeID makes a GitHub legacy global node id, e.g. nodeID("010:Repository", 812345001).
func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString([]byte(kind + strconv.FormatInt(id, 10)))
}

// accountJSON is the simple-user object GitHub gives for an installation's
// account.
func accountJSON(in *Installation, base string) map[string]any {
	kind := "04:User"
	if in.AccountType == "Organization" {
		kind = "012:Organization"
	}
	id := in.accountID()
	u := base + "/users/" + in.Account
	return map[string]any{
		"login":               in.Account,
		"id":                  id,
		"node_id":             nodeID(kind, id),
		"avatar_url":          fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id),
		"gravatar_id":         "",
		"url":                 u,
		"html_url":            webRoot + "/" + in.Account,
		"followers_url":       u + "/followers",
		"following_url":       u + "/following{/other_user}",
		"gists_url":           u + "/gists{/gist_id}",
		"starred_url":         u + "/starred{/owner}{/repo}",
		"subscriptions_url":   u + "/subscriptions",
		"organizations_url":   u + "/orgs",
		"repos_url":           u + "/repos",
		"events_url":          u + "/events{/privacy}",
		"received_events_url": u + "/received_events",
		"type":                in.AccountType,
		"user_view_type":      "public",
		"site_admin":          false,
	}
}

// installationJSON is GitHub's installation object. Callers hold s.mu.
func (s *Server) installationJSON(in *Installation, base string) map[string]any {
	html := fmt.Sprintf("%s/settings/installations/%d", webRoot, in.ID)
	if in.AccountType == "Organization" {
		html = fmt.Sprintf("%s/organizations/%s/settings/installations/%d", webRoot, in.Account, in.ID)
	}
	out := map[string]any{
		"id":                        in.ID,
		"client_id":                 s.ClientID,
		"account":                   accountJSON(in, base),
		"repository_selection":      in.Selection,
		"access_tokens_url":         fmt.Sprintf("%s/app/installations/%d/access_tokens", base, in.ID),
		"repositories_url":          base + "/installation/repositories",
		"html_url":                  html,
		"app_id":                    s.AppID,
		"app_slug":                  s.Slug,
		"target_id":                 in.accountID(),
		"target_type":               in.AccountType,
		"permissions":               maps.Clone(in.Permissions),
		"events":                    []string{},
		"created_at":                s.createdAt,
		"updated_at":                s.createdAt,
		"single_file_name":          nil,
		"has_multiple_single_files": false,
		"single_file_paths":         []string{},
		"suspended_by":              nil,
		"suspended_at":              nil,
	}
	if in.SuspendedAt != nil {
		out["suspended_at"] = *in.SuspendedAt
		out["suspended_by"] = map[string]any{
			"login": "double-owner", "id": 1, "node_id": nodeID("04:User", 1), "type": "User", "site_admin": false,
		}
	}
	return out
}

// repoJSON is GitHub's full repository object, as listed in a token answer.
// Its bulk is deliberate: a client must not keep it.
func (s *Server) repoJSON(in *Installation, repo Repo, base string) map[string]any {
	full := in.Account + "/" + repo.Name
	u := base + "/repos/" + full
	return map[string]any{
		"id":                          repo.ID,
		"node_id":                     nodeID("010:Repository", repo.ID),
		"name":                        repo.Name,
		"full_name":                   full,
		"private":                     true,
		"owner":                       accountJSON(in, base),
		"html_url":                    webRoot + "/" + full,
		"description":                 "Repository " + full + " served by the GitHub double",
		"fork":                        false,
		"url":                         u,
		"forks_url":                   u + "/forks",
		"keys_url":                    u + "/keys{/key_id}",
		"collaborators_url":           u + "/collaborators{/collaborator}",
		"teams_url":                   u + "/teams",
		"hooks_url":                   u + "/hooks",
		"issue_events_url":            u + "/issues/events{/number}",
		"events_url":                  u + "/events",
		"assignees_url":               u + "/assignees{/user}",
		"branches_url":                u + "/branches{/branch}",
		"tags_url":                    u + "/tags",
		"blobs_url":                   u + "/git/blobs{/sha}",
		"git_tags_url":                u + "/git/tags{/sha}",
		"git_refs_url":                u + "/git/refs{/sha}",
		"trees_url":                   u + "/git/trees{/sha}",
		"statuses_url":                u + "/statuses/{sha}",
		"languages_url":               u + "/languages",
		"stargazers_url":              u + "/stargazers",
		"contributors_url":            u + "/contributors",
		"subscribers_url":             u + "/subscribers",
		"subscription_url":            u + "/subscription",
		"commits_url":                 u + "/commits{/sha}",
		"git_commits_url":             u + "/git/commits{/sha}",
		"comments_url":                u + "/comments{/number}",
		"issue_comment_url":           u + "/issues/comments{/number}",
		"contents_url":                u + "/contents/{+path}",
		"compare_url":                 u + "/compare/{base}...{head}",
		"merges_url":                  u + "/merges",
		"archive_url":                 u + "/{archive_format}{/ref}",
		"downloads_url":               u + "/downloads",
		"issues_url":                  u + "/issues{/number}",
		"pulls_url":                   u + "/pulls{/number}",
		"milestones_url":              u + "/milestones{/number}",
		"notifications_url":           u + "/notifications{?since,all,participating}",
		"labels_url":                  u + "/labels{/name}",
		"releases_url":                u + "/releases{/id}",
		"deployments_url":             u + "/deployments",
		"created_at":                  repoTime,
		"updated_at":                  repoTime,
		"pushed_at":                   repoTime,
		"git_url":                     "git://github.com/" + full + ".git",
		"ssh_url":                     "git@github.com:" + full + ".git",
		"clone_url":                   webRoot + "/" + full + ".git",
		"svn_url":                     webRoot + "/" + full,
		"homepage":                    nil,
		"size":                        1024,
		"stargazers_count":            0,
		"watchers_count":              0,
		"language":                    "Go",
		"has_issues":                  true,
		"has_projects":                true,
		"has_downloads":               true,
		"has_wiki":                    false,
		"has_pages":                   false,
		"has_discussions":             false,
		"forks_count":                 0,
		"mirror_url":                  nil,
		"archived":                    false,
		"disabled":                    false,
		"open_issues_count":           0,
		"license":                     nil,
		"allow_forking":               false,
		"is_template":                 false,
		"web_commit_signoff_required": false,
		"topics":                      []string{},
		"visibility":                  "private",
		"forks":                       0,
		"open_issues":                 0,
		"watchers":                    0,
		"default_branch":              s.defaultBranchLocked(repo.ID),
	}
}

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// TokenLength is the length of the installation tokens the double issues:
// "ghs_" and 516 characters, the size of GitHub's stateless installation
// tokens, so that a client (or a lease, a log scrubber, a file) that assumes
// the old 40-character tokens fails against the double too.
const TokenLength = 520

// newTokenValue makes an unguessable installation token: "ghs_" and 516
// alphanumerics from crypto/rand (rejection sampling keeps them uniform).
func newTokenValue() string {
	out := make([]byte, 0, TokenLength)
	out = append(out, "ghs_"...)
	buf := make([]byte, 640)
	for len(out) < cap(out) {
		rand.Read(buf) // never fails (see crypto/rand.Read)
		for _, b := range buf {
			// 248 = 4*62: keep only bytes that map uniformly.
			if b < 248 && len(out) < cap(out) {
				out = append(out, tokenAlphabet[b%62])
			}
		}
	}
	return string(out)
}

// Node ids of the objects the double keeps per repository: opaque and
// stable, as GitHub's ("REF_kwDO..."), a kind prefix and base64 of the
// repository id and the object's key. decodeNodeID reads them back.
func opaqueID(kind string, repoID int64, key string) string {
	return kind + "_" + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(repoID, 10)+":"+key))
}

func refNodeID(repoID int64, ref string) string { return opaqueID("REF", repoID, ref) }

func commitNodeID(repoID int64, sha string) string { return opaqueID("C", repoID, sha) }

func pullNodeID(repoID int64, number int) string { return opaqueID("PR", repoID, strconv.Itoa(number)) }

// decodeNodeID splits a node id into its kind, repository id and key. A
// repository's own id (nodeID("010:Repository", id)) decodes as kind "R".
func decodeNodeID(id string) (kind string, repoID int64, key string, ok bool) {
	if raw, err := base64.StdEncoding.DecodeString(id); err == nil {
		if n, found := strings.CutPrefix(string(raw), "010:Repository"); found {
			rid, err := strconv.ParseInt(n, 10, 64)
			return "R", rid, "", err == nil
		}
	}
	kind, enc, found := strings.Cut(id, "_")
	if !found {
		return "", 0, "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", 0, "", false
	}
	rid, key, found := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(rid, 10, 64)
	if !found || err != nil {
		return "", 0, "", false
	}
	return kind, n, key, true
}
