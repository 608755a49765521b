package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	zero1 = "0000000000000000000000000000000000000000"
	oidA  = "aa218f56b14c9653891f9e74264a383fa43fefbd"
	oidB  = "b5d2f8e1c3a4b6d7e8f9a0b1c2d3e4f5a6b7c8d9"
)

// pkt is one pkt-line.
func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// pushBody is a push's body: commands (the first with caps), a flush and
// a pack stand-in.
func pushBody(caps string, cmds ...string) []byte {
	var b strings.Builder
	for i, c := range cmds {
		if i == 0 {
			c += "\x00" + caps
		}
		b.WriteString(pkt(c + "\n"))
	}
	b.WriteString("0000")
	b.WriteString("PACK\x00\x00\x00\x02\x00\x00\x00\x00pack-bytes")
	return []byte(b.String())
}

func TestReadPush(t *testing.T) {
	oid256 := strings.Repeat("ab", 32)
	for name, c := range map[string]struct {
		body     string
		refs     []string
		sideband int
		err      string
	}{
		"probe":                     {body: "0000", refs: nil},
		"one":                       {body: string(pushBody(" report-status side-band-64k", oidA+" "+oidB+" refs/heads/x")), refs: []string{"refs/heads/x"}, sideband: 65520},
		"side-band":                 {body: string(pushBody(" report-status side-band", oidA+" "+oidB+" refs/heads/x")), refs: []string{"refs/heads/x"}, sideband: 1000},
		"no newline":                {body: pkt(oidA+" "+oidB+" refs/heads/x\x00 report-status") + "0000", refs: []string{"refs/heads/x"}},
		"several":                   {body: string(pushBody(" report-status atomic", zero1+" "+oidB+" refs/heads/new", oidA+" "+zero1+" refs/heads/gone", oidA+" "+oidB+" refs/tags/v1")), refs: []string{"refs/heads/new", "refs/heads/gone", "refs/tags/v1"}},
		"shallow":                   {body: pkt("shallow "+oidA+"\n") + string(pushBody(" report-status", oidA+" "+oidB+" refs/heads/x")), refs: []string{"refs/heads/x"}},
		"shallow only":              {body: pkt("shallow "+oidA+"\n") + "0000", refs: nil},
		"upper-case hex":            {body: "00" + strings.ToUpper(fmt.Sprintf("%02x", len(oidA+" "+oidB+" refs/heads/x\n")+4)) + oidA + " " + oidB + " refs/heads/x\n0000", refs: []string{"refs/heads/x"}},
		"sha256":                    {body: string(pushBody(" report-status object-format=sha256", oid256+" "+oid256+" refs/heads/x")), refs: []string{"refs/heads/x"}},
		"ref with space":            {body: string(pushBody(" report-status", oidA+" "+oidB+" refs/heads/a b")), refs: []string{"refs/heads/a b"}},
		"sha1 ids, sha256 declared": {body: string(pushBody(" object-format=sha256", oidA+" "+oidB+" refs/heads/x")), err: "is not"},
		"short id":                  {body: string(pushBody("", oidA[:39]+" "+oidB+" refs/heads/x")), err: "is not"},
		"no ref":                    {body: string(pushBody("", oidA+" "+oidB+" ")), err: "is not"},
		"empty":                     {body: "", err: "ends before"},
		"no flush":                  {body: pkt(oidA + " " + oidB + " refs/heads/x\n"), err: "ends before"},
		"lying length":              {body: "0fff" + oidA + " " + oidB + " refs/heads/x\n0000", err: "ends inside a pkt-line"},
		"too long":                  {body: "fff5" + strings.Repeat("x", 100), err: "largest is 65520"},
		"not hex":                   {body: "00zz", err: "not 4 hex digits"},
		"delim":                     {body: pkt(oidA+" "+oidB+" refs/heads/x\n") + "0001" + pkt(oidA+" "+oidB+" refs/heads/main\n") + "0000", err: "0001 packet"},
		"response end":              {body: "0002", err: "0002 packet"},
		"length 3":                  {body: "0003", err: "0003 packet"},
		"empty line":                {body: "0004" + "0000", err: "is not"},
		"push-cert":                 {body: pkt("push-cert\x00 report-status\n") + pkt("certificate version 0.1\n") + "0000", err: "push-cert"},
		"probe and more":            {body: "0000" + pkt(oidA+" "+oidB+" refs/heads/main\n") + "0000", err: "after an empty command list"},
		"ERR":                       {body: pkt("ERR nope\n") + "0000", err: "is not"},
		"unknown format":            {body: string(pushBody(" object-format=md5", oidA+" "+oidB+" refs/heads/x")), err: "object format"},
	} {
		req, err := readPush(strings.NewReader(c.body))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error with %q", name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var refs []string
		for _, cmd := range req.commands {
			refs = append(refs, cmd.ref)
		}
		if strings.Join(refs, ",") != strings.Join(c.refs, ",") || req.sideband != c.sideband {
			t.Errorf("%s: refs %q sideband %d; want %q %d", name, refs, req.sideband, c.refs, c.sideband)
		}
		if !strings.HasPrefix(c.body, string(req.prefix)) {
			t.Errorf("%s: the prefix is not the body's start", name)
		}
	}
	// Never more than the command-section bound is held.
	huge := strings.Repeat(pkt(oidA+" "+oidB+" refs/heads/"+strings.Repeat("x", 60000)+"\n"), 20)
	if _, err := readPush(strings.NewReader(huge)); err != errPushTooLarge {
		t.Errorf("a 1.2 MB command section: %v", err)
	}
}

