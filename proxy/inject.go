package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// The injection rule: which Authorization a request to a configured host
// gets, and the one retry after a 401.

// replayLimit is the largest request body kept in memory so that the
// request can be sent again after a 401. Larger or unsized bodies stream
// and are never re-sent.
const replayLimit = 64 << 10

// isGitPath reports whether path is git's smart HTTP protocol or Git LFS,
// which take the token as basic auth with the user x-access-token. Every
// other request (REST, GraphQL, uploads) takes it as a bearer token.
func isGitPath(path string) bool {
	return strings.HasSuffix(path, "/info/refs") ||
		strings.HasSuffix(path, "/git-upload-pack") ||
		strings.HasSuffix(path, "/git-receive-pack") ||
		strings.Contains(path, ".git/info/lfs/") || strings.HasSuffix(path, ".git/info/lfs")
}

// authorization is the header value carrying token for a request to path.
func authorization(path, token string) string {
	if isGitPath(path) {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	}
	return "Bearer " + token
}

// injector is the Transport of the reverse proxy for configured hosts: it
// sets the current token on each request and, after a 401 on a request it
// can replay, sends it once more with a fresh token from the file.
type injector struct {
	tokens  *tokenSource
	base    http.RoundTripper
	metrics *metrics
	replay  *gate // bytes of request bodies kept for a replay, all requests
}

func (t *injector) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := recordOf(req.Context())
	cred, decided := credentialOf(req.Context()) // the credential whose scope was checked
	if !decided {
		var err error
		if cred, err = t.tokens.get(req.Context(), ""); err != nil {
			return nil, err
		}
	}
	replayable, release, err := makeReplayable(req, t.replay)
	if err != nil {
		return nil, err
	}
	defer release()
	resp, err := t.base.RoundTrip(withToken(req, cred))
	rec.injected(cred.hash)
	t.metrics.injected.Add(1)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable {
		return resp, err
	}
	fresh, ok := t.afterUnauthorized(req.Context(), cred, resp)
	if !ok {
		// GitHub's own 401 stands: the client sees what GitHub said. A
		// fresh token with another write scope is not used for a request
		// decided under the old one.
		return resp, nil
	}
	retry := withToken(req, fresh)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	t.metrics.retries401.Add(1)
	rec.retried = true
	resp, err = t.base.RoundTrip(retry)
	rec.injected(fresh.hash)
	t.metrics.injected.Add(1)
	return resp, err
}

// afterUnauthorized decides what follows GitHub's 401 to a request sent
// with refused: a different token with the same write scope (a request
// decided under one scope is not sent under another) to send it again
// with, at once if the file already holds one; or, only when Agent's next render is due, the
// one it renders within the wait. A token with time left and no other in
// the file means GitHub's answer is about the request (an endpoint that
// takes only an App JWT, such as GET /app), not the token: the 401 goes
// back at once. ok false leaves resp for the client, its body intact; ok
// true has consumed and closed it. While waiting, GitHub's connection is
// not held: the 401's (small) body is read first, the connection goes back
// to the pool, and the body is kept for the client in case none comes.
func (t *injector) afterUnauthorized(ctx context.Context, refused credential, resp *http.Response) (credential, bool) {
	cur, err := t.tokens.read()
	if err == nil && cur.token != refused.token && time.Until(cur.validUntil) >= t.tokens.margin && sameScope(cur, refused) {
		_, _ = io.CopyN(io.Discard, resp.Body, replayLimit) // lets the connection be reused; errors only cost that
		resp.Body.Close()
		return cur, true
	}
	if !renderDue(t.tokens, refused, err) {
		return credential{}, false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, replayLimit+1))
	if err != nil || len(body) > replayLimit {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return credential{}, false
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	fresh, err := t.tokens.get(ctx, refused.token)
	if err != nil || !sameScope(fresh, refused) {
		return credential{}, false
	}
	return fresh, true
}

// renderDue reports whether Agent should render a new token within the
// source's wait: the refused token has less than the margin and the wait
// left (Agent re-reads well before that, so it is late and retrying), or
// the file holds no valid token now (being replaced, or broken).
func renderDue(s *tokenSource, refused credential, fileErr error) bool {
	return fileErr != nil || time.Until(refused.validUntil) < s.margin+s.wait
}

type readCloser struct {
	io.Reader
	io.Closer
}

// withToken is a copy of req with the token's Authorization.
func withToken(req *http.Request, c credential) *http.Request {
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", authorization(req.URL.Path, c.token))
	return out
}

// makeReplayable buffers a small body of known length so that req can be
// sent twice, within the budget of bodies kept at once, and reports
// whether it can be; release gives the bytes back to the budget.
func makeReplayable(req *http.Request, budget *gate) (ok bool, release func(), err error) {
	nothing := func() {}
	if req.Body == nil || req.Body == http.NoBody {
		return true, nothing, nil
	}
	n := req.ContentLength
	if n <= 0 || n > replayLimit || !budget.acquireN(n) {
		return false, nothing, nil
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(req.Body, buf); err != nil {
		budget.releaseN(n)
		return false, nothing, errors.Join(errors.New("reading the request body"), err)
	}
	req.Body.Close()
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	req.Body, _ = req.GetBody()
	return true, func() { budget.releaseN(n) }, nil
}

// recordKey carries the request's audit record to the transport.
type recordKey struct{}

func recordOf(ctx context.Context) *record {
	if r, ok := ctx.Value(recordKey{}).(*record); ok {
		return r
	}
	return &record{}
}
