package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Small leaks (issue 22 item 14).

// TestMalformedCredentialsSayNotValid: a credentials file that is not
// JSON is a 503 that says so without quoting any of it (the JSON parser's
// message names a character of the file); the detail, without file
// content, goes to the proxy's own log.
func TestMalformedCredentialsSayNotValid(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Wait = 100 * time.Millisecond })
	c := e.client()
	for name, content := range map[string]string{
		"a stray character": `{"token": "` + e.token + `"Q, "validUntil": 4102444800}`,
		"not JSON at all":   "token=" + e.token,
		"a number as token": `{"token": 12345, "validUntil": 4102444800}`,
	} {
		if err := os.WriteFile(e.credentials, []byte(content), 0o440); err != nil {
			t.Fatal(err)
		}
		status, body := e.do(c, "GET", "https://api.github.com/user", nil)
		want := "github-token-proxy: no usable token: " + e.credentials + " is not valid JSON of the shape credentials.json.ctmpl renders (the proxy's log says where); none arrived in 100ms\n"
		if status != http.StatusServiceUnavailable || body != want {
			t.Errorf("%s: %d %q, want 503 %q", name, status, body, want)
		}
		for _, leak := range []string{"'Q'", "'t'", "invalid character", "12345"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the 503 holds %q", name, leak)
			}
		}
	}
	logs := e.logs.String()
	for _, want := range []string{`"msg":"the credentials file is not valid"`, `"offset":`, `"field":"token"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
	for _, leak := range []string{"'Q'", "invalid character", "12345"} {
		if strings.Contains(logs, leak) {
			t.Errorf("the log holds %q, a piece of the file", leak)
		}
	}
	noTokenIn(t, "the log", logs, e.token)
}

// TestValidUntilPlausible: validUntil is unix seconds of a time near now.
// One in milliseconds (a date thousands of years ahead) would disable the
// margin; one before 2020 is not a lease end either. Both are refused with
// a message that says what the field must be; a value an hour ahead is
// used.
func TestValidUntilPlausible(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Wait = 100 * time.Millisecond })
	c := e.client()
	write := func(validUntil int64) {
		data := fmt.Sprintf(`{"token": %q, "validUntil": %d}`, e.token, validUntil)
		if err := os.WriteFile(e.credentials, []byte(data), 0o440); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		validUntil int64
		want       string
	}{
		"milliseconds": {time.Now().Add(time.Hour).UnixMilli(), "more than a day ahead"},
		"nanoseconds":  {time.Now().Add(time.Hour).UnixNano(), "more than a day ahead"},
		"a duration":   {3300, "before 2020"},
	} {
		write(tc.validUntil)
		status, body := e.do(c, "GET", "https://api.github.com/user", nil)
		want := fmt.Sprintf("github-token-proxy: no usable token: %s has a \"validUntil\" %s: want the unix time in seconds when Vault revokes the token; none arrived in 100ms\n", e.credentials, tc.want)
		if status != http.StatusServiceUnavailable || body != want {
			t.Errorf("%s: %d %q, want 503 %q", name, status, body, want)
		}
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("%d requests went out with an implausible validUntil", n)
	}
	write(time.Now().Add(time.Hour).Unix())
	if status, body := e.do(c, "GET", "https://api.github.com/user", nil); status != 200 {
		t.Errorf("an hour ahead: %d %q", status, body)
	}
}

// TestRefusalClosesConnection: a refusal inside a terminated connection
// (a 421 here) closes it: the client cannot keep a connection that only
// gets refusals, and a misdirected connection is not reused for more.
func TestRefusalClosesConnection(t *testing.T) {
	e := newEnv(t, nil, nil)
	conn, br, status := rawConnect(t, e.addr, "api.github.com:443")
	if !strings.HasPrefix(status, "200") {
		t.Fatal(status)
	}
	tc := tls.Client(&bufferedConn{Conn: conn, r: br}, &tls.Config{ServerName: "api.github.com", RootCAs: e.caPool()})
	defer tc.Close()
	r := bufio.NewReader(tc)
	fmt.Fprintf(tc, "GET /user HTTP/1.1\r\nHost: evil.example\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest || !resp.Close {
		t.Errorf("got %d, Connection: close %v; want 421 and the connection closed", resp.StatusCode, resp.Close)
	}
	// A second request on it finds the connection closed.
	fmt.Fprintf(tc, "GET /user HTTP/1.1\r\nHost: api.github.com\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(r, nil); err == nil {
		t.Errorf("the connection served another request after a 421: %d", resp.StatusCode)
	}
	if n := len(e.github.requests()); n != 0 {
		t.Errorf("%d requests reached GitHub", n)
	}
}