// TestReportStatus: the refusal's shape, plain and side-band wrapped.
func TestReportStatus(t *testing.T) {
	req := pushRequest{commands: []pushCommand{{ref: "refs/heads/main"}, {ref: "refs/heads/agent/x"}}}
	want := pkt("unpack ok\n") + pkt("ng refs/heads/main why\n") + pkt("ng refs/heads/agent/x why\n") + "0000"
	if got := string(reportStatus(req, "why")); got != want {
		t.Errorf("plain: %q", got)
	}
	req.sideband = 65520
	if got := string(reportStatus(req, "why")); got != fmt.Sprintf("%04x\x01", len(want)+5)+want+"0000" {
		t.Errorf("side-band-64k: %q", got)
	}
	req.sideband = 1000
	long := strings.Repeat("r", 1500)
	got := reportStatus(req, long)
	// Demultiplex: band-1 packets of at most 1000 bytes, then a flush.
	var inner bytes.Buffer
	rest := got
	for {
		n, _ := pktLength([4]byte(rest[:4]))
		if n == 0 {
			rest = rest[4:]
			break
		}
		if n > 1000 || rest[4] != 1 {
			t.Fatalf("side-band packet of %d bytes, band %d", n, rest[4])
		}
		inner.Write(rest[5:n])
		rest = rest[n:]
	}
	if len(rest) != 0 || !strings.HasPrefix(inner.String(), pkt("unpack ok\n")+pkt("ng refs/heads/main "+long+"\n")) {
		t.Errorf("side-band: %q", inner.String())
	}
}

