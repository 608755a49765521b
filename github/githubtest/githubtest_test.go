package githubtest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

// testKey is shared by the servers of these tests: generating a 2048-bit key
// per test would dominate the run time.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newServer(t *testing.T, opts ...githubtest.Option) *githubtest.Server {
	t.Helper()
	return githubtest.NewT(t, append([]githubtest.Option{githubtest.WithKey(testKey())}, opts...)...)
}

// signJWT signs claims with method and key.
func signJWT(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goodClaims are the claims a well-behaved client sends: iat backdated 60s,
// exp 9 minutes ahead.
func goodClaims(iss any) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": iss, "iat": now.Add(-60 * time.Second).Unix(), "exp": now.Add(9 * time.Minute).Unix()}
}

func appJWT(t *testing.T, s *githubtest.Server) string {
	return signJWT(t, jwt.SigningMethodRS256, s.Key, goodClaims(s.AppID))
}

type response struct {
	*http.Response
	body []byte
}

// json decodes the body into v.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// message is the "message" field of a GitHub error body.
func (r response) message(t *testing.T) string {
	t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	r.json(t, &e)
	return e.Message
}

// do sends a request to url with auth as the Authorization header (if not
// empty) and the headers GitHub expects. body is sent as is if a string, as
// JSON otherwise.
func do(t *testing.T, method, url, auth string, body any) response {
	t.Helper()
	r, err := send(method, url, auth, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do for goroutines other than the test's.
func send(method, url, auth string, body any) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("User-Agent", "githubtest-test")
	req.Header.Set("Accept", "application/vnd.github+json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return response{resp, raw}, err
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}

type tokenAnswer struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
	Repositories        []struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		FullName string `json:"full_name"`
		Owner    struct {
			Login string `json:"login"`
		} `json:"owner"`
	} `json:"repositories"`
}

// mint asks for a token for installation id with body and wants status.
func mint(t *testing.T, s *githubtest.Server, id int64, body any, status int) response {
	t.Helper()
	r := do(t, http.MethodPost, fmt.Sprintf("%s/app/installations/%d/access_tokens", s.URL, id), "Bearer "+appJWT(t, s), body)
	wantStatus(t, r, status)
	return r
}

