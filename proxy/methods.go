package proxy

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// Requests the proxy never sends with the token, whatever the session's
// scope: a method GitHub's clients do not use (an upstream that echoes
// TRACE would hand the token back to the agent), a header that asks the
// server to read the request as another method, and the endpoint that
// revokes the session's own token.

// allowedMethods are the methods git, gh, curl and GitHub's REST and
// GraphQL APIs use.
var allowedMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

const allowHeader = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// methodOverrideHeaders ask a server to act on another method than the
// request's own; the proxy decides on the request's own method only.
var methodOverrideHeaders = []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// refusal is a decision not to send a request on.
type refusal struct {
	status      int
	reason, msg string
}

// checkRequest refuses a request to a configured host that the proxy
// never sends on with the token; nil lets it through to the next checks.
func checkRequest(r *http.Request) *refusal {
	if !allowedMethods[r.Method] {
		return &refusal{http.StatusMethodNotAllowed, reasonMethod, fmt.Sprintf(
			"github-token-proxy: refused: the method %.20q; the proxy sends only %s to GitHub", r.Method, allowHeader)}
	}
	for _, h := range methodOverrideHeaders {
		if _, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			return &refusal{http.StatusBadRequest, reasonMethod, fmt.Sprintf(
				"github-token-proxy: refused: the %s header; the proxy sends a request as its own method only", h)}
		}
	}
	if revokesToken(r.URL) {
		return &refusal{http.StatusForbidden, reasonRevoke, fmt.Sprintf(
			"github-token-proxy: refused: %s %s would revoke the session's token; the proxy holds it for the whole session, and Vault revokes it when the session ends", r.Method, r.URL.Path)}
	}
	return nil
}

// revokesToken reports whether u is GitHub's token revocation endpoint,
// DELETE /installation/token (on GitHub Enterprise Server under
// /api/v3), in any spelling a server might read as it: any letter case,
// percent-encoded once or more, doubled slashes, dot segments, a trailing
// slash or suffix. That endpoint has no other method, and no other
// endpoint's path starts so; every method is refused.
func revokesToken(u *url.URL) bool {
	p := u.EscapedPath()
	for range 4 { // %2574 is %74 is t
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		p = d
	}
	p = strings.ToLower(strings.ReplaceAll(p, `\`, "/"))
	p = path.Clean("/" + p)
	p = strings.TrimPrefix(p, "/api/v3")
	return strings.HasPrefix(p, "/installation/token")
}