// TestPushThroughProxy: a push inside the scope reaches GitHub byte for
// byte; one outside is answered with report-status and never reaches it.
func TestPushThroughProxy(t *testing.T) {
	e := scopedEnv(t, testScope)
	url := "https://github.com/o/r.git/git-receive-pack"
	post := func(body []byte, hdr map[string]string, chunked bool) (int, string, http.Header) {
		var rd io.Reader = bytes.NewReader(body)
		if chunked {
			rd = io.MultiReader(bytes.NewReader(body)) // unsized: sent chunked
		}
		req, _ := http.NewRequest("POST", url, rd)
		req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	allowed := map[string][]byte{
		"create":            pushBody(" report-status side-band-64k", zero1+" "+oidB+" refs/heads/agent/x"),
		"force update":      pushBody(" report-status", oidA+" "+oidB+" refs/heads/agent/x"),
		"delete":            pushBody(" report-status", oidA+" "+zero1+" refs/heads/agent/old"),
		"several":           pushBody(" report-status atomic", oidA+" "+oidB+" refs/heads/agent/x", zero1+" "+oidB+" refs/heads/docs-fix"),
		"probe":             []byte("0000"),
		"push options":      []byte(pkt(oidA+" "+oidB+" refs/heads/agent/x\x00 report-status push-options\n") + "0000" + pkt("ci.skip\n") + "0000PACK..."),
		"with a large pack": append(pushBody(" report-status", oidA+" "+oidB+" refs/heads/agent/x"), bytes.Repeat([]byte("p"), 900<<10)...),
	}
	for name, body := range allowed {
		for _, chunked := range []bool{false, true} {
			status, _, _ := post(body, nil, chunked)
			if status != 200 || !e.reached("POST", "/o/r.git/git-receive-pack", body) {
				t.Errorf("%s (chunked %v): %d, reached upstream byte for byte: %v", name, chunked, status, e.reached("POST", "/o/r.git/git-receive-pack", body))
			}
		}
	}
	refused := []struct {
		name, caps string
		cmds       []string
		rule       string
	}{
		{"main", " report-status side-band-64k", []string{oidA + " " + oidB + " refs/heads/main"}, ruleOutOfScope},
		{"a tag", " report-status", []string{zero1 + " " + oidB + " refs/tags/v1"}, ruleNotBranch},
		{"one of two", " report-status atomic", []string{oidA + " " + oidB + " refs/heads/agent/x", oidA + " " + zero1 + " refs/heads/users-work"}, ruleOutOfScope},
		{"notes", " report-status", []string{oidA + " " + oidB + " refs/notes/commits"}, ruleNotBranch},
		{"../main", " report-status", []string{oidA + " " + oidB + " refs/heads/agent/../main"}, ruleNotBranch},
		{"HEAD", " report-status", []string{oidA + " " + oidB + " HEAD"}, ruleNotBranch},
		{"main.lock", " report-status", []string{oidA + " " + oidB + " refs/heads/agent/main.lock"}, ruleNotBranch},
	}
	before := len(e.github.requests())
	for _, c := range refused {
		body := pushBody(c.caps, c.cmds...)
		status, got, hdr := post(body, nil, false)
		if status != 200 || hdr.Get("Content-Type") != "application/x-git-receive-pack-result" {
			t.Errorf("%s: %d %s", c.name, status, hdr.Get("Content-Type"))
		}
		report := got
		if strings.Contains(c.caps, "side-band") {
			if report[4] != 1 || !strings.HasSuffix(report, "0000") {
				t.Fatalf("%s: not band-1 wrapped: %q", c.name, got)
			}
			report = report[5 : len(report)-4]
		}
		if !strings.HasPrefix(report, pkt("unpack ok\n")) || !strings.HasSuffix(report, "0000") {
			t.Errorf("%s: %q", c.name, report)
		}
		for _, cmd := range c.cmds {
			ref := cmd[82:]
			if !strings.Contains(report, "ng "+ref+" github-token-proxy: refused: git push would write") || !strings.Contains(report, "(rule "+c.rule+")") {
				t.Errorf("%s: no ng line for %s with rule %s: %q", c.name, ref, c.rule, report)
			}
		}
		if l := e.lineFor("POST", "/o/r.git/git-receive-pack"); l["refused"] != c.rule {
			t.Errorf("%s: audit refused=%v", c.name, l["refused"])
		}
	}
	for name, c := range map[string]struct {
		body []byte
		hdr  map[string]string
		msg  string
	}{
		"gzip":      {pushBody(" report-status", oidA+" "+oidB+" refs/heads/agent/x"), map[string]string{"Content-Encoding": "gzip"}, "git never compresses a push"},
		"lying":     {[]byte("0fff" + oidA + " " + oidB + " refs/heads/agent/x\n0000"), nil, "its length says more than it holds"},
		"push-cert": {[]byte(pkt("push-cert\x00 report-status\n") + pkt("certificate version 0.1\n") + pkt(oidA+" "+oidB+" refs/heads/main\n") + pkt("push-cert-end\n") + "0000"), nil, "push-cert"},
		"delim":     {[]byte(pkt(oidA+" "+oidB+" refs/heads/agent/x\x00 report-status\n") + "0001" + pkt(oidA+" "+oidB+" refs/heads/main\n") + "0000"), nil, "0001 packet"},
	} {
		status, got, _ := post(c.body, c.hdr, false)
		if !strings.Contains(got, c.msg) || (status != 200 && status != 400) {
			t.Errorf("%s: %d %q", name, status, got)
		}
	}
	if n := len(e.github.requests()) - before; n != 0 {
		t.Errorf("%d refused pushes reached GitHub", n)
	}
}
