package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/branches"
)

// The session's write scope. When the credentials file carries
// "branches", every request that could write to GitHub is parsed (one
// parser per protocol: pktline.go, rest.go, graphql.go) into the refs it
// would write, as GitHub would write them, and decide checks those refs
// against the scope, once, before anything is sent upstream. Reads pass;
// writes that move no ref pass only from the lists in rest.go and
// graphql.go; everything else is refused with a message that names the
// rule and the branches the session may write. Without "branches",
// requests pass as they always did.

// scopeDocs is where a refusal points (documentation_url).
const scopeDocs = "https://github.com/ambient-code/vault-plugin-github-app/blob/main/docs/agent-isolation.md#the-sessions-write-scope"

// Inspection limits: the largest body read whole to find its refs, and
// the most bytes held for inspection across all requests at once.
const (
	inspectLimit  = 10 << 20
	inspectBudget = 64 << 20
	// pushDrainLimit bounds what is read and discarded of a refused
	// push's body so that git reads the answer.
	pushDrainLimit = 1 << 30
	// serialWait bounds the wait for another lookup-based write.
	serialWait = 30 * time.Second
)

// write is one ref a request would write, as GitHub would write it.
type write struct {
	ref string // a full ref name, e.g. refs/heads/x or refs/tags/v1
	how string // what writes it, for the message
}

// scopedRequest is a request parsed for the decision.
type scopedRequest struct {
	what     string  // "POST /repos/o/r/git/refs", "git push", "mutation createRef"
	unlisted string  // non-empty: a write on neither list, and why
	writes   []write // the refs it would write
	// lookups find refs only GitHub knows (the default branch, a pull
	// request's base, a node id's ref); they add to writes.
	lookups []lookup
	// serial: the request can change what a lookup finds (a deletion,
	// a rename, a pull request's new base).
	serial bool
}

type lookup func(context.Context) ([]write, *refusal)

// refusal is a decision against a request.
type refusal struct {
	status int // the HTTP status of a REST or GraphQL answer
	rule   string
	ref    string
	msg    string // what is wrong
	// graphql: answer with a GraphQL "errors" list too.
	graphql bool
}

func refuseMalformed(format string, args ...any) *refusal {
	return &refusal{status: http.StatusBadRequest, rule: ruleMalformed, msg: fmt.Sprintf(format, args...)}
}

// decide is the policy: a request is allowed when it is on a list and
// every ref it would write is a branch the scope names.
func decide(req scopedRequest, scope branches.Scope) *refusal {
	if req.unlisted != "" {
		return &refusal{status: http.StatusForbidden, rule: ruleNotListed,
			msg: req.what + " is not a write github-token-proxy lets a scoped session make: " + req.unlisted}
	}
	for _, w := range req.writes {
		b, ok := branches.BranchOfRef(w.ref)
		if !ok {
			return &refusal{status: http.StatusForbidden, rule: ruleNotBranch, ref: w.ref,
				msg: fmt.Sprintf("%s would write %q (%s), which is not a branch; a scoped session writes only refs/heads/<branch> with a valid branch name", req.what, trimForMessage(w.ref), w.how)}
		}
		if !scope.Allows(b) {
			return &refusal{status: http.StatusForbidden, rule: ruleOutOfScope, ref: w.ref,
				msg: fmt.Sprintf("%s would write branch %q (%s), which is outside this session's write scope", req.what, trimForMessage(b), w.how)}
		}
	}
	return nil
}

// scopeSentence tells the agent what it may write.
func scopeSentence(s branches.Scope) string {
	pats := s.Patterns()
	if len(pats) == 0 {
		return "This session may write no branch."
	}
	return "This session may write only branches matching: " + strings.Join(pats, ", ") + " ('*' matches within one '/'-separated part)."
}

// credKey carries the credential the decision used to the injector, so
// that the token sent is the one of the scope checked.
type credKey struct{}

func credentialOf(ctx context.Context) (credential, bool) {
	c, ok := ctx.Value(credKey{}).(credential)
	return c, ok
}

// scopeState is what enforcement holds across requests; its zero value
// is ready.
type scopeState struct {
	budget   budget
	serial   serialLock
	defaults ttlCache
}

