package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Lookups: what only GitHub knows about a write's ref (the default
// branch, a pull request's base or head, whether a tag exists, a node
// id's ref), asked with the session's own token on the request's own
// host and API prefix. The default branch is cached briefly.

const (
	lookupTimeout   = 30 * time.Second
	lookupBodyLimit = 1 << 20
	defaultTTL      = 30 * time.Second
	cacheEntries    = 1024
)

// apiClient asks GitHub for one request's lookups.
type apiClient struct {
	p                       *Proxy
	host                    string
	restPrefix, graphqlPath string
	token                   string
}

func (p *Proxy) api(ep endpoint, cred credential) apiClient {
	return apiClient{p: p, host: ep.host, restPrefix: ep.restPrefix, graphqlPath: ep.graphqlPath, token: cred.token}
}

func (a apiClient) repoKey(owner, repo string) string {
	return a.host + a.restPrefix + "/" + strings.ToLower(owner+"/"+repo)
}

func repoPath(owner, repo string) string {
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo)
}

// do sends one lookup and decodes a 2xx answer into out; it returns
// GitHub's status.
func (a apiClient) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "https://"+a.host+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "github-token-proxy")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.p.upstream.RoundTrip(req)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, lookupBodyLimit))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("GitHub's answer is not the JSON expected")
	}
	return resp.StatusCode, nil
}

func lookupFailed(what string, status int, err error) *refusal {
	msg := "could not look up " + what + ", which decides the ref this write moves: "
	switch {
	case err != nil:
		msg += err.Error()
	default:
		msg += fmt.Sprintf("GitHub answered %d", status)
	}
	return &refusal{status: http.StatusBadGateway, rule: ruleLookup, msg: msg}
}

// defaultBranch is the repository's default branch.
func (a apiClient) defaultBranch(ctx context.Context, owner, repo string) (string, *refusal) {
	key := a.repoKey(owner, repo)
	if b, ok := a.p.scope.defaults.get(key); ok {
		return b, nil
	}
	var r struct {
		DefaultBranch string `json:"default_branch"`
	}
	what := fmt.Sprintf("the default branch of %s/%s", owner, repo)
	status, err := a.do(ctx, http.MethodGet, a.restPrefix+repoPath(owner, repo), nil, &r)
	if err != nil || status/100 != 2 || r.DefaultBranch == "" {
		return "", lookupFailed(what, status, err)
	}
	a.p.scope.defaults.put(key, r.DefaultBranch)
	return r.DefaultBranch, nil
}

// pull is a pull request's base and head branch names.
func (a apiClient) pull(ctx context.Context, owner, repo, number string) (base, head string, _ *refusal) {
	var r struct {
		Base struct {
			Ref string `json:"ref"`
		} `json:"base"`
		Head struct {
			Ref string `json:"ref"`
		} `json:"head"`
	}
	what := fmt.Sprintf("pull request %s/%s#%s", owner, repo, number)
	status, err := a.do(ctx, http.MethodGet, a.restPrefix+repoPath(owner, repo)+"/pulls/"+number, nil, &r)
	if err != nil || status/100 != 2 || r.Base.Ref == "" || r.Head.Ref == "" {
		return "", "", lookupFailed(what, status, err)
	}
	return r.Base.Ref, r.Head.Ref, nil
}

// tagExists reports whether refs/tags/<tag> exists.
func (a apiClient) tagExists(ctx context.Context, owner, repo, tag string) (bool, *refusal) {
	var parts []string
	for _, s := range strings.Split(tag, "/") {
		parts = append(parts, url.PathEscape(s))
	}
	var r struct {
		Ref string `json:"ref"`
	}
	status, err := a.do(ctx, http.MethodGet, a.restPrefix+repoPath(owner, repo)+"/git/ref/tags/"+strings.Join(parts, "/"), nil, &r)
	switch {
	case err == nil && status == http.StatusOK && r.Ref == "refs/tags/"+tag:
		return true, nil
	case err == nil && status == http.StatusNotFound:
		return false, nil
	}
	return false, lookupFailed(fmt.Sprintf("whether tag %q exists in %s/%s", trimForMessage(tag), owner, repo), status, err)
}

// releaseTag is a release's tag_name.
func (a apiClient) releaseTag(ctx context.Context, owner, repo, id string) (string, *refusal) {
	var r struct {
		TagName string `json:"tag_name"`
	}
	what := fmt.Sprintf("release %s of %s/%s", id, owner, repo)
	if !isNumber(id) {
		return "", refuseMalformed("%q is not a release id", trimForMessage(id))
	}
	status, err := a.do(ctx, http.MethodGet, a.restPrefix+repoPath(owner, repo)+"/releases/"+id, nil, &r)
	if err != nil || status/100 != 2 || r.TagName == "" {
		return "", lookupFailed(what, status, err)
	}
	return r.TagName, nil
}

// nodeInfo is what a node id names: a Ref's full name, or a pull
// request's base and head branch names.
type nodeInfo struct {
	typename   string
	ref        string // Ref: prefix + name
	base, head string // PullRequest
}

const nodeQuery = `query($id: ID!) { node(id: $id) { __typename ... on Ref { name prefix } ... on PullRequest { baseRefName headRefName } } }`

// node resolves a node id through GraphQL.
func (a apiClient) node(ctx context.Context, id string) (nodeInfo, *refusal) {
	body, _ := json.Marshal(map[string]any{"query": nodeQuery, "variables": map[string]any{"id": id}})
	var r struct {
		Data struct {
			Node *struct {
				Typename    string `json:"__typename"`
				Name        string `json:"name"`
				Prefix      string `json:"prefix"`
				BaseRefName string `json:"baseRefName"`
				HeadRefName string `json:"headRefName"`
			} `json:"node"`
		} `json:"data"`
	}
	what := fmt.Sprintf("node %q", trimForMessage(id))
	status, err := a.do(ctx, http.MethodPost, a.graphqlPath, body, &r)
	if err != nil || status/100 != 2 || r.Data.Node == nil {
		return nodeInfo{}, lookupFailed(what, status, err)
	}
	n := r.Data.Node
	return nodeInfo{typename: n.Typename, ref: n.Prefix + n.Name, base: n.BaseRefName, head: n.HeadRefName}, nil
}

// ttlCache holds a few strings for defaultTTL; when full it starts over.
type ttlCache struct {
	mu sync.Mutex
	m  map[string]ttlEntry
}

type ttlEntry struct {
	v  string
	at time.Time
}

func (c *ttlCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Since(e.at) > defaultTTL {
		return "", false
	}
	return e.v, true
}

func (c *ttlCache) put(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= cacheEntries {
		c.m = map[string]ttlEntry{}
	}
	c.m[k] = ttlEntry{v: v, at: time.Now()}
}

func (c *ttlCache) forget(k string) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
