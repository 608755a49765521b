package proxy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ambient-code/vault-plugin-github-app/github/branches"
)

// FuzzReadPush: the push parser never panics, holds only what it read
// (a prefix of the body, within the bound), and every command it returns
// has ids of one length and a ref.
func FuzzReadPush(f *testing.F) {
	f.Add([]byte("0000"))
	f.Add(pushBody(" report-status side-band-64k", oidA+" "+oidB+" refs/heads/main"))
	f.Add([]byte(pkt("shallow "+oidA+"\n") + pkt(zero1+" "+oidB+" refs/heads/x\x00 object-format=sha1\n") + "0000PACK"))
	f.Add([]byte("0fff" + oidA))
	f.Add([]byte(pkt("push-cert\x00 x\n") + "0000"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := readPush(bytes.NewReader(body))
		if !bytes.HasPrefix(body, req.prefix) || len(req.prefix) > pushCommandLimit+4 {
			t.Fatalf("prefix of %d bytes is not the body's start", len(req.prefix))
		}
		if err != nil {
			return
		}
		for _, c := range req.commands {
			if c.ref == "" || len(c.old) != len(c.new) || (len(c.old) != 40 && len(c.old) != 64) {
				t.Fatalf("bad command %+v", c)
			}
		}
		if len(req.commands) == 0 && len(req.prefix) != len(body) {
			t.Fatalf("a push of no command with %d bytes after it", len(body)-len(req.prefix))
		}
		reportStatus(req, "reason")
	})
}

// FuzzDecodePath: a decoded path never has a segment that holds '/' or
// '%', or is empty, '.' or '..'; and a route it matches names a ref only
// when a ref route matched.
func FuzzDecodePath(f *testing.F) {
	for _, s := range []string{"/repos/o/r/git/refs/heads/main", "/repos/o/r/git/refs/heads%2Fmain", "/REPOS/o/r/contents/a/../b", "/api/v3/repos/o/r/merges", "/repos/o/r/branches/a/b/rename"} {
		f.Add(s, "PATCH")
	}
	f.Fuzz(func(t *testing.T, path, method string) {
		ep, ref := parseEndpoint("api.github.com", path)
		if ref != nil {
			return
		}
		for _, s := range ep.segs {
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/%") {
				t.Fatalf("segment %q of %q", s, path)
			}
		}
		route, ref := matchREST(method, ep, "")
		if ref == nil && route.noRef && route.kind != refNone {
			t.Fatalf("%s %q is both listed and a ref route", method, path)
		}
	})
}

// FuzzGraphQL: the GraphQL parser never panics, and a request it lets
// through with no lookup writes only branches the scope names.
func FuzzGraphQL(f *testing.F) {
	f.Add(gql(createMain, nil, ""))
	f.Add(gql(`mutation { ...M } fragment M on Mutation { createRef(input: {name: "refs/heads/agent/x"}) { x } }`, nil, ""))
	f.Add(`[` + gql(`query { viewer { login } }`, nil, "") + `]`)
	f.Add(gql(`mutation($n: String = "refs/heads/main") { createRef(input: {name: $n}) { x } }`, map[string]any{"n": "refs/heads/agent/y"}, ""))
	scope, _ := branches.ParseScope(testScope)
	p := &Proxy{}
	f.Fuzz(func(t *testing.T, body string) {
		reqs, ref := p.parseGraphQL(endpoint{host: "api.github.com", graphqlPath: "/graphql"}, credential{}, []byte(body))
		if ref != nil {
			return
		}
		for _, r := range reqs {
			if decide(r, scope) != nil || len(r.lookups) > 0 {
				continue
			}
			for _, w := range r.writes {
				b, ok := branches.BranchOfRef(w.ref)
				if !ok || !scope.Allows(b) {
					t.Fatalf("allowed a write of %q", w.ref)
				}
			}
		}
	})
}

// FuzzDecodeJSON: the body decoder never panics; what it accepts,
// encoding/json accepts too.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"ref":"refs/heads/x","B":[1,{"c":null}]}`, `[]`, `"x"`, "{\"a\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeJSON(data)
		if err != nil {
			return
		}
		if _, ok := v.(map[string]any); ok && !bytes.Contains(data, []byte("{")) {
			t.Fatalf("an object from %q", data)
		}
	})
}