func TestJWTStrictness(t *testing.T) {
	s := newServer(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	acme := s.AddInstallation("acme", "Organization", "widgets")
	var tok tokenAnswer
	mint(t, s, acme.ID, nil, http.StatusCreated).json(t, &tok)

	// Each case builds its Authorization header when it runs, so that the
	// claims are relative to the time of the request.
	rs256 := func(claims func(now int64) jwt.MapClaims) func() string {
		return func() string { return "Bearer " + signJWT(t, jwt.SigningMethodRS256, s.Key, claims(time.Now().Unix())) }
	}
	valid := func(scheme string, iss any) func() string {
		return func() string { return scheme + " " + signJWT(t, jwt.SigningMethodRS256, s.Key, goodClaims(iss)) }
	}
	fixed := func(auth string) func() string { return func() string { return auth } }
	tests := []struct {
		name   string
		auth   func() string
		status int
		msg    string
	}{
		{"app id as number", valid("Bearer", s.AppID), 200, ""},
		{"app id as string", valid("Bearer", strconv.FormatInt(s.AppID, 10)), 200, ""},
		{"client id", valid("Bearer", s.ClientID), 200, ""},
		{"lower-case scheme", valid("bearer", s.AppID), 200, ""},
		{"exactly 600s", rs256(func(now int64) jwt.MapClaims {
			return jwt.MapClaims{"iss": s.AppID, "iat": now, "exp": now + 600}
		}), 200, ""},
		{"no authorization", fixed(""), 401, "Requires authentication"},
		{"token scheme", valid("token", s.AppID), 401, "Requires authentication"},
		{"installation token", fixed("Bearer " + tok.Token), 401, "A JSON web token could not be decoded"},
		{"garbage", fixed("Bearer not.a.jwt"), 401, "A JSON web token could not be decoded"},
		{"wrong key", func() string {
			return "Bearer " + signJWT(t, jwt.SigningMethodRS256, otherKey, goodClaims(s.AppID))
		}, 401, "A JSON web token could not be decoded"},
		{"HS256 keyed with the public key", func() string {
			return "Bearer " + signJWT(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&s.Key.PublicKey), goodClaims(s.AppID))
		}, 401, "A JSON web token could not be decoded"},
		{"none", func() string {
			return "Bearer " + signJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims(s.AppID))
		}, 401, "A JSON web token could not be decoded"},
		{"RS512", func() string {
			return "Bearer " + signJWT(t, jwt.SigningMethodRS512, s.Key, goodClaims(s.AppID))
		}, 401, "A JSON web token could not be decoded"},
		{"wrong iss", valid("Bearer", s.AppID+1), 401, "Integration not found"},
		{"missing iss", rs256(func(now int64) jwt.MapClaims {
			return jwt.MapClaims{"iat": now, "exp": now + 60}
		}), 401, "Integration not found"},
		{"exp - iat > 600", rs256(func(now int64) jwt.MapClaims {
			return jwt.MapClaims{"iss": s.AppID, "iat": now - 120, "exp": now + 500}
		}), 401, "'Expiration time' claim ('exp') is too far in the future"},
		{"iat in the future", rs256(func(now int64) jwt.MapClaims {
			return jwt.MapClaims{"iss": s.AppID, "iat": now + 30, "exp": now + 300}
		}), 401, "'Issued at' claim ('iat') must be an Integer representing a time in the past"},
		{"iat missing", rs256(func(now int64) jwt.MapClaims {
			return jwt.MapClaims{"iss": s.AppID, "exp": now + 300}
		}), 401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"},
		{"iat as string", rs256(func(now int64) jwt.MapClaims {
			return jwt.MapClaims{"iss": s.AppID, "iat": strconv.FormatInt(now, 10), "exp": now + 300}
		}), 401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"},
		{"expired", rs256(func(now int64) jwt.MapClaims {
			return jwt.MapClaims{"iss": s.AppID, "iat": now - 700, "exp": now - 100}
		}), 401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"},
		{"exp missing", rs256(func(now int64) jwt.MapClaims {
			return jwt.MapClaims{"iss": s.AppID, "iat": now}
		}), 401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodGet, s.URL+"/app", tc.auth(), nil)
			wantStatus(t, r, tc.status)
			if tc.msg != "" {
				if got := r.message(t); got != tc.msg {
					t.Errorf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}

	// Only validly signed JWTs are recorded, each once.
	for _, seen := range s.JWTsSeen() {
		if _, err := jwt.Parse(seen, func(*jwt.Token) (any, error) { return &s.Key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation()); err != nil {
			t.Errorf("JWTsSeen holds a JWT without a valid signature: %v", err)
		}
	}
	before := len(s.JWTsSeen())
	claims := goodClaims(s.AppID)
	claims["jti"] = "fresh" // differ from every JWT sent so far
	j := signJWT(t, jwt.SigningMethodRS256, s.Key, claims)
	do(t, http.MethodGet, s.URL+"/app", "Bearer "+j, nil)
	do(t, http.MethodGet, s.URL+"/app", "Bearer "+j, nil)
	if got := s.JWTsSeen(); len(got) != before+1 || got[len(got)-1] != j {
		t.Errorf("JWTsSeen grew from %d to %d, want one more ending with the new JWT", before, len(got))
	}
}

func TestCommonHeaders(t *testing.T) {
	s := newServer(t)
	var remaining []int
	for range 3 {
		r := do(t, http.MethodGet, s.URL+"/app", "Bearer "+appJWT(t, s), nil)
		wantStatus(t, r, http.StatusOK)
		for h, want := range map[string]string{
			"Content-Type":                  "application/json; charset=utf-8",
			"X-GitHub-Api-Version-Selected": "2022-11-28",
			"X-RateLimit-Limit":             "5000",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset <= time.Now().Unix() {
			t.Errorf("X-RateLimit-Reset = %q, want a future unix time", r.Header.Get("X-RateLimit-Reset"))
		}
		n, err := strconv.Atoi(r.Header.Get("X-RateLimit-Remaining"))
		if err != nil {
			t.Fatal(err)
		}
		remaining = append(remaining, n)
	}
	if remaining[0] != 4999 || remaining[1] != 4998 || remaining[2] != 4997 {
		t.Errorf("X-RateLimit-Remaining went %v, want 4999, 4998, 4997", remaining)
	}
	if calls := s.Calls(); len(calls) != 3 || calls[0].Accept != "application/vnd.github+json" || calls[0].UserAgent != "githubtest-test" {
		t.Errorf("calls %+v: want 3 with Accept and User-Agent recorded", calls)
	}
}

func TestGetApp(t *testing.T) {
	s := newServer(t, githubtest.WithAppID(4242), githubtest.WithClientID("Iv23.abc"), githubtest.WithSlug("my-app"))
	s.AddInstallation("acme", "Organization")
	s.AddInstallation("octo", "User")
	var app struct {
		ID                 int64  `json:"id"`
		Slug               string `json:"slug"`
		ClientID           string `json:"client_id"`
		NodeID             string `json:"node_id"`
		InstallationsCount int    `json:"installations_count"`
		Owner              struct {
			Login string `json:"login"`
		} `json:"owner"`
	}
	r := do(t, http.MethodGet, s.URL+"/app", "Bearer "+signJWT(t, jwt.SigningMethodRS256, s.Key, goodClaims("Iv23.abc")), nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &app)
	if app.ID != 4242 || app.Slug != "my-app" || app.ClientID != "Iv23.abc" || app.NodeID == "" ||
		app.InstallationsCount != 2 || app.Owner.Login == "" {
		t.Errorf("GET /app = %+v", app)
	}
}

// parseLinks parses a Link header into rel → URL.
func parseLinks(t *testing.T, header string) map[string]string {
	t.Helper()
	links := map[string]string{}
	if header == "" {
		return links
	}
	re := regexp.MustCompile(`^<([^>]+)>; rel="([a-z]+)"$`)
	for _, part := range strings.Split(header, ", ") {
		m := re.FindStringSubmatch(part)
		if m == nil {
			t.Fatalf("malformed Link part %q in %q", part, header)
		}
		links[m[2]] = m[1]
	}
	return links
}

func TestListInstallationsPagination(t *testing.T) {
	s := newServer(t)
	for i := range 75 {
		s.AddInstallation(fmt.Sprintf("org-%02d", i), "Organization", "repo")
	}
	auth := "Bearer " + appJWT(t, s)
	endpoint := s.URL + "/app/installations"

	r := do(t, http.MethodGet, endpoint+"?per_page=30", auth, nil)
	wantStatus(t, r, http.StatusOK)
	want := fmt.Sprintf(`<%[1]s?per_page=30&page=2>; rel="next", <%[1]s?per_page=30&page=3>; rel="last"`, endpoint)
	if got := r.Header.Get("Link"); got != want {
		t.Errorf("page 1 Link:\n got %s\nwant %s", got, want)
	}

	r = do(t, http.MethodGet, endpoint+"?per_page=30&page=2", auth, nil)
	want = fmt.Sprintf(`<%[1]s?per_page=30&page=1>; rel="prev", <%[1]s?per_page=30&page=3>; rel="next", `+
		`<%[1]s?per_page=30&page=3>; rel="last", <%[1]s?per_page=30&page=1>; rel="first"`, endpoint)
	if got := r.Header.Get("Link"); got != want {
		t.Errorf("page 2 Link:\n got %s\nwant %s", got, want)
	}

	// Follow rel="next" from the first page, as a client does.
	seen := map[int64]int{}
	pages := 0
	for next := endpoint + "?per_page=30"; next != ""; next = parseLinks(t, r.Header.Get("Link"))["next"] {
		r = do(t, http.MethodGet, next, auth, nil)
		wantStatus(t, r, http.StatusOK)
		var items []struct {
			ID      int64 `json:"id"`
			AppID   int64 `json:"app_id"`
			Account struct {
				Login string `json:"login"`
				Type  string `json:"type"`
			} `json:"account"`
			AccessTokensURL     string `json:"access_tokens_url"`
			RepositorySelection string `json:"repository_selection"`
		}
		r.json(t, &items)
		pages++
		if want := []int{30, 30, 15}[min(pages, 3)-1]; len(items) != want {
			t.Errorf("page %d has %d items, want %d", pages, len(items), want)
		}
		for _, it := range items {
			seen[it.ID]++
			if it.AppID != s.AppID || it.Account.Type != "Organization" || it.RepositorySelection != "selected" ||
				it.AccessTokensURL != fmt.Sprintf("%s/app/installations/%d/access_tokens", s.URL, it.ID) {
				t.Errorf("installation %+v", it)
			}
		}
	}
	if pages != 3 || len(seen) != 75 {
		t.Errorf("read %d pages, %d installations; want 3 and 75", pages, len(seen))
	}
	for id := githubtest.FirstInstallationID; id < githubtest.FirstInstallationID+75; id++ {
		if seen[id] != 1 {
			t.Errorf("installation %d seen %d times", id, seen[id])
		}
	}
	if links := parseLinks(t, r.Header.Get("Link")); links["prev"] == "" || links["first"] == "" || links["last"] != "" {
		t.Errorf("last page links %v: want prev and first only", links)
	}

	// Defaults and caps: 30 per page without per_page (and no per_page in
	// the links), at most 100, one page → no Link.
	r = do(t, http.MethodGet, endpoint, auth, nil)
	if got, want := parseLinks(t, r.Header.Get("Link"))["next"], endpoint+"?page=2"; got != want {
		t.Errorf("default next link %q, want %q", got, want)
	}
	var items []json.RawMessage
	r.json(t, &items)
	if len(items) != 30 {
		t.Errorf("default page size %d, want 30", len(items))
	}
	r = do(t, http.MethodGet, endpoint+"?per_page=500", auth, nil)
	r.json(t, &items)
	if len(items) != 75 || r.Header.Get("Link") != "" {
		t.Errorf("per_page=500: %d items, Link %q; want all 75 and no Link", len(items), r.Header.Get("Link"))
	}
	for _, page := range []string{"9", "9223372036854775807"} {
		r = do(t, http.MethodGet, endpoint+"?page="+page, auth, nil)
		wantStatus(t, r, http.StatusOK)
		if strings.TrimSpace(string(r.body)) != "[]" {
			t.Errorf("page %s, past the end: %s, want []", page, r.body)
		}
	}
}

func TestInstallationLookups(t *testing.T) {
	s := newServer(t)
	acme := s.AddInstallation("Acme", "Organization", "Widgets", "gadgets").ID
	octo := s.AddInstallation("octo", "User", "dotfiles").ID
	auth := "Bearer " + appJWT(t, s)
	tests := []struct {
		path   string
		status int
		id     int64
	}{
		{fmt.Sprintf("/app/installations/%d", acme), 200, acme},
		{fmt.Sprintf("/app/installations/%d", octo), 200, octo},
		{fmt.Sprintf("/app/installations/%d", octo+1), 404, 0},
		{"/app/installations/999", 404, 0},
		{"/app/installations/abc", 404, 0},
		{"/orgs/acme/installation", 200, acme},
		{"/orgs/ACME/installation", 200, acme},
		{"/orgs/octo/installation", 404, 0}, // a user, not an organization
		{"/orgs/nobody/installation", 404, 0},
		{"/users/OCTO/installation", 200, octo},
		{"/users/acme/installation", 200, acme}, // /users names organizations too
		{"/users/nobody/installation", 404, 0},
		{"/repos/acme/widgets/installation", 200, acme},
		{"/repos/aCmE/WIDGETS/installation", 200, acme},
		{"/repos/octo/dotfiles/installation", 200, octo},
		{"/repos/acme/dotfiles/installation", 404, 0},
		{"/repos/nobody/widgets/installation", 404, 0},
	}
	for _, tc := range tests {
		r := do(t, http.MethodGet, s.URL+tc.path, auth, nil)
		if r.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d (%s)", tc.path, r.StatusCode, tc.status, r.body)
			continue
		}
		if tc.status == 404 {
			if msg := r.message(t); msg != "Not Found" {
				t.Errorf("GET %s: message %q", tc.path, msg)
			}
			continue
		}
		var in struct {
			ID      int64 `json:"id"`
			Account struct {
				Login string `json:"login"`
			} `json:"account"`
		}
		r.json(t, &in)
		if in.ID != tc.id || (tc.id == acme && in.Account.Login != "Acme") {
			t.Errorf("GET %s: %+v, want id %d (login case preserved)", tc.path, in, tc.id)
		}
	}
	// Lookups need the App JWT.
	wantStatus(t, do(t, http.MethodGet, s.URL+"/orgs/acme/installation", "", nil), http.StatusUnauthorized)
}

func TestMintToken(t *testing.T) {
	s := newServer(t)
	acme := s.AddInstallation("acme", "Organization", "widgets", "gadgets", "tools")
	other := s.AddInstallation("other", "Organization", "secret")
	if acme.ID != githubtest.FirstInstallationID || other.ID != acme.ID+1 ||
		acme.Repositories[0].ID != githubtest.FirstRepositoryID || other.Repositories[0].ID != acme.Repositories[2].ID+1 {
		t.Fatalf("ids not deterministic: %+v %+v", acme, other)
	}

	t.Run("whole installation", func(t *testing.T) {
		before := time.Now()
		var tok tokenAnswer
		r := mint(t, s, acme.ID, nil, http.StatusCreated)
		r.json(t, &tok)
		if !regexp.MustCompile(`^ghs_[A-Za-z0-9]{516}$`).MatchString(tok.Token) || len(tok.Token) != githubtest.TokenLength {
			t.Errorf("token of %d characters is not ghs_ and 516 alphanumerics", len(tok.Token))
		}
		exp, err := time.Parse(time.RFC3339, tok.ExpiresAt)
		if err != nil || !strings.HasSuffix(tok.ExpiresAt, "Z") || strings.Contains(tok.ExpiresAt, ".") {
			t.Fatalf("expires_at %q is not RFC 3339 UTC to the second", tok.ExpiresAt)
		}
		if d := exp.Sub(before); d < time.Hour-time.Second || d > time.Hour+2*time.Second {
			t.Errorf("expires_at is %v after the request, want about 1h", d)
		}
		if tok.RepositorySelection != "selected" || len(tok.Permissions) != 6 || tok.Permissions["contents"] != "write" {
			t.Errorf("answer %+v", tok)
		}
		if strings.Contains(string(r.body), `"repositories"`) {
			t.Errorf("answer lists repositories though none were requested: %s", r.body)
		}
		got, ok := s.LookupToken(tok.Token)
		if !ok || got.InstallationID != acme.ID || !got.ExpiresAt.Equal(exp) || len(got.Repositories) != 0 || !got.Live(time.Now()) {
			t.Errorf("recorded token %+v", got)
		}
	})

	t.Run("narrowed", func(t *testing.T) {
		var tok tokenAnswer
		r := mint(t, s, acme.ID, map[string]any{
			"repositories":   []string{"WIDGETS"},
			"repository_ids": []int64{acme.Repositories[2].ID},
			"permissions":    map[string]string{"contents": "read", "issues": "write"},
		}, http.StatusCreated)
		r.json(t, &tok)
		if tok.RepositorySelection != "selected" || len(tok.Repositories) != 2 ||
			tok.Repositories[0].FullName != "acme/widgets" || tok.Repositories[0].ID != acme.Repositories[0].ID ||
			tok.Repositories[1].Name != "tools" || tok.Repositories[1].Owner.Login != "acme" {
			t.Errorf("answer %s", r.body)
		}
		if len(tok.Permissions) != 2 || tok.Permissions["contents"] != "read" {
			t.Errorf("permissions %v", tok.Permissions)
		}
		// The repository objects are GitHub's full ones.
		var raw struct {
			Repositories []map[string]any `json:"repositories"`
		}
		r.json(t, &raw)
		if n := len(raw.Repositories[0]); n < 70 {
			t.Errorf("repository object has %d fields, want GitHub's bulk (70+)", n)
		}
		got, _ := s.LookupToken(tok.Token)
		if strings.Join(got.Repositories, ",") != "widgets,tools" || got.Permissions["contents"] != "read" {
			t.Errorf("recorded token %+v", got)
		}
	})

	t.Run("lifetime", func(t *testing.T) {
		s.SetTokenLifetime(10 * time.Minute)
		defer s.SetTokenLifetime(time.Hour)
		var tok tokenAnswer
		mint(t, s, acme.ID, "", http.StatusCreated).json(t, &tok)
		exp, _ := time.Parse(time.RFC3339, tok.ExpiresAt)
		if d := time.Until(exp); d < 9*time.Minute || d > 10*time.Minute {
			t.Errorf("expires in %v, want 10m", d)
		}
	})

	many := make([]string, 501)
	for i := range many {
		many[i] = "widgets"
	}
	refusals := []struct {
		name   string
		id     int64
		body   any
		status int
		msg    string
	}{
		{"unknown installation", 999, nil, 404, "Not Found"},
		{"foreign repository", acme.ID, map[string]any{"repositories": []string{"secret"}}, 422,
			"There is at least one repository that does not exist or is not accessible to the parent installation."},
		{"unknown repository", acme.ID, map[string]any{"repositories": []string{"widgets", "nope"}}, 422,
			"There is at least one repository that does not exist or is not accessible to the parent installation."},
		{"foreign repository id", acme.ID, map[string]any{"repository_ids": []int64{other.Repositories[0].ID}}, 422,
			"There is at least one repository that does not exist or is not accessible to the parent installation."},
		{"full name", acme.ID, map[string]any{"repositories": []string{"acme/widgets"}}, 422,
			"There is at least one repository that does not exist or is not accessible to the parent installation."},
		{"permission not granted", acme.ID, map[string]any{"permissions": map[string]string{"administration": "read"}}, 422,
			"The permissions requested are not granted to this installation."},
		{"level above grant", acme.ID, map[string]any{"permissions": map[string]string{"metadata": "write"}}, 422,
			"The permissions requested are not granted to this installation."},
		{"admin above write", acme.ID, map[string]any{"permissions": map[string]string{"contents": "admin"}}, 422,
			"The permissions requested are not granted to this installation."},
		{"invalid level", acme.ID, map[string]any{"permissions": map[string]string{"contents": "none"}}, 422, ""},
		{"more than 500 repositories", acme.ID, map[string]any{"repositories": many}, 422, ""},
		{"wrong type", acme.ID, `{"repositories":"widgets"}`, 422, ""},
		{"invalid JSON", acme.ID, `{"repositories":`, 400, "Problems parsing JSON"},
	}
	before := len(s.Tokens())
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := mint(t, s, tc.id, tc.body, tc.status)
			var e struct {
				Message string `json:"message"`
				DocURL  string `json:"documentation_url"`
				Status  string `json:"status"`
			}
			r.json(t, &e)
			if (tc.msg != "" && e.Message != tc.msg) || e.Message == "" ||
				!strings.HasPrefix(e.DocURL, "https://docs.github.com/rest") || e.Status != strconv.Itoa(tc.status) {
				t.Errorf("error body %s", r.body)
			}
		})
	}
	if n := len(s.Tokens()); n != before {
		t.Errorf("%d tokens minted by refused requests", n-before)
	}
}

func TestRevoke(t *testing.T) {
	s := newServer(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	revoke := func(auth string) response {
		return do(t, http.MethodDelete, s.URL+"/installation/token", auth, nil)
	}
	newToken := func() string {
		var tok tokenAnswer
		mint(t, s, in.ID, nil, http.StatusCreated).json(t, &tok)
		return tok.Token
	}

	tok := newToken()
	wantStatus(t, revoke("Bearer "+tok), http.StatusNoContent)
	if got, _ := s.LookupToken(tok); got.RevokedAt.IsZero() || got.Live(time.Now()) {
		t.Errorf("token not marked revoked: %+v", got)
	}
	r := revoke("Bearer " + tok)
	wantStatus(t, r, http.StatusUnauthorized)
	if msg := r.message(t); msg != "Bad credentials" {
		t.Errorf("second revoke: %q", msg)
	}
	wantStatus(t, revoke("token "+newToken()), http.StatusNoContent)
	wantStatus(t, revoke("Bearer ghs_unknownunknownunknownunknownunknow"), http.StatusUnauthorized)
	wantStatus(t, revoke(""), http.StatusUnauthorized)

	// An expired token cannot be revoked.
	s.SetTokenLifetime(0)
	expired := newToken()
	s.SetTokenLifetime(time.Hour)
	wantStatus(t, revoke("Bearer "+expired), http.StatusUnauthorized)

	// Injected revoke failures leave the token live.
	live := newToken()
	s.SetRevokeStatus(http.StatusInternalServerError)
	wantStatus(t, revoke("Bearer "+live), http.StatusInternalServerError)
	if got, _ := s.LookupToken(live); !got.Live(time.Now()) {
		t.Error("failed revoke revoked the token")
	}
	s.SetRevokeStatus(0)
	wantStatus(t, revoke("Bearer "+live), http.StatusNoContent)

	// Uninstalling the App kills the installation's tokens.
	live = newToken()
	if n := len(s.LiveTokens()); n != 1 {
		t.Fatalf("%d live tokens, want 1", n)
	}
	s.RemoveInstallation(in.ID)
	if n := len(s.LiveTokens()); n != 0 {
		t.Errorf("%d live tokens after uninstall, want 0", n)
	}
	wantStatus(t, revoke("Bearer "+live), http.StatusUnauthorized)
	mint(t, s, in.ID, nil, http.StatusNotFound)

	if n := s.CallCount(http.MethodDelete, "/installation/token"); n != 9 {
		t.Errorf("CallCount(DELETE) = %d, want 9", n)
	}
}

func TestFailNextHasNoSideEffects(t *testing.T) {
	s := newServer(t)
	id := s.AddInstallation("acme", "Organization", "widgets").ID
	s.FailNext(2, http.StatusBadGateway)
	for range 2 {
		r := mint(t, s, id, nil, http.StatusBadGateway)
		if r.message(t) == "" || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("injected answer %v %s", r.Header, r.body)
		}
	}
	if n := len(s.Tokens()); n != 0 {
		t.Fatalf("%d tokens minted by failed requests", n)
	}
	var tok tokenAnswer
	mint(t, s, id, nil, http.StatusCreated).json(t, &tok)

	// A failed revoke does not revoke either.
	s.FailNext(1, http.StatusInternalServerError)
	wantStatus(t, do(t, http.MethodDelete, s.URL+"/installation/token", "Bearer "+tok.Token, nil), http.StatusInternalServerError)
	if len(s.LiveTokens()) != 1 {
		t.Error("injected failure revoked the token")
	}
	if f := s.Faults(); f.Injected5xx != 3 || f.InjectedRateLimits != 0 {
		t.Errorf("Faults() = %+v", f)
	}

	s.SetFailureRate(1, http.StatusServiceUnavailable)
	mint(t, s, id, nil, http.StatusServiceUnavailable)
	s.ResetFaults()
	mint(t, s, id, nil, http.StatusCreated)
	if n := len(s.Tokens()); n != 2 {
		t.Errorf("%d tokens, want 2", n)
	}
	calls := s.Calls()
	statuses := make([]int, len(calls))
	for i, c := range calls {
		statuses[i] = c.Status
	}
	if fmt.Sprint(statuses) != "[502 502 201 500 503 201]" {
		t.Errorf("recorded statuses %v", statuses)
	}
}

func TestRateLimitInjection(t *testing.T) {
	s := newServer(t)
	id := s.AddInstallation("acme", "Organization", "widgets").ID
	s.RateLimitNext(1, http.StatusForbidden, 1500*time.Millisecond)
	r := mint(t, s, id, nil, http.StatusForbidden)
	if got := r.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2 (whole seconds, rounded up)", got)
	}
	if got := r.Header.Get("X-RateLimit-Remaining"); got != "0" {
		t.Errorf("X-RateLimit-Remaining %q, want 0", got)
	}
	if reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64); err != nil || reset < time.Now().Unix()+1 {
		t.Errorf("X-RateLimit-Reset %q, want after the Retry-After", r.Header.Get("X-RateLimit-Reset"))
	}
	if msg := r.message(t); msg != "API rate limit exceeded for installation ID "+strconv.FormatInt(id, 10)+"." {
		t.Errorf("message %q", msg)
	}
	if len(s.Tokens()) != 0 {
		t.Error("rate-limited request minted a token")
	}

	s.SetRateLimitRate(1, 0)
	r = do(t, http.MethodGet, s.URL+"/app", "Bearer "+appJWT(t, s), nil)
	wantStatus(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") != "" || !strings.HasPrefix(r.message(t), "API rate limit exceeded") {
		t.Errorf("429 without retryAfter: %v %s", r.Header, r.body)
	}
	s.ResetFaults()
	r = do(t, http.MethodGet, s.URL+"/app", "Bearer "+appJWT(t, s), nil)
	wantStatus(t, r, http.StatusOK)
	if n, _ := strconv.Atoi(r.Header.Get("X-RateLimit-Remaining")); n < 1 {
		t.Errorf("X-RateLimit-Remaining %d after reset", n)
	}
	if f := s.Faults(); f.InjectedRateLimits != 2 || f.Injected5xx != 0 {
		t.Errorf("Faults() = %+v", f)
	}
}