// serveGitHub sends a request to a configured host with the token, after
// the write-scope check when the credential carries a scope.
func (p *Proxy) serveGitHub(w http.ResponseWriter, r *http.Request, target string, rec *record) {
	ctx := context.WithValue(r.Context(), recordKey{}, rec)
	r = r.WithContext(ctx)
	cred, err := p.tokens.get(ctx, "")
	if err != nil {
		p.upstreamError(w, r, err)
		return
	}
	r = r.WithContext(context.WithValue(ctx, credKey{}, cred))
	if cred.scope == nil {
		p.inject.ServeHTTP(w, r)
		return
	}
	if ref := readOnly(r); ref != nil {
		p.refuseScoped(w, r, rec, ref, *cred.scope, nil)
		return
	} else if isRead(r.Method) {
		p.inject.ServeHTTP(w, r)
		return
	}
	p.enforce(w, r, target, cred, rec)
}

func isRead(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// readOnly refuses what would make a read write: a method override, or
// a GraphQL document in a GET's query string.
func readOnly(r *http.Request) *refusal {
	for _, h := range []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"} {
		if _, ok := r.Header[h]; ok {
			return refuseMalformed("%s %s carries %s; send the method itself", r.Method, r.URL.Path, h)
		}
	}
	if r.URL.Query().Has("_method") {
		return refuseMalformed("%s %s carries a _method parameter; send the method itself", r.Method, r.URL.Path)
	}
	if isRead(r.Method) && strings.HasSuffix(strings.ToLower(r.URL.Path), "/graphql") && r.URL.RawQuery != "" {
		return refuseMalformed("GraphQL is POST only here; send the document in a POST body")
	}
	return nil
}

// enforce parses a write, decides, and refuses or forwards it.
func (p *Proxy) enforce(w http.ResponseWriter, r *http.Request, target string, cred credential, rec *record) {
	ep, ref := parseEndpoint(target, r.URL.EscapedPath())
	if ref != nil {
		p.refuseScoped(w, r, rec, ref, *cred.scope, nil)
		return
	}
	switch ep.kind {
	case epPush:
		p.enforcePush(w, r, cred, rec)
	case epGraphQL:
		if r.URL.RawQuery != "" {
			// A server that merges query parameters into the body's
			// (operationName, variables) would run what the body does
			// not say.
			p.refuseScoped(w, r, rec, refuseMalformed("GraphQL: %s %s has a query string; send the document, operationName and variables in the JSON body only", r.Method, r.URL.Path), *cred.scope, nil)
			return
		}
		p.enforceBody(w, r, cred, rec, func(body []byte) ([]scopedRequest, *refusal) {
			return p.parseGraphQL(ep, cred, body)
		}, true)
	case epREST:
		route, ref := matchREST(r.Method, ep, r.URL.RawQuery)
		if ref != nil {
			p.refuseScoped(w, r, rec, ref, *cred.scope, nil)
			return
		}
		if route.noRef {
			p.inject.ServeHTTP(w, r) // on the list of writes that move no ref: the body is not read
			return
		}
		if route.unlisted != "" {
			p.refuseScoped(w, r, rec, decide(scopedRequest{what: r.Method + " " + r.URL.Path, unlisted: route.unlisted}, *cred.scope), *cred.scope, nil)
			return
		}
		p.enforceBody(w, r, cred, rec, func(body []byte) ([]scopedRequest, *refusal) {
			return p.parseREST(r.Method+" "+r.URL.Path, ep, route, cred, body)
		}, false)
	default:
		if ep.noRef {
			p.inject.ServeHTTP(w, r)
			return
		}
		p.refuseScoped(w, r, rec, decide(scopedRequest{what: r.Method + " " + r.URL.Path, unlisted: ep.unlisted}, *cred.scope), *cred.scope, nil)
	}
}

