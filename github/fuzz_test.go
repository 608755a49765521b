package github

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// These fuzz targets run their seed corpora with `go test`; fuzz them with
// `go test -run='^$' -fuzz='^FuzzX$' -fuzztime=20s ./github/` (or make fuzz).

// fuzzSeedKeys are keys of every kind ParsePrivateKey meets, made once per
// process.
var fuzzSeedKeys = sync.OnceValue(func() [][]byte {
	must := func(b []byte, err error) []byte {
		if err != nil {
			panic(err)
		}
		return b
	}
	k := testKey()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	p1 := pkcs1PEM(k)
	p8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(k))})
	return [][]byte{
		p1,
		p8,
		[]byte(base64.StdEncoding.EncodeToString(p1)),
		[]byte(base64.StdEncoding.EncodeToString(p8)),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(ec))}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: must(x509.MarshalECPrivateKey(ec))}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(ed))}),
		pkcs1PEM(small),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(k))}),
		append(append([]byte{}, p1...), "trailing"...),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&k.PublicKey))}),
	}
})

func FuzzParsePrivateKey(f *testing.F) {
	for _, seed := range fuzzSeedKeys() {
		f.Add(seed)
	}
	for _, s := range []string{"", " ", "-----BEGIN", "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n",
		"LS0tLS1CRUdJTg==", "not a key", "-----BEGIN RSA PRIVATE KEY-----\nMII=\n-----END RSA PRIVATE KEY-----\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKey(data)
		if err != nil {
			if key != nil {
				t.Fatal("a key returned with an error")
			}
			if err.Error() == "" || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error %q: empty or multi-line", err)
			}
			return
		}
		if key == nil {
			t.Fatal("no key and no error")
		}
		if bits := key.N.BitLen(); bits < MinKeyBits {
			t.Fatalf("accepted a %d-bit key", bits)
		}
		if err := key.Validate(); err != nil {
			t.Fatalf("accepted an inconsistent key: %v", err)
		}
		if fp := Fingerprint(&key.PublicKey); !strings.HasPrefix(fp, "SHA256:") {
			t.Fatalf("Fingerprint %q", fp)
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{
		`{"token":"ghs_16C7e42F292c6912E7710c838347Ae178B4a","expires_at":"2016-07-11T22:14:10Z","permissions":{"issues":"write","contents":"read"},"repository_selection":"selected","repositories":[{"id":1296269,"name":"Hello-World","full_name":"octocat/Hello-World","owner":{"login":"octocat"},"private":false}]}`,
		`{"token":"ghs_x","expires_at":"2030-01-01T00:00:00+05:30"}`,
		`{"token":"ghs_x"}`,
		`{"expires_at":"2030-01-01T00:00:00Z"}`,
		`{"token":"","expires_at":"2030-01-01T00:00:00Z"}`,
		`{"token":"ghs_x","expires_at":"0001-01-01T00:00:00Z"}`,
		`{"token":"ghs_x","expires_at":"2030-01-01T00:00:00Z","repositories":[]}`,
		`{"token":"ghs_x","expires_at":"2030-01-01T00:00:00Z","repositories":[{},{"name":"a"},{"name":null}]}`,
		`{"token":"ghs_x","expires_at":"2030-01-01T00:00:00Z","repositories":null,"permissions":null}`,
		`{"token":5}`, `null`, `[]`, `{}`, `"ghs_x"`, ``,
		// A stateless-size token (520 characters) and ids up to 2^53-1.
		`{"token":"` + statelessToken + `","expires_at":"2030-01-01T00:00:00Z","repository_selection":"selected","repositories":[{"id":9007199254740991,"name":"big"},{"id":812345001,"name":"widgets"}]}`,
	} {
		f.Add([]byte(s))
	}
	const endpoint = "POST /app/installations/{id}/access_tokens"
	f.Fuzz(func(t *testing.T, data []byte) {
		var tj tokenJSON
		if json.Unmarshal(data, &tj) != nil {
			return
		}
		tok, err := tj.token(endpoint)
		if err != nil {
			if tok != nil {
				t.Fatal("a token returned with an error")
			}
			if tj.Token != "" && !tj.ExpiresAt.IsZero() {
				t.Fatalf("refused an answer with a token and an expiry: %v", err)
			}
			// The message is fixed: it cannot carry the token.
			if want := endpoint + ": GitHub's answer had no token or no expires_at"; err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
			return
		}
		if tok.Token == "" || tok.Token != tj.Token {
			t.Fatalf("token %q from an answer with %q", tok.Token, tj.Token)
		}
		if tok.ExpiresAt.IsZero() || !tok.ExpiresAt.Equal(tj.ExpiresAt) || tok.ExpiresAt.Location() != time.UTC {
			t.Fatalf("ExpiresAt %v from %v", tok.ExpiresAt, tj.ExpiresAt)
		}
		if len(tj.Repositories) == 0 {
			if tok.Repositories != nil {
				t.Fatalf("repositories %q from an answer without", tok.Repositories)
			}
		} else {
			if len(tok.Repositories) != len(tj.Repositories) {
				t.Fatalf("%d repositories from %d", len(tok.Repositories), len(tj.Repositories))
			}
			for i, r := range tj.Repositories {
				if tok.Repositories[i] != r.Name {
					t.Fatalf("repository %d: %q, want the name %q", i, tok.Repositories[i], r.Name)
				}
			}
		}
		if tok.RepositorySelection != tj.RepositorySelection || len(tok.Permissions) != len(tj.Permissions) {
			t.Fatalf("token %+v from %+v", tok, tj)
		}
	})
}

func FuzzDecodeInstallation(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"account":{"login":"octocat","id":1,"type":"User"},"repository_selection":"all","app_id":1,"suspended_at":null}`,
		`{"id":41000001,"account":{"login":"acme","id":131000001,"type":"Organization"},"repository_selection":"selected","app_id":1001,"suspended_at":"2024-05-06T07:08:09Z","permissions":{"contents":"write"},"events":[]}`,
		`{"id":1,"suspended_at":"2024-05-06T07:08:09.123456789+02:00"}`,
		`{"id":-1,"account":null}`,
		`{"id":1e3}`, `{"id":"1"}`, `{"suspended_at":"yesterday"}`, `[]`, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in Installation
		if json.Unmarshal(data, &in) != nil {
			return
		}
		// What was decoded survives a round trip.
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", in, err)
		}
		var back Installation
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("decoding re-encoded %s: %v", out, err)
		}
		if back.ID != in.ID || back.Account != in.Account || back.RepositorySelection != in.RepositorySelection || back.AppID != in.AppID ||
			(back.SuspendedAt == nil) != (in.SuspendedAt == nil) ||
			(in.SuspendedAt != nil && !back.SuspendedAt.Equal(*in.SuspendedAt)) {
			t.Fatalf("round trip changed %+v into %+v", in, back)
		}
	})
}

// statelessToken is an installation token of the size of GitHub's
// stateless ones: "ghs_" and 516 characters.
var statelessToken = "ghs_" + strings.Repeat("Ab1Cd2Ef3G", 51) + "H4iJ5k"

// ghsLike finds installation-token-like sequences, as an attacker would
// look for them in an error message.
var ghsLike = regexp.MustCompile(`gh[pousr]_[A-Za-z0-9_]{10,}|github_pat_[A-Za-z0-9_]{10,}`)

func FuzzDecodeError(f *testing.F) {
	const tok = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
	for _, s := range []string{
		`{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`,
		`{"message":"token ` + tok + ` refused"}`,
		`{"message":"Not Found","documentation_url":"https://docs.github.com/rest?token=` + tok + `"}`,
		`{"message":"gh\u0073_16C7e42F292c6912E7710c838347Ae178B4a"}`,
		`{"message":"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2ln"}`,
		`{"message":"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"}`,
		`{"message":""}`, `{"message":5}`, `{"documentation_url":"` + tok + `"}`,
		"upstream failure with " + tok,
		"<html>" + tok + "</html>",
		strings.Repeat("x", 400) + tok,
		strings.Repeat("é", 200),
		"ghs_" + strings.Repeat("a", 296) + "ghs_" + strings.Repeat("b", 40),
		"", " ", "null", `"` + tok + `"`,
		`{"message":"This installation has been suspended","documentation_url":"https://docs.github.com/rest/reference/apps#create-an-installation-access-token-for-an-app","status":"403"}`,
		`{"message":"token ` + statelessToken + ` refused"}`,
		strings.Repeat("x", 250) + statelessToken,
		`{"message":"` + strings.Repeat("y", 280) + statelessToken + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, doc := decodeError(body)
		for name, out := range map[string]string{"message": msg, "documentation_url": doc} {
			if len(out) > 310 {
				t.Fatalf("%s is %d bytes: %q", name, len(out), out)
			}
			if m := secretLike.FindString(out); m != "" {
				t.Fatalf("%s %q holds secret-like %q", name, out, m)
			}
			if m := ghsLike.FindString(out); m != "" {
				t.Fatalf("%s %q holds token-like %q", name, out, m)
			}
			for _, m := range ghsLike.FindAllString(string(body), -1) {
				if strings.Contains(out, m) {
					t.Fatalf("%s %q holds the input's %q", name, out, m)
				}
			}
		}
		// APIError.Error() is built from the message only.
		e := newAPIError("GET /app", http.StatusBadRequest, http.Header{}, body, time.Now())
		if m := ghsLike.FindString(e.Error()); m != "" {
			t.Fatalf("Error() %q holds %q", e.Error(), m)
		}
	})
}

