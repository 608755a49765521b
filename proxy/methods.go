package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// Requests the proxy never sends with the token, whatever the session's
// scope: a method GitHub's clients do not use (an upstream that echoes
// TRACE would hand the token back to the agent), and the endpoint that
// revokes the session's own token. (A header or parameter asking the
// server to read the request as another method is refused where the
// method decides something: under a write scope, scope.go's readOnly.)

// allowedMethods are the methods git, gh, curl and GitHub's REST and
// GraphQL APIs use.
var allowedMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

const allowHeader = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// checkRefusal is checkRequest's decision not to send a request on.
type checkRefusal struct {
	status      int
	reason, msg string
}

// checkRequest refuses a request to a configured host that the proxy
// never sends on with the token; nil lets it through to the next checks.
// The refusal is GitHub's JSON error shape except on git's paths (gh
// prints its message; git prints a text body).
func checkRequest(r *http.Request) *checkRefusal {
	if !allowedMethods[r.Method] {
		return &checkRefusal{http.StatusMethodNotAllowed, reasonMethod, fmt.Sprintf(
			"github-token-proxy: refused: the method %.20q; the proxy sends only %s to GitHub", r.Method, allowHeader)}
	}
	if revokesToken(r.URL) {
		return &checkRefusal{http.StatusForbidden, reasonRevoke, fmt.Sprintf(
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

// isoDocs is where checkRequest's refusals point (documentation_url).
const isoDocs = "https://github.com/ambient-code/vault-plugin-github-app/blob/main/docs/agent-isolation.md#how-the-proxy-decides"

// refuseRequest answers checkRequest's refusal: GitHub's JSON error shape
// for the API, text for git; it logs and counts it.
func (p *Proxy) refuseRequest(w http.ResponseWriter, r *http.Request, rec *record, f *checkRefusal) {
	if f.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", allowHeader)
	}
	if isGitPath(r.URL.Path) {
		p.deny(w, rec, f.status, f.reason, f.msg)
		return
	}
	p.metrics.refuse(f.reason)
	rec.refuse(f.reason, "")
	data, _ := json.Marshal(map[string]string{"message": f.msg, "documentation_url": isoDocs})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(f.status)
	_, _ = w.Write(data)
}