// enforceBody reads a body whole (bounded), parses it into requests,
// resolves their lookups, decides each and forwards the body unchanged
// when all pass. Requests with lookups, and those that can change a
// lookup's answer, run one at a time from the lookup through GitHub's
// answer.
func (p *Proxy) enforceBody(w http.ResponseWriter, r *http.Request, cred credential, rec *record,
	parse func([]byte) ([]scopedRequest, *refusal), graphql bool) {
	scope := *cred.scope
	refuse := func(ref *refusal) {
		ref.graphql = graphql
		p.refuseScoped(w, r, rec, ref, scope, nil)
	}
	if ref := plainBody(r); ref != nil {
		refuse(ref)
		return
	}
	body, release, ref := p.readBody(r)
	if ref != nil {
		refuse(ref)
		return
	}
	defer release()
	reqs, ref := parse(body)
	if ref != nil {
		refuse(ref)
		return
	}
	serial := false
	for _, req := range reqs {
		serial = serial || req.serial || len(req.lookups) > 0
	}
	if serial {
		unlock, ok := p.scope.serial.lock(r.Context())
		if !ok {
			refuse(&refusal{status: http.StatusServiceUnavailable, rule: ruleLookup, msg: "another write whose refs depend on a lookup held github-token-proxy for " + serialWait.String() + "; retry"})
			return
		}
		defer unlock()
	}
	for i := range reqs {
		for _, look := range reqs[i].lookups {
			ws, ref := look(r.Context())
			if ref != nil {
				refuse(ref)
				return
			}
			reqs[i].writes = append(reqs[i].writes, ws...)
		}
	}
	for _, req := range reqs {
		if ref := decide(req, scope); ref != nil {
			refuse(ref)
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	p.inject.ServeHTTP(w, r)
}

// plainBody refuses a body the proxy would read differently from GitHub:
// one with a Content-Encoding.
func plainBody(r *http.Request) *refusal {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return refuseMalformed("%s %s has Content-Encoding %q; github-token-proxy checks only plain bodies", r.Method, r.URL.Path, trimForMessage(ce))
	}
	return nil
}

// enforcePush reads a push's command section, decides on its refs and
// answers in git's report-status, or sends the command section and the
// rest of the body (the pack) on as a stream.
func (p *Proxy) enforcePush(w http.ResponseWriter, r *http.Request, cred credential, rec *record) {
	scope := *cred.scope
	if ref := plainBody(r); ref != nil {
		ref.msg += " (git never compresses a push)"
		p.refuseScoped(w, r, rec, ref, scope, nil)
		return
	}
	if !p.scope.budget.take(pushCommandLimit) {
		p.refuseScoped(w, r, rec, busy(), scope, nil)
		return
	}
	defer p.scope.budget.give(pushCommandLimit)
	push, err := readPush(r.Body)
	if err != nil {
		ref := refuseMalformed("git push: %v", err)
		if err == errPushTooLarge {
			ref = &refusal{status: http.StatusRequestEntityTooLarge, rule: ruleTooLarge, msg: "git push: " + err.Error() + fmt.Sprintf(" (%d MiB); push fewer refs at once", pushCommandLimit>>20)}
		}
		p.refuseScoped(w, r, rec, ref, scope, &push)
		return
	}
	req := scopedRequest{what: "git push"}
	deletes := false
	for _, c := range push.commands {
		how := "update"
		switch {
		case isZeroOID(c.old):
			how = "create"
		case isZeroOID(c.new):
			how, deletes = "delete", true
		}
		req.writes = append(req.writes, write{ref: c.ref, how: how})
	}
	if ref := decide(req, scope); ref != nil {
		p.refuseScoped(w, r, rec, ref, scope, &push)
		return
	}
	if deletes {
		// A deletion can change what a lookup-based write decided on
		// (GitHub retargets pull requests whose base goes away).
		unlock, ok := p.scope.serial.lock(r.Context())
		if !ok {
			p.refuseScoped(w, r, rec, &refusal{status: http.StatusServiceUnavailable, rule: ruleLookup, msg: "git push: another write whose refs depend on a lookup held github-token-proxy for " + serialWait.String() + "; retry"}, scope, &push)
			return
		}
		defer unlock()
	}
	r.Body = &prefixedBody{Reader: io.MultiReader(bytes.NewReader(push.prefix), r.Body), c: r.Body}
	p.inject.ServeHTTP(w, r)
}

type prefixedBody struct {
	io.Reader
	c io.Closer
}

func (b *prefixedBody) Close() error { return b.c.Close() }

func busy() *refusal {
	return &refusal{status: http.StatusServiceUnavailable, rule: ruleTooLarge,
		msg: fmt.Sprintf("github-token-proxy holds %d MiB of request bodies for inspection already; retry", inspectBudget>>20)}
}

// refuseScoped answers a refusal in the form the client reads: git's
// report-status for a push whose commands were read, GitHub's JSON error
// for REST, and for GraphQL its error list (a scope refusal with 200, as
// GitHub answers FORBIDDEN); it logs and counts it.
func (p *Proxy) refuseScoped(w http.ResponseWriter, r *http.Request, rec *record, ref *refusal, scope branches.Scope, push *pushRequest) {
	p.metrics.refuse(ref.rule)
	rec.refuse(ref.rule, trimForMessage(ref.ref))
	msg := "github-token-proxy: refused: " + ref.msg + " (rule " + ref.rule + "). " + scopeSentence(scope)
	if push != nil {
		// Let git finish sending, so that it reads the answer.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, pushDrainLimit))
		if len(push.commands) > 0 {
			writeReportStatus(w, *push, msg)
			return
		}
	}
	body := map[string]any{"message": msg, "documentation_url": scopeDocs}
	status := ref.status
	if ref.graphql {
		body["errors"] = []map[string]any{{"type": "FORBIDDEN", "message": msg}}
		if status == http.StatusForbidden {
			// As GitHub answers a mutation its token may not run: 200,
			// no data, a FORBIDDEN error. GraphQL clients (gh pr merge's
			// among them) print the message as an error; a 403 they
			// print as a quoted body.
			body["data"] = nil
			status = http.StatusOK
		}
	}
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// readBody reads a body whole for inspection: at most inspectLimit
// bytes, counted against the proxy-wide budget until release.
func (p *Proxy) readBody(r *http.Request) ([]byte, func(), *refusal) {
	tooLarge := &refusal{status: http.StatusRequestEntityTooLarge, rule: ruleTooLarge,
		msg: fmt.Sprintf("%s %s has a body over %d MiB, more than github-token-proxy inspects for the refs it writes", r.Method, r.URL.Path, inspectLimit>>20)}
	if r.ContentLength > inspectLimit {
		return nil, nil, tooLarge
	}
	held := int64(0)
	release := func() { p.scope.budget.give(held) }
	grow := func(n int64) bool {
		if !p.scope.budget.take(n) {
			return false
		}
		held += n
		return true
	}
	var buf []byte
	if r.ContentLength > 0 {
		if !grow(r.ContentLength) {
			return nil, nil, busy()
		}
		buf = make([]byte, 0, r.ContentLength)
	}
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(chunk)
		if int64(len(buf)+n) > inspectLimit {
			release()
			return nil, nil, tooLarge
		}
		if need := int64(len(buf)+n) - held; need > 0 && !grow(max(need, 64<<10)) {
			release()
			return nil, nil, busy()
		}
		buf = append(buf, chunk[:n]...)
		if err == io.EOF {
			return buf, release, nil
		}
		if err != nil {
			release()
			return nil, nil, refuseMalformed("%s %s: reading the body: %v", r.Method, r.URL.Path, err)
		}
	}
}

// budget counts bytes held for inspection across requests.
type budget struct {
	mu   sync.Mutex
	held int64
}

func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held+n > inspectBudget {
		return false
	}
	b.held += n
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.held -= n
	b.mu.Unlock()
}

// serialLock runs lookup-based writes and the writes that can change a
// lookup's answer one at a time; a wait is bounded.
type serialLock struct {
	once sync.Once
	ch   chan struct{}
}

func (l *serialLock) lock(ctx context.Context) (func(), bool) {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	t := time.NewTimer(serialWait)
	defer t.Stop()
	select {
	case l.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-l.ch }) }, true
	case <-ctx.Done():
		return nil, false
	case <-t.C:
		return nil, false
	}
}