func TestLatency(t *testing.T) {
	s := newServer(t)
	s.SetLatency(300 * time.Millisecond)
	start := time.Now()
	wantStatus(t, do(t, http.MethodGet, s.URL+"/app", "Bearer "+appJWT(t, s), nil), http.StatusOK)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %v, want at least 300ms", d)
	}

	// A client that gives up is let go, and recorded with status 0.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/app", nil)
	req.Header.Set("User-Agent", "githubtest-test")
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.CallCount(http.MethodGet, "/app") != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if calls := s.Calls(); len(calls) != 2 || calls[1].Status != 0 {
		t.Errorf("calls %+v, want the abandoned one with status 0", calls)
	}

	// Close does not wait for injected latency.
	s.SetLatency(time.Minute)
	go http.Get(s.URL + "/app") //nolint:errcheck // aborted by Close
	time.Sleep(50 * time.Millisecond)
	start = time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestUserAgentRequired(t *testing.T) {
	s := newServer(t)
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/app", nil)
	req.Header.Set("Authorization", "Bearer "+appJWT(t, s))
	req.Header.Set("User-Agent", "") // net/http would send its own otherwise
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Message string }
	json.NewDecoder(resp.Body).Decode(&e) //nolint:errcheck // checked through e
	if resp.StatusCode != http.StatusForbidden ||
		!strings.HasPrefix(e.Message, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header") {
		t.Errorf("%d %q, want 403 and GitHub's message", resp.StatusCode, e.Message)
	}
}

