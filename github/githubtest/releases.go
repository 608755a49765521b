package githubtest

// Releases: publishing a release whose tag does not exist creates the tag
// (a ref) at target_commitish, or at the default branch, as on GitHub.

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

const releasesDocs = "https://docs.github.com/rest/releases/releases"

func (rc *repoCtx) releaseJSON(rel *release) map[string]any {
	u := rc.base + "/repos/" + rc.full() + "/releases/" + strconv.FormatInt(rel.id, 10)
	html := rc.webURL("/releases/tag/" + rel.tag)
	if rel.draft {
		html = rc.webURL("/releases/tag/untagged-" + strconv.FormatInt(rel.id, 10))
	}
	return map[string]any{
		"url": u, "html_url": html, "assets_url": u + "/assets",
		"upload_url":  "https://uploads.github.com/repos/" + rc.full() + "/releases/" + strconv.FormatInt(rel.id, 10) + "/assets{?name,label}",
		"tarball_url": rc.base + "/repos/" + rc.full() + "/tarball/" + rel.tag, "zipball_url": rc.base + "/repos/" + rc.full() + "/zipball/" + rel.tag,
		"id": rel.id, "node_id": opaqueID("RE", rc.id, strconv.FormatInt(rel.id, 10)), "tag_name": rel.tag, "target_commitish": rel.target,
		"name": nilIfEmpty(rel.name), "body": nilIfEmpty(rel.body), "draft": rel.draft, "prerelease": rel.prerelease,
		"created_at": rel.created, "published_at": timeOrNil(rel.published), "author": rc.s.botJSON(rc.base), "assets": []any{},
	}
}

// releaseBody is what POST and PATCH releases take.
type releaseBody struct {
	TagName    *string `json:"tag_name"`
	Target     *string `json:"target_commitish"`
	Name       *string `json:"name"`
	Body       *string `json:"body"`
	Draft      *bool   `json:"draft"`
	Prerelease *bool   `json:"prerelease"`
}

// publishTag creates rel's tag if it does not exist, at its target (a
// branch or a commit). It returns a validation error if the target is not
// one.
func (rc *repoCtx) publishTag(rel *release) map[string]any {
	if _, exists := rc.ref("refs/tags/" + rel.tag); exists {
		return nil
	}
	sha, ok := rc.branch(rel.target)
	if !ok {
		if rc.objectType(rel.target) != "commit" {
			return fieldError("Release", "target_commitish", "invalid")
		}
		sha = rel.target
	}
	if !validRefName("refs/tags/" + rel.tag) {
		return fieldError("Release", "tag_name", "invalid")
	}
	if err := rc.update(refUpdate{ref: "refs/tags/" + rel.tag, new: sha}); err != nil {
		return fieldError("Release", "tag_name", "invalid")
	}
	return nil
}

