package proxy

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestAuditLog: one JSON line per request with method, host, path without
// the query, status, bytes each way, duration and the engine's
// hashed_token; never the token, the client's Authorization or any other
// header value, nor the query.
func TestAuditLog(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.OtherHosts = OtherHostsTunnel })
	c := e.client()
	req, _ := http.NewRequest("POST", "https://api.github.com/repos/o/r/issues?secret_query=q-value-1234", strings.NewReader(`{"title":"t"}`))
	req.Header.Set("X-Custom", "header-value-5678")
	req.Header.Set("Cookie", "session=cookie-value-9012")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	e.do(c, "GET", "https://github.com/o/r.git/info/refs?service=git-upload-pack", nil)
	spoof(t, e, "api.github.com:443", "api.github.com", "evil.example", false)
	e.do(c, "GET", "http://api.github.com/x", nil)
	spoof(t, e, "evil.example:443", "evil.example", "evil.example", true)
	e.p.Close() // the tunnel's line is written when it ends

	logs := e.logs.String()
	for _, secret := range []string{e.token, basic(e.token)[6:], placeholder, "q-value-1234", "secret_query", "header-value-5678", "cookie-value-9012"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %.12q...", secret)
		}
	}
	type line struct {
		Msg         string  `json:"msg"`
		Method      string  `json:"method"`
		Host        string  `json:"host"`
		Path        string  `json:"path"`
		Status      int     `json:"status"`
		BytesIn     int64   `json:"bytes_in"`
		BytesOut    int64   `json:"bytes_out"`
		DurationMS  float64 `json:"duration_ms"`
		HashedToken string  `json:"hashed_token"`
		Refused     string  `json:"refused"`
		Tunnel      bool    `json:"tunnel"`
	}
	var lines []line
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if v.Msg == "request" {
			lines = append(lines, v)
		}
	}
	want := []line{
		{Method: "POST", Host: "api.github.com", Path: "/repos/o/r/issues", Status: 200, BytesIn: 13, BytesOut: int64(len("ok api.github.com/repos/o/r/issues")), HashedToken: hashToken(e.token)},
		{Method: "GET", Host: "github.com", Path: "/o/r.git/info/refs", Status: 200, BytesOut: int64(len("ok github.com/o/r.git/info/refs")), HashedToken: hashToken(e.token)},
		{Method: "GET", Host: "api.github.com", Path: "/user", Status: 421, Refused: reasonMisdirected,
			BytesOut: int64(len("github-token-proxy: refused: the request's Host \"evil.example\" is not the CONNECT target api.github.com; the token goes only where the connection goes\n"))},
		{Method: "GET", Host: "api.github.com", Path: "/x", Status: 403, Refused: reasonPlainHTTP,
			BytesOut: int64(len("github-token-proxy: refused: plain HTTP to api.github.com; use https:// (the token is sent only over TLS, inside CONNECT)\n"))},
		{Method: "CONNECT", Host: "evil.example", Status: 200, Tunnel: true},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d request lines, want %d:\n%s", len(lines), len(want), logs)
	}
	for i, w := range want {
		got := lines[i]
		if w.Tunnel {
			if got.BytesIn == 0 || got.BytesOut == 0 {
				t.Errorf("tunnel line without byte counts: %+v", got)
			}
			w.BytesIn, w.BytesOut = got.BytesIn, got.BytesOut
		}
		if got.DurationMS < 0 {
			t.Errorf("line %d: negative duration", i)
		}
		got.Msg, got.DurationMS = "", 0
		if got != w {
			t.Errorf("line %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
}

// TestMetrics: the Prometheus text on the metrics listener counts
// requests by host and status, tokens injected, refusals by reason,
// retries, waits and bytes.
func TestMetrics(t *testing.T) {
	e := newEnv(t, nil, nil)
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.p.ServeMetrics(ml)
	c := e.client()
	e.do(c, "GET", "https://api.github.com/user", nil)
	e.do(c, "POST", "https://github.com/o/r.git/git-upload-pack", strings.NewReader("0000"))
	e.do(c, "GET", "http://github.com/o/r", nil)
	spoof(t, e, "api.github.com:443", "api.github.com", "evil.example", false)

	resp, err := http.Get("http://" + ml.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`github_token_proxy_requests_total{host="api.github.com",status="200"} 1`,
		`github_token_proxy_requests_total{host="github.com",status="200"} 1`,
		`github_token_proxy_requests_total{host="github.com",status="403"} 1`,
		`github_token_proxy_requests_total{host="api.github.com",status="421"} 1`,
		`github_token_proxy_injected_total 2`,
		`github_token_proxy_refused_total{reason="host_mismatch"} 1`,
		`github_token_proxy_refused_total{reason="plain_http_to_configured_host"} 1`,
		`github_token_proxy_refused_total{reason="not_loopback"} 0`,
		`github_token_proxy_retries_on_401_total 0`,
		`github_token_proxy_waits_for_fresh_token_total 0`,
		`github_token_proxy_bytes_in_total 4`,
		"# TYPE github_token_proxy_bytes_out_total counter",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, e.token) {
		t.Error("the token is in the metrics")
	}
}