func TestUnknownRoutes(t *testing.T) {
	s := newServer(t)
	id := s.AddInstallation("acme", "Organization", "widgets").ID
	auth := "Bearer " + appJWT(t, s)
	for _, rq := range []struct{ method, path string }{
		{"GET", "/nope"},
		{"GET", "/"},
		{"POST", "/app"},
		{"GET", "/app/"},
		{"GET", fmt.Sprintf("/app/installations/%d/access_tokens", id)},
		{"DELETE", fmt.Sprintf("/app/installations/%d", id)},
		{"GET", "/installation/token"},
		{"DELETE", "/installation/token/"},
		{"GET", "/repos/acme"},
		{"GET", "/repos/acme/widgets/installation/x"},
	} {
		r := do(t, rq.method, s.URL+rq.path, auth, nil)
		if r.StatusCode != http.StatusNotFound || r.message(t) != "Not Found" {
			t.Errorf("%s %s: %d %s, want 404 Not Found", rq.method, rq.path, r.StatusCode, r.body)
		}
	}
}

func TestPathPrefix(t *testing.T) {
	s := newServer(t, githubtest.WithPathPrefix("/api/v3/"))
	id := s.AddInstallation("acme", "Organization", "widgets").ID
	if !strings.HasSuffix(s.URL, "/api/v3") {
		t.Fatalf("URL %q does not end in the prefix", s.URL)
	}
	root := strings.TrimSuffix(s.URL, "/api/v3")
	auth := "Bearer " + appJWT(t, s)

	wantStatus(t, do(t, http.MethodGet, s.URL+"/app", auth, nil), http.StatusOK)
	wantStatus(t, do(t, http.MethodGet, root+"/app", auth, nil), http.StatusNotFound)
	wantStatus(t, do(t, http.MethodGet, root+"/api/v3x/app", auth, nil), http.StatusNotFound)
	wantStatus(t, do(t, http.MethodGet, root+"/api/v3", auth, nil), http.StatusNotFound)

	var items []struct {
		AccessTokensURL string `json:"access_tokens_url"`
	}
	do(t, http.MethodGet, s.URL+"/app/installations", auth, nil).json(t, &items)
	if len(items) != 1 || items[0].AccessTokensURL != s.URL+fmt.Sprintf("/app/installations/%d/access_tokens", id) {
		t.Errorf("installations %+v", items)
	}
	mint(t, s, id, nil, http.StatusCreated)
	if n := s.CallCount(http.MethodPost, fmt.Sprintf("/app/installations/%d/access_tokens", id)); n != 1 {
		t.Errorf("CallCount without prefix = %d, want 1", n)
	}
	if n := s.CallCount(http.MethodGet, "/app"); n != 2 {
		t.Errorf("CallCount(GET /app) = %d, want 2 (the in-prefix one and the 404 outside it)", n)
	}

	// Links carry the prefix too.
	for i := range 40 {
		s.AddInstallation(fmt.Sprintf("org-%d", i), "Organization")
	}
	r := do(t, http.MethodGet, s.URL+"/app/installations", auth, nil)
	if next := parseLinks(t, r.Header.Get("Link"))["next"]; next != s.URL+"/app/installations?page=2" {
		t.Errorf("next link %q", next)
	}

	// The admin API stays at the root.
	wantStatus(t, do(t, http.MethodGet, root+"/_double/calls", "", nil), http.StatusOK)
}