// createRelease serves POST /repos/{owner}/{repo}/releases.
func (s *Server) createRelease(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = releasesDocs + "#create-a-release"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	var body releaseBody
	if !readJSON(w, r, doc, &body) || missingFields(w, doc, map[string]bool{"tag_name": body.TagName != nil}, "tag_name") {
		return
	}
	for _, rel := range rc.st.releases {
		if rel.tag == *body.TagName {
			validationFailed(w, doc, fieldError("Release", "tag_name", "already_exists"))
			return
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	rel := &release{id: s.newObjectID(), tag: *body.TagName, target: rc.defaultBranch(), created: now}
	if body.Target != nil && *body.Target != "" {
		rel.target = *body.Target
	}
	rel.name, rel.body = deref(body.Name), deref(body.Body)
	rel.draft = body.Draft != nil && *body.Draft
	rel.prerelease = body.Prerelease != nil && *body.Prerelease
	if !rel.draft {
		if e := rc.publishTag(rel); e != nil {
			validationFailed(w, doc, e)
			return
		}
		rel.published = now
	}
	rc.st.releases = append(rc.st.releases, rel)
	out := rc.releaseJSON(rel)
	w.Header().Set("Location", out["url"].(string))
	writeJSON(w, http.StatusCreated, out)
}

// findRelease is the release with {release_id}, answering 404.
func (rc *repoCtx) findRelease(w http.ResponseWriter, doc, id string) *release {
	n, _ := strconv.ParseInt(id, 10, 64)
	for _, rel := range rc.st.releases {
		if rel.id == n {
			return rel
		}
	}
	writeError(w, http.StatusNotFound, msgNotFound, doc)
	return nil
}

// updateRelease serves PATCH /repos/{owner}/{repo}/releases/{release_id};
// publishing a draft creates its tag.
func (s *Server) updateRelease(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = releasesDocs + "#update-a-release"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	rel := rc.findRelease(w, doc, args[2])
	if rel == nil {
		return
	}
	var body releaseBody
	if !readJSON(w, r, doc, &body) {
		return
	}
	next := *rel
	if body.TagName != nil {
		next.tag = *body.TagName
	}
	if body.Target != nil {
		next.target = *body.Target
	}
	if body.Name != nil {
		next.name = *body.Name
	}
	if body.Body != nil {
		next.body = *body.Body
	}
	if body.Draft != nil {
		next.draft = *body.Draft
	}
	if body.Prerelease != nil {
		next.prerelease = *body.Prerelease
	}
	if !next.draft {
		if e := rc.publishTag(&next); e != nil {
			validationFailed(w, doc, e)
			return
		}
		if next.published.IsZero() {
			next.published = time.Now().UTC().Truncate(time.Second)
		}
	}
	*rel = next
	writeJSON(w, http.StatusOK, rc.releaseJSON(rel))
}

// getRelease serves GET releases/{release_id}, releases/tags/{tag} and
// releases/latest.
func getRelease(by string) func(s *Server, w http.ResponseWriter, r *http.Request, args []string) {
	return func(s *Server, w http.ResponseWriter, r *http.Request, args []string) {
		const doc = releasesDocs + "#get-a-release"
		rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
		if !ok {
			return
		}
		defer rc.done()
		var found *release
		for _, rel := range slices.Backward(rc.st.releases) {
			switch {
			case by == "id" && strconv.FormatInt(rel.id, 10) == args[2],
				by == "tag" && rel.tag == args[2] && !rel.draft,
				by == "latest" && !rel.draft && !rel.prerelease && found == nil:
				found = rel
			}
		}
		if found == nil {
			writeError(w, http.StatusNotFound, msgNotFound, doc)
			return
		}
		writeJSON(w, http.StatusOK, rc.releaseJSON(found))
	}
}

// listReleases serves GET /repos/{owner}/{repo}/releases, newest first.
func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = releasesDocs + "#list-releases"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, readContents)
	if !ok {
		return
	}
	defer rc.done()
	rels := slices.Clone(rc.st.releases)
	slices.Reverse(rels)
	items := []map[string]any{}
	for _, rel := range page(w, r, rc.base+"/repos/"+rc.full()+"/releases", rels) {
		items = append(items, rc.releaseJSON(rel))
	}
	writeJSON(w, http.StatusOK, items)
}

// deleteRelease serves DELETE /repos/{owner}/{repo}/releases/{release_id};
// the tag stays, as on GitHub.
func (s *Server) deleteRelease(w http.ResponseWriter, r *http.Request, args []string) {
	const doc = releasesDocs + "#delete-a-release"
	rc, ok := s.openRepo(w, r, args[0], args[1], doc, writeContents)
	if !ok {
		return
	}
	defer rc.done()
	rel := rc.findRelease(w, doc, args[2])
	if rel == nil {
		return
	}
	rc.st.releases = slices.DeleteFunc(rc.st.releases, func(x *release) bool { return x == rel })
	w.WriteHeader(http.StatusNoContent)
}