// roundTripFunc is an http.RoundTripper that never touches the network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func FuzzLinkNext(f *testing.F) {
	const base = "https://ghe.example.com/api/v3"
	for _, s := range []string{
		`<https://ghe.example.com/api/v3/app/installations?per_page=100&page=2>; rel="next", <https://ghe.example.com/api/v3/app/installations?per_page=100&page=3>; rel="last"`,
		`<https://ghe.example.com/api/v3/app/installations?page=1>; rel="prev", <https://ghe.example.com/api/v3/app/installations?page=3>; rel="next"`,
		`<https://evil.example/app/installations?page=2>; rel="next"`,
		`<https://ghe.example.com@evil.example/x>; rel="next"`,
		`<//evil.example/x>; rel=next`,
		`<http://ghe.example.com/x>; rel="next"`,
		`<HTTPS://GHE.EXAMPLE.COM/api/v3/x>; REL="NEXT"`,
		`<https://ghe.example.com:443/x>; rel="next"`,
		`<https://ghe.eXAmplE.Com#>;rel=neXt`,
		`</app/installations?page=2>; rel="next"`,
		`<https://ghe.example.com/a,b>; rel="next"`,
		`<https://ghe.public.example/api/v3/app/installations?per_page=100&page=2>; rel="next"`,
		`<https://ghe.example.com/api/v3/../../x>; rel="next"`,
		`<https://ghe.example.com/api/v3/%2e%2e/x>; rel="next"`,
		`<https://ghe.example.com/api/v3x/x>; rel="next"`,
		`<>; rel="next"`, `<; rel="next"`, `>; rel="next"`, `<<x>>; rel="next"`,
		`<https://ghe.example.com/x>; rel="prev next"`, `<https://ghe.example.com/x>; rel`, `<https://ghe.example.com/x>`,
		`;;,,<`, ``,
	} {
		f.Add(s)
	}
	var mu sync.Mutex
	var sentTo *url.URL
	c, err := New(Config{
		BaseURL: base,
		Retry:   RetryPolicy{MaxAttempts: 1},
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			sentTo = r.URL
			mu.Unlock()
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("[]")), Request: r}, nil
		})},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		next := linkNext(header)
		if next != "" && !strings.Contains(header, "<"+next+">") {
			t.Fatalf("linkNext(%q) = %q, not from inside <...>", header, next)
		}
		page, err := c.nextPage(header)
		if err != nil || page == "" {
			return
		}
		// The page is always on the configured scheme, host and path.
		if !strings.HasPrefix(page, base+"/") {
			t.Fatalf("nextPage %q (link %q) is not under %s/", page, next, base)
		}
		// Where would the next request go? Never off the API's host.
		mu.Lock()
		sentTo = nil
		mu.Unlock()
		_, _ = c.do(context.Background(), request{method: http.MethodGet, path: page, endpoint: "GET /app/installations", token: "t"}, nil)
		mu.Lock()
		defer mu.Unlock()
		// Host names are case-insensitive: ghe.EXAMPLE.com is the same host.
		if sentTo != nil && (sentTo.Scheme != "https" || !strings.EqualFold(sentTo.Host, "ghe.example.com")) {
			t.Fatalf("next link %q sent a request to %s", page, sentTo)
		}
	})
}