func TestAdminAPI(t *testing.T) {
	s := newServer(t)
	id := s.AddInstallation("acme", "Organization", "widgets").ID
	root := s.URL
	var tok tokenAnswer
	mint(t, s, id, map[string]any{"repositories": []string{"widgets"}}, http.StatusCreated).json(t, &tok)

	var tokens []struct {
		Token          string     `json:"token"`
		TokenSHA256    string     `json:"token_sha256"`
		InstallationID int64      `json:"installation_id"`
		ExpiresAt      time.Time  `json:"expires_at"`
		RevokedAt      *time.Time `json:"revoked_at"`
		Live           bool       `json:"live"`
		Repositories   []string   `json:"repositories"`
	}
	do(t, http.MethodGet, root+"/_double/tokens", "", nil).json(t, &tokens)
	sum := sha256.Sum256([]byte(tok.Token))
	if len(tokens) != 1 || tokens[0].Token != tok.Token || tokens[0].TokenSHA256 != base64.StdEncoding.EncodeToString(sum[:]) ||
		tokens[0].InstallationID != id || !tokens[0].Live || tokens[0].RevokedAt != nil || tokens[0].Repositories[0] != "widgets" {
		t.Errorf("tokens %+v", tokens)
	}

	var installs []githubtest.Installation
	do(t, http.MethodGet, root+"/_double/installations", "", nil).json(t, &installs)
	if len(installs) != 1 || installs[0].Account != "acme" || installs[0].Repositories[0].ID != githubtest.FirstRepositoryID {
		t.Errorf("installations %+v", installs)
	}

	wantStatus(t, do(t, http.MethodPost, root+"/_double/faults", "",
		`{"fail_next":1,"failure_status":500,"rate_limit_next":1,"retry_after_s":3,"revoke_status":502}`), http.StatusNoContent)
	mint(t, s, id, nil, http.StatusInternalServerError)
	if r := mint(t, s, id, nil, http.StatusTooManyRequests); r.Header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	wantStatus(t, do(t, http.MethodDelete, s.URL+"/installation/token", "Bearer "+tok.Token, nil), http.StatusBadGateway)

	var counts githubtest.FaultCounts
	do(t, http.MethodGet, root+"/_double/faults", "", nil).json(t, &counts)
	if counts != (githubtest.FaultCounts{Injected5xx: 1, InjectedRateLimits: 1}) {
		t.Errorf("counts %+v", counts)
	}
	var calls []githubtest.Call
	do(t, http.MethodGet, root+"/_double/calls", "", nil).json(t, &calls)
	if len(calls) != 4 || calls[3].Path != "/installation/token" || calls[3].Status != http.StatusBadGateway {
		t.Errorf("calls %+v", calls)
	}

	for _, bad := range []string{`{"failure_rate":2}`, `{"fail_next":1,"failure_status":200}`, `{"bogus":1}`, `{`} {
		wantStatus(t, do(t, http.MethodPost, root+"/_double/faults", "", bad), http.StatusBadRequest)
	}

	wantStatus(t, do(t, http.MethodPost, root+"/_double/reset", "", nil), http.StatusNoContent)
	if len(s.Calls()) != 0 {
		t.Error("reset kept calls")
	}
	wantStatus(t, do(t, http.MethodDelete, s.URL+"/installation/token", "Bearer "+tok.Token, nil), http.StatusNoContent)
}

func TestKeyPEM(t *testing.T) {
	s := newServer(t)
	block, _ := pem.Decode(s.KeyPEM())
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("KeyPEM block %v", block)
	}
	k1, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil || !k1.Equal(s.Key) {
		t.Errorf("KeyPEM does not hold Key: %v", err)
	}
	block, _ = pem.Decode(s.KeyPEMPKCS8())
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("KeyPEMPKCS8 block %v", block)
	}
	k2, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil || !s.Key.Equal(k2) {
		t.Errorf("KeyPEMPKCS8 does not hold Key: %v", err)
	}

	// Without WithKey, each server gets a fresh key.
	fresh := githubtest.NewT(t)
	if fresh.Key == nil || fresh.Key.N.BitLen() != 2048 || fresh.Key.Equal(s.Key) {
		t.Error("default key is not a fresh 2048-bit key")
	}
}

// TestConcurrentClients hammers the double from many goroutines with faults
// on; run with -race.
func TestConcurrentClients(t *testing.T) {
	s := newServer(t)
	for i := range 5 {
		s.AddInstallation(fmt.Sprintf("org-%d", i), "Organization", "repo")
	}
	s.SetFailureRate(0.1, http.StatusServiceUnavailable)
	s.SetRateLimitRate(0.05, time.Second)
	auth := "Bearer " + appJWT(t, s)

	const workers, rounds = 16, 20
	var (
		mu      sync.Mutex
		created int
		revoked int
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				id := githubtest.FirstInstallationID + int64((w+i)%5)
				r, err := send(http.MethodPost, fmt.Sprintf("%s/app/installations/%d/access_tokens", s.URL, id), auth, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if r.StatusCode != http.StatusCreated {
					continue
				}
				var tok tokenAnswer
				if err := json.Unmarshal(r.body, &tok); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				created++
				mu.Unlock()
				r, err = send(http.MethodDelete, s.URL+"/installation/token", "Bearer "+tok.Token, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if r.StatusCode == http.StatusNoContent {
					mu.Lock()
					revoked++
					mu.Unlock()
				}
				_ = s.Faults()
				_ = s.LiveTokens()
			}
		})
	}
	wg.Wait()

	tokens := s.Tokens()
	values := map[string]bool{}
	nRevoked := 0
	for _, tk := range tokens {
		values[tk.Value] = true
		if !tk.RevokedAt.IsZero() {
			nRevoked++
		}
	}
	if len(tokens) != created || len(values) != created || nRevoked != revoked {
		t.Errorf("%d tokens (%d distinct, %d revoked); clients saw %d created, %d revoked",
			len(tokens), len(values), nRevoked, created, revoked)
	}
	f := s.Faults()
	if got := len(s.Calls()); got != workers*rounds+created {
		t.Errorf("%d calls recorded, want %d", got, workers*rounds+created)
	}
	if f.Injected5xx == 0 || f.InjectedRateLimits == 0 {
		t.Errorf("Faults() = %+v: expected some of each", f)
	}
}

func TestIDsUpToMaxJSONInteger(t *testing.T) {
	// The default ids have as many digits as real ones.
	s := newServer(t)
	in := s.AddInstallation("acme", "Organization", "widgets")
	if in.ID < 10_000_000 || in.Repositories[0].ID < 100_000_000 {
		t.Errorf("default ids %d and %d are shorter than real ones", in.ID, in.Repositories[0].ID)
	}

	// Ids up to 2^53-1 work in lookups, mints and answers.
	big := newServer(t, githubtest.WithFirstIDs(githubtest.MaxJSONInteger, githubtest.MaxJSONInteger-1))
	a := big.AddInstallation("acme", "Organization", "widgets", "gadgets")
	if a.ID != githubtest.MaxJSONInteger || a.Repositories[1].ID != githubtest.MaxJSONInteger {
		t.Fatalf("ids %d, %+v", a.ID, a.Repositories)
	}
	auth := "Bearer " + appJWT(t, big)
	var got struct {
		ID      int64 `json:"id"`
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	do(t, http.MethodGet, fmt.Sprintf("%s/app/installations/%d", big.URL, a.ID), auth, nil).json(t, &got)
	if got.ID != a.ID || got.Account.ID <= 0 {
		t.Errorf("lookup answered %+v", got)
	}
	var tok tokenAnswer
	mint(t, big, a.ID, map[string]any{"repository_ids": []int64{githubtest.MaxJSONInteger}}, http.StatusCreated).json(t, &tok)
	if len(tok.Repositories) != 1 || tok.Repositories[0].ID != githubtest.MaxJSONInteger || tok.Repositories[0].Name != "gadgets" {
		t.Errorf("mint answered %+v", tok.Repositories)
	}
}

func TestFailNextAfterEffect(t *testing.T) {
	s := newServer(t)
	acme := s.AddInstallation("acme", "Organization", "widgets")

	// A mint that fails after the side effect: the token exists, is live,
	// and the client never saw it.
	s.FailNextAfterEffect(1, http.StatusBadGateway)
	r := mint(t, s, acme.ID, map[string]any{"repositories": []string{"widgets"}}, http.StatusBadGateway)
	if r.message(t) != "Bad Gateway" || strings.Contains(string(r.body), "ghs_") {
		t.Errorf("answer %s", r.body)
	}
	live := s.LiveTokens()
	if len(live) != 1 || live[0].InstallationID != acme.ID || live[0].Repositories[0] != "widgets" {
		t.Fatalf("live tokens %+v, want the one minted before the failure", live)
	}
	orphan := live[0].Value

	// A revoke that fails after the side effect: the token is revoked.
	s.FailNextAfterEffect(1, http.StatusGatewayTimeout)
	wantStatus(t, do(t, http.MethodDelete, s.URL+"/installation/token", "Bearer "+orphan, nil), http.StatusGatewayTimeout)
	if tok, _ := s.LookupToken(orphan); tok.RevokedAt.IsZero() {
		t.Error("the revoke failed after its effect, but the token is not revoked")
	}

	// A request that would have been refused has no effect, and answers
	// the injected status all the same.
	s.FailNextAfterEffect(1, http.StatusInternalServerError)
	wantStatus(t, do(t, http.MethodPost, fmt.Sprintf("%s/app/installations/%d/access_tokens", s.URL, acme.ID), "Bearer nope", nil), http.StatusInternalServerError)
	if n := len(s.Tokens()); n != 1 {
		t.Errorf("%d tokens after an unauthenticated mint failed after effect, want 1", n)
	}

	// FailNext comes first and has no effect; then the after-effect ones.
	s.FailNext(1, http.StatusServiceUnavailable)
	s.FailNextAfterEffect(1, http.StatusBadGateway)
	mint(t, s, acme.ID, nil, http.StatusServiceUnavailable)
	mint(t, s, acme.ID, nil, http.StatusBadGateway)
	mint(t, s, acme.ID, nil, http.StatusCreated)
	if n := len(s.LiveTokens()); n != 2 {
		t.Errorf("%d live tokens, want 2 (the after-effect one and the good one)", n)
	}
	if f := s.Faults(); f.Injected5xx != 1 || f.InjectedAfterEffect != 4 {
		t.Errorf("Faults() = %+v", f)
	}
	calls := s.Calls()
	statuses := make([]int, len(calls))
	for i, c := range calls {
		statuses[i] = c.Status
	}
	if fmt.Sprint(statuses) != "[502 504 500 503 502 201]" {
		t.Errorf("recorded statuses %v", statuses)
	}

	// Through the admin API: 502 unless failure_status says otherwise.
	wantStatus(t, do(t, http.MethodPost, s.URL+"/_double/faults", "", `{"fail_next_after_effect":1}`), http.StatusNoContent)
	mint(t, s, acme.ID, nil, http.StatusBadGateway)
	wantStatus(t, do(t, http.MethodPost, s.URL+"/_double/faults", "", `{"fail_next_after_effect":1,"failure_status":500}`), http.StatusNoContent)
	mint(t, s, acme.ID, nil, http.StatusInternalServerError)
	if n := len(s.LiveTokens()); n != 4 {
		t.Errorf("%d live tokens, want 4", n)
	}
	var counts githubtest.FaultCounts
	do(t, http.MethodGet, s.URL+"/_double/faults", "", nil).json(t, &counts)
	if counts.InjectedAfterEffect != 6 {
		t.Errorf("admin faults %+v", counts)
	}
}

func TestSuspendedInstallation(t *testing.T) {
	s := newServer(t)
	acme := s.AddInstallation("acme", "Organization", "widgets")
	other := s.AddInstallation("other", "Organization", "tools")
	auth := "Bearer " + appJWT(t, s)

	s.SuspendInstallation(acme.ID, true)
	r := mint(t, s, acme.ID, nil, http.StatusForbidden)
	if msg := r.message(t); msg != "This installation has been suspended" {
		t.Errorf("message %q", msg)
	}
	var body struct {
		DocumentationURL string `json:"documentation_url"`
	}
	r.json(t, &body)
	if !strings.HasSuffix(body.DocumentationURL, "#create-an-installation-access-token-for-an-app") {
		t.Errorf("documentation_url %q", body.DocumentationURL)
	}
	mint(t, s, other.ID, nil, http.StatusCreated) // only that installation

	// Lookups still find it, marked suspended.
	var in struct {
		ID          int64      `json:"id"`
		SuspendedAt *time.Time `json:"suspended_at"`
		SuspendedBy *struct {
			Login string `json:"login"`
		} `json:"suspended_by"`
	}
	do(t, http.MethodGet, s.URL+"/orgs/acme/installation", auth, nil).json(t, &in)
	if in.ID != acme.ID || in.SuspendedAt == nil || in.SuspendedBy == nil || in.SuspendedBy.Login == "" {
		t.Errorf("suspended installation answered %+v", in)
	}

	s.SuspendInstallation(acme.ID, false)
	mint(t, s, acme.ID, nil, http.StatusCreated)
	in.SuspendedAt = nil
	do(t, http.MethodGet, fmt.Sprintf("%s/app/installations/%d", s.URL, acme.ID), auth, nil).json(t, &in)
	if in.SuspendedAt != nil {
		t.Errorf("unsuspended installation has suspended_at %v", in.SuspendedAt)
	}

	// Through the admin API.
	wantStatus(t, do(t, http.MethodPost, fmt.Sprintf("%s/_double/installations/%d/suspend", s.URL, acme.ID), "", nil), http.StatusNoContent)
	mint(t, s, acme.ID, nil, http.StatusForbidden)
	var installs []githubtest.Installation
	do(t, http.MethodGet, s.URL+"/_double/installations", "", nil).json(t, &installs)
	if installs[0].ID != acme.ID || installs[0].SuspendedAt == nil || installs[1].SuspendedAt != nil {
		t.Errorf("admin installations %+v", installs)
	}
	wantStatus(t, do(t, http.MethodPost, fmt.Sprintf("%s/_double/installations/%d/unsuspend", s.URL, acme.ID), "", nil), http.StatusNoContent)
	mint(t, s, acme.ID, nil, http.StatusCreated)
	wantStatus(t, do(t, http.MethodPost, s.URL+"/_double/installations/999/suspend", "", nil), http.StatusNotFound)
}

func TestMoveRepository(t *testing.T) {
	s := newServer(t, githubtest.WithPathPrefix("/api/v3"))
	acme := s.AddInstallation("acme", "Organization", "widgets", "gadgets")
	evil := s.AddInstallation("evil", "Organization", "tools")
	auth := "Bearer " + appJWT(t, s)
	widgets := acme.Repositories[0].ID

	if err := s.MoveRepository("acme/widgets", "evil/widgets2"); err != nil {
		t.Fatal(err)
	}
	// The old name redirects, without following.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodGet, s.URL+"/repos/ACME/Widgets/installation", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "githubtest-test")
	req.Header.Set("Authorization", auth)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantLoc := fmt.Sprintf("%s/repositories/%d/installation", s.URL, widgets)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != wantLoc {
		t.Fatalf("GET old name: %d Location %q, want 301 %s", resp.StatusCode, resp.Header.Get("Location"), wantLoc)
	}

	// A client that follows the redirect (as Go's does) lands on the
	// installation that now holds the repository: another account's.
	var in struct {
		ID      int64 `json:"id"`
		Account struct {
			Login string `json:"login"`
		} `json:"account"`
	}
	do(t, http.MethodGet, s.URL+"/repos/acme/widgets/installation", auth, nil).json(t, &in)
	if in.ID != evil.ID || in.Account.Login != "evil" {
		t.Errorf("followed redirect to %+v, want evil's installation %d", in, evil.ID)
	}
	do(t, http.MethodGet, s.URL+"/repos/evil/widgets2/installation", auth, nil).json(t, &in)
	if in.ID != evil.ID {
		t.Errorf("new name found %+v", in)
	}
	wantStatus(t, do(t, http.MethodGet, fmt.Sprintf("%s/repositories/%d/installation", s.URL, widgets+1000), auth, nil), http.StatusNotFound)
	wantStatus(t, do(t, http.MethodGet, fmt.Sprintf("%s/repositories/%d/installation", s.URL, widgets), "", nil), http.StatusUnauthorized)

	// The repository keeps its id and moved with its installation: evil's
	// tokens cover it, acme's do not.
	mint(t, s, evil.ID, map[string]any{"repository_ids": []int64{widgets}}, http.StatusCreated)
	mint(t, s, acme.ID, map[string]any{"repository_ids": []int64{widgets}}, http.StatusUnprocessableEntity)

	// A repository created under the old name takes it back.
	if err := s.MoveRepository("acme/gadgets", "acme/widgets"); err != nil {
		t.Fatal(err)
	}
	do(t, http.MethodGet, s.URL+"/repos/acme/widgets/installation", auth, nil).json(t, &in)
	if in.ID != acme.ID {
		t.Errorf("old name, taken again, found %+v", in)
	}

	for _, bad := range [][2]string{{"acme", "evil/x"}, {"acme/nope", "evil/x"}, {"acme/widgets", "nobody/x"}, {"acme/widgets", "evil/tools"}} {
		if err := s.MoveRepository(bad[0], bad[1]); err == nil {
			t.Errorf("MoveRepository(%q, %q) succeeded", bad[0], bad[1])
		}
	}

	// Through the admin API, which lives at the root.
	root := strings.TrimSuffix(s.URL, "/api/v3")
	wantStatus(t, do(t, http.MethodPost, root+"/_double/repositories/move", "", `{"from":"evil/tools","to":"acme/tools"}`), http.StatusNoContent)
	do(t, http.MethodGet, s.URL+"/repos/evil/tools/installation", auth, nil).json(t, &in)
	if in.ID != acme.ID {
		t.Errorf("moved by the admin API, found %+v", in)
	}
	wantStatus(t, do(t, http.MethodPost, root+"/_double/repositories/move", "", `{"from":"evil/nope","to":"acme/x"}`), http.StatusBadRequest)
}

func TestInstallationPermissions(t *testing.T) {
	s := newServer(t)
	acme := s.AddInstallation("acme", "Organization", "widgets")
	acme.Permissions = map[string]string{"contents": "read", "organization_pre_receive_hooks": "write"}
	var in struct {
		Permissions map[string]string `json:"permissions"`
	}
	do(t, http.MethodGet, fmt.Sprintf("%s/app/installations/%d", s.URL, acme.ID), "Bearer "+appJWT(t, s), nil).json(t, &in)
	if fmt.Sprint(in.Permissions) != "map[contents:read organization_pre_receive_hooks:write]" {
		t.Errorf("permissions %v", in.Permissions)
	}
}

func TestPublicURLAndTLS(t *testing.T) {
	ca, err := githubtest.NewTestCA("double CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	const public = "https://ghe.example.com/api/v3"
	s := newServer(t, githubtest.WithTLS(cert), githubtest.WithPathPrefix("/api/v3"), githubtest.WithPublicURL(public+"/"))
	for i := range 3 {
		s.AddInstallation(fmt.Sprintf("org-%d", i), "Organization", "repo")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CA PEM does not parse")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodGet, s.URL+"/app/installations?per_page=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "githubtest-test")
	req.Header.Set("Authorization", "Bearer "+appJWT(t, s))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var items []struct {
		AccessTokensURL string `json:"access_tokens_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&items); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") || resp.StatusCode != http.StatusOK {
		t.Fatalf("URL %s, status %d", s.URL, resp.StatusCode)
	}
	if next := parseLinks(t, resp.Header.Get("Link"))["next"]; next != public+"/app/installations?per_page=1&page=2" {
		t.Errorf("next link %q names not the public URL", next)
	}
	if len(items) != 1 || !strings.HasPrefix(items[0].AccessTokensURL, public+"/app/installations/") {
		t.Errorf("items %+v", items)
	}
	// Plain http to a TLS double fails.
	if r, err := send(http.MethodGet, strings.Replace(s.URL, "https://", "http://", 1)+"/app", "", nil); err == nil && r.StatusCode < 400 {
		t.Error("plain http reached the TLS double")
	}
}
