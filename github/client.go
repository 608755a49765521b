// Package github is a small GitHub App REST client: it signs App JWTs, looks
// up installations, mints and revokes installation access tokens, and retries
// what is safe to retry. It knows nothing of Vault.
//
// What the caller can tell from an error:
//   - IsAmbiguousMint: a mint whose outcome is unknown (500, 502, 504, or no
//     answer once the request may have left). It is never re-sent; GitHub may
//     hold an orphan token that expires by itself.
//   - IsAppRefused, IsSuspended: GitHub refusing the App itself (401/403 on
//     an App-JWT call, not a rate limit): a key deleted at GitHub, a skewed
//     clock, a suspended installation. An operator's matter.
//   - UnusableToken: a mint GitHub answered 2xx with a token the client
//     cannot use (no expires_at): the caller revokes it.
//   - IsRateLimited, IsNotFound, IsTimeout: as named.
//
// A Client sends through the HTTP client it is given, sharing that client's
// transport (its connection pool) with whoever else uses it; with
// Config.CACertificatePEM it builds a transport of its own that trusts one
// private CA (GitHub Enterprise Server) and touches no other client in the
// process. CloseIdleConnections closes the idle connections of whichever
// transport it uses. Paginated
// lists follow Link rel="next" on the configured host only (a GHES behind
// an internal name sends its public one), so the App JWT goes nowhere else.
package github

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// DefaultBaseURL is github.com's REST API.
	DefaultBaseURL = "https://api.github.com"
	// APIVersion is the REST API version the client speaks.
	APIVersion = "2022-11-28"
	// MaxRepositories is GitHub's limit of repositories in one token request.
	MaxRepositories = 500

	// jwtLifetime is the span from iat to exp. GitHub refuses more than 10
	// minutes; iat is back-dated by jwtBackdate to allow for clock drift.
	jwtLifetime = 10 * time.Minute
	jwtBackdate = 60 * time.Second
	// jwtRefreshBefore: a cached JWT is replaced this long before its exp.
	jwtRefreshBefore = 60 * time.Second

	maxBodyBytes      = 32 << 20
	maxErrorBodyBytes = 64 << 10
	maxPages          = 1000
	maxRedirects      = 3
)

// Config configures a Client. Key and one of AppID or ClientID are needed
// for App (JWT) calls; a Client without them can still revoke tokens.
type Config struct {
	BaseURL   string // default DefaultBaseURL; GitHub Enterprise Server: https://HOST/api/v3
	AppID     int64
	ClientID  string // used as the JWT issuer when set
	Key       *rsa.PrivateKey
	UserAgent string

	// CACertificatePEM, if not empty, is the only trust for this client's TLS:
	// one or more PEM "CERTIFICATE" blocks (a GitHub Enterprise Server's
	// private CA). The system roots are not used, and no other client is
	// affected (mounts share the plugin process). It cannot be combined
	// with HTTPClient.
	CACertificatePEM []byte
	HTTPClient       *http.Client // default NewHTTPClient(), or NewHTTPClientWithCA(CACertificatePEM)
	Retry            RetryPolicy  // zero fields take DefaultRetryPolicy's values
	Observe          func(CallInfo)
	Now              func() time.Time // default time.Now
}

// Who spent a call's rate-limit budget (CallInfo.Spender). GitHub keeps one
// budget for the App's own JWT-authenticated calls and one per installation
// for calls made with its tokens.
const (
	SpenderApp          = "app"
	SpenderInstallation = "installation"
)

// CallInfo describes one HTTP attempt, for metrics. It holds no secrets.
type CallInfo struct {
	Endpoint           string // method and path template, e.g. "POST /app/installations/{id}/access_tokens"
	Status             int    // 0 when no answer was received
	Duration           time.Duration
	RateLimitRemaining int // -1 when GitHub sent no X-RateLimit-Remaining
	// RateLimitResource is GitHub's X-RateLimit-Resource, the budget the
	// call drew on (e.g. "core"); empty when GitHub sent none.
	RateLimitResource string
	// Spender is whose budget it was: SpenderApp for calls made with the
	// App JWT, SpenderInstallation for calls made with an installation
	// token.
	Spender string
}

// Client talks to one GitHub (or GitHub Enterprise Server) API as one App.
// It is safe for concurrent use.
type Client struct {
	base    string // always ends in "/"
	baseURL *url.URL
	iss     string
	key     *rsa.PrivateKey
	ua      string
	hc      *http.Client
	retry   RetryPolicy
	observe func(CallInfo)
	now     func() time.Time

	jwtMu sync.Mutex
	jwt   atomic.Pointer[signedJWT]
}

type signedJWT struct {
	value     string
	refreshAt time.Time
}

// NewHTTPClient returns an HTTP client for GitHub: proxies from the
// environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), keep-alive with enough idle
// connections for concurrent minting, and a bounded timeout per attempt.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// NewHTTPClientWithCA is NewHTTPClient trusting only the CA certificates in
// caPEM (see CertPoolFromPEM), not the system roots. Each call builds its own
// transport, so one mount's CA never reaches another mount's client.
func NewHTTPClientWithCA(caPEM []byte) (*http.Client, error) {
	pool, err := CertPoolFromPEM(caPEM)
	if err != nil {
		return nil, err
	}
	hc := NewHTTPClient()
	t := hc.Transport.(*http.Transport)
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return hc, nil
}

// CertPoolFromPEM parses PEM text holding one or more "CERTIFICATE" blocks
// into a pool holding exactly those. Anything else is an error: no
// certificate, a block of another type (a private key pasted by mistake),
// a certificate that does not parse, or text outside the blocks. Errors
// never quote the input.
func CertPoolFromPEM(caPEM []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest, n := caPEM, 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q block, not a CERTIFICATE", n, pemTypeName(block.Type))
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid X.509 certificate", n)
		}
		pool.AddCert(cert)
	}
	switch {
	case n == 0:
		return nil, errors.New("holds no PEM certificate (want one or more -----BEGIN CERTIFICATE----- blocks)")
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("has text after its last PEM certificate")
	}
	return pool, nil
}

// pemTypeName is a PEM block type safe to show: a short run of upper-case
// letters and spaces, else "unknown".
func pemTypeName(t string) string {
	if len(t) > 40 || strings.TrimLeft(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ ") != "" {
		return "unknown"
	}
	return t
}

// NormalizeBaseURL checks an API base URL and returns it without a trailing
// slash. It must be https (plain http only for loopback hosts, for tests),
// with no query, fragment or credentials.
func NormalizeBaseURL(raw string) (string, error) {
	if raw == "" {
		return DefaultBaseURL, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("is not a valid URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("must be an https URL, got scheme %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "", errors.New("has no host")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return "", errors.New("must use https (plain http is allowed only for loopback hosts)")
	case u.User != nil:
		return "", errors.New("must not carry credentials")
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("must not have a query string")
	case u.Fragment != "":
		return "", errors.New("must not have a fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New builds a Client.
func New(cfg Config) (*Client, error) {
	base, err := NormalizeBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("base_url %w", err)
	}
	c := &Client{
		base:    base + "/",
		iss:     cfg.ClientID,
		key:     cfg.Key,
		ua:      cfg.UserAgent,
		hc:      cfg.HTTPClient,
		retry:   cfg.Retry.withDefaults(),
		observe: cfg.Observe,
		now:     cfg.Now,
	}
	c.baseURL, _ = url.Parse(c.base)
	if c.iss == "" && cfg.AppID > 0 {
		c.iss = strconv.FormatInt(cfg.AppID, 10)
	}
	if c.ua == "" {
		c.ua = "vault-plugin-github-app"
	}
	switch {
	case len(cfg.CACertificatePEM) > 0 && c.hc != nil:
		return nil, errors.New("a CA certificate and an HTTP client cannot both be given")
	case len(cfg.CACertificatePEM) > 0:
		if c.hc, err = NewHTTPClientWithCA(cfg.CACertificatePEM); err != nil {
			return nil, fmt.Errorf("ca_certificate %w", err)
		}
	case c.hc == nil:
		c.hc = NewHTTPClient()
	}
	// Redirects are followed by attempt, on the configured API only; a
	// copy keeps the caller's client as it was.
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// BaseURL is the API base URL without a trailing slash.
func (c *Client) BaseURL() string { return strings.TrimSuffix(c.base, "/") }

// CloseIdleConnections closes the client's idle keep-alive connections. Call
// it when the client is dropped (a mount unmounted or reloaded, a config
// replaced) so its connections do not outlive it.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// appJWT returns an App JWT, reusing the cached one until shortly before it
// expires so that a client signs at most one JWT every few minutes.
func (c *Client) appJWT() (string, error) {
	now := c.now()
	if j := c.jwt.Load(); j != nil && now.Before(j.refreshAt) {
		return j.value, nil
	}
	if c.key == nil || c.iss == "" {
		return "", errors.New("no App credentials configured")
	}
	c.jwtMu.Lock()
	defer c.jwtMu.Unlock()
	if j := c.jwt.Load(); j != nil && now.Before(j.refreshAt) {
		return j.value, nil
	}
	iat := now.Add(-jwtBackdate).Truncate(time.Second)
	exp := iat.Add(jwtLifetime)
	claims := jwt.RegisteredClaims{
		Issuer:    c.iss,
		IssuedAt:  jwt.NewNumericDate(iat),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(c.key)
	if err != nil {
		return "", errors.New("signing the App JWT failed")
	}
	c.jwt.Store(&signedJWT{value: signed, refreshAt: exp.Add(-jwtRefreshBefore)})
	return signed, nil
}

// dropJWT forgets a JWT GitHub refused, so the next call signs a new one.
func (c *Client) dropJWT(value string) {
	if j := c.jwt.Load(); j != nil && j.value == value {
		c.jwt.CompareAndSwap(j, nil)
	}
}

// request is one logical API call, possibly sent several times.
type request struct {
	method    string
	path      string // relative to the base, no leading slash; or an absolute URL on the same host (pagination)
	endpoint  string // for errors and metrics, e.g. "GET /app"
	token     string // installation token for Authorization; empty means the App JWT
	body      []byte
	redirects int // redirects followed so far
	// mint marks a request that creates something at GitHub; it is not
	// re-sent after an error that may have come after the creation: no
	// answer once the request may have left, or a server error but 503.
	mint bool
}

// answer is a successful response's parts the callers need.
type answer struct {
	header http.Header
	status int
}

// do sends req with retries and decodes a 2xx JSON body into out (if not nil).
func (c *Client) do(ctx context.Context, req request, out any) (answer, error) {
	for attempt := 1; ; attempt++ {
		ans, err := c.attempt(ctx, req, out)
		if err == nil {
			return ans, nil
		}
		wait, retry := c.retry.decide(req, attempt, err)
		if !retry || !fitsDeadline(ctx, wait) {
			return ans, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ans, fmt.Errorf("%s: %w (last error: %v)", req.endpoint, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (c *Client) attempt(ctx context.Context, req request, out any) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, fmt.Errorf("%s: %w", req.endpoint, err)
	}
	target := req.path
	if u, err := url.Parse(target); err != nil || !u.IsAbs() {
		target = c.base + target
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return answer{}, fmt.Errorf("%s: building request: %w", req.endpoint, err)
	}
	auth := req.token
	if auth == "" {
		if auth, err = c.appJWT(); err != nil {
			return answer{}, fmt.Errorf("%s: %w", req.endpoint, err)
		}
	}
	hreq.Header.Set("Authorization", "Bearer "+auth)
	hreq.Header.Set("Accept", "application/vnd.github+json")
	hreq.Header.Set("X-GitHub-Api-Version", APIVersion)
	hreq.Header.Set("User-Agent", c.ua)
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.hc.Do(hreq)
	if err != nil {
		c.report(req, 0, start, nil)
		sent := !notSent(err)
		return answer{}, &TransportError{Endpoint: req.endpoint, Err: err, Sent: sent, MintOutcomeUnknown: req.mint && sent}
	}
	defer resp.Body.Close()
	c.report(req, resp.StatusCode, start, resp.Header)
	ans := answer{header: resp.Header, status: resp.StatusCode}

	if isRedirect(resp.StatusCode) && req.method == http.MethodGet {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBodyBytes)) // drain for keep-alive
		if req.redirects == maxRedirects {
			return ans, fmt.Errorf("%s: GitHub redirected more than %d times", req.endpoint, maxRedirects)
		}
		next, err := c.onAPI(resp.Header.Get("Location"))
		if err != nil {
			return ans, fmt.Errorf("%s: GitHub's redirect %w", req.endpoint, err)
		}
		req.path, req.redirects = next, req.redirects+1
		return c.attempt(ctx, req, out)
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || resp.StatusCode == http.StatusNoContent {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBodyBytes)) // drain for keep-alive
			return ans, nil
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxBodyBytes)).Decode(out); err != nil {
			err = fmt.Errorf("%s: decoding GitHub's answer: %w", req.endpoint, err)
			if req.mint { // created, but the token is unreadable
				err = &ambiguousMintError{err}
			}
			return ans, err
		}
		return ans, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	apiErr := newAPIError(req.endpoint, resp.StatusCode, resp.Header, raw, c.now())
	apiErr.AppAuth = req.token == ""
	apiErr.MintOutcomeUnknown = req.mint && mayHaveMinted(resp.StatusCode)
	if resp.StatusCode == http.StatusUnauthorized && req.token == "" {
		c.dropJWT(auth)
	}
	return ans, apiErr
}

func (c *Client) report(req request, status int, start time.Time, h http.Header) {
	if c.observe == nil {
		return
	}
	info := CallInfo{Endpoint: req.endpoint, Status: status, Duration: time.Since(start), RateLimitRemaining: -1, Spender: SpenderApp}
	if req.token != "" {
		info.Spender = SpenderInstallation
	}
	if h != nil {
		if v, err := strconv.Atoi(h.Get("X-RateLimit-Remaining")); err == nil {
			info.RateLimitRemaining = v
		}
		info.RateLimitResource = h.Get("X-RateLimit-Resource")
	}
	c.observe(info)
}

// App is the authenticated App, from GET /app.
type App struct {
	ID       int64  `json:"id"`
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	ClientID string `json:"client_id"`
	Owner    struct {
		Login string `json:"login"`
	} `json:"owner"`
}

// App fetches the authenticated App; it is how credentials are checked.
func (c *Client) App(ctx context.Context) (*App, error) {
	var app App
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "app", endpoint: "GET /app"}, &app); err != nil {
		return nil, err
	}
	return &app, nil
}

// Account is the user or organisation an App is installed on.
type Account struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"`
}

// Installation is one installation of the App.
type Installation struct {
	ID                  int64      `json:"id"`
	Account             Account    `json:"account"`
	RepositorySelection string     `json:"repository_selection"`
	AppID               int64      `json:"app_id"`
	SuspendedAt         *time.Time `json:"suspended_at"`
	// Permissions the App was granted on the installation, e.g.
	// {"contents":"write","metadata":"read"}: the most a token can get.
	Permissions map[string]string `json:"permissions"`
}

// Installations lists every installation of the App, following GitHub's
// Link: rel="next" pages.
func (c *Client) Installations(ctx context.Context) ([]Installation, error) {
	var all []Installation
	next := "app/installations?per_page=100"
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("GET /app/installations: more than %d pages", maxPages)
		}
		var batch []Installation
		ans, err := c.do(ctx, request{method: http.MethodGet, path: next, endpoint: "GET /app/installations"}, &batch)
		if err != nil {
			return nil, err
		}
		all = append(all, batch...)
		if next, err = c.nextPage(ans.header.Get("Link")); err != nil {
			return nil, fmt.Errorf("GET /app/installations: %w", err)
		}
	}
	return all, nil
}

// Repository is a repository as an installation token sees it.
type Repository struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// TokenRepositories lists the repositories an installation token can
// access (GET /installation/repositories), following GitHub's Link:
// rel="next" pages. It authenticates with the token, not the App JWT.
func (c *Client) TokenRepositories(ctx context.Context, token string) ([]Repository, error) {
	const endpoint = "GET /installation/repositories"
	if token == "" {
		return nil, errors.New(endpoint + ": no token")
	}
	var all []Repository
	next := "installation/repositories?per_page=100"
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("%s: more than %d pages", endpoint, maxPages)
		}
		var batch struct {
			Repositories []Repository `json:"repositories"`
		}
		ans, err := c.do(ctx, request{method: http.MethodGet, path: next, endpoint: endpoint, token: token}, &batch)
		if err != nil {
			return nil, err
		}
		all = append(all, batch.Repositories...)
		if next, err = c.nextPage(ans.header.Get("Link")); err != nil {
			return nil, fmt.Errorf("%s: %w", endpoint, err)
		}
	}
	return all, nil
}

// nextPage returns the URL of the rel="next" page of a Link header, on the
// configured API (see onAPI), or "" when there is none.
func (c *Client) nextPage(link string) (string, error) {
	next := linkNext(link)
	if next == "" {
		return "", nil
	}
	page, err := c.onAPI(next)
	if err != nil {
		return "", fmt.Errorf("GitHub's next-page link %w", err)
	}
	return page, nil
}

// onAPI moves a URL GitHub sent (a Link rel="next", a redirect's Location)
// onto the configured API: its path and query on the configured base URL's
// scheme and host. A GitHub Enterprise Server reached through an internal
// hostname names its public one; the request goes to the configured host
// all the same, and the App JWT never goes to the named host. The path must
// lie under the configured base path (e.g. /api/v3/).
func (c *Client) onAPI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || raw == "" {
		return "", errors.New("is not a usable URL")
	}
	path := u.EscapedPath()
	plain, err := url.PathUnescape(path)
	if err != nil || !strings.HasPrefix(path, c.baseURL.EscapedPath()) ||
		strings.Contains(path+"/", "/../") || strings.Contains(plain+"/", "/../") {
		return "", errors.New("lies outside the configured API path")
	}
	rebased := url.URL{Scheme: c.baseURL.Scheme, Host: c.baseURL.Host, Path: plain, RawPath: path, RawQuery: u.RawQuery}
	return rebased.String(), nil
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// linkNext extracts the rel="next" target of an RFC 8288 Link header.
func linkNext(header string) string {
	for part := range strings.SplitSeq(header, ",") {
		segs := strings.Split(part, ";")
		target := strings.TrimSpace(segs[0])
		if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		for _, p := range segs[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
				continue
			}
			for rel := range strings.FieldsSeq(strings.Trim(strings.TrimSpace(v), `"`)) {
				if strings.EqualFold(rel, "next") {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

// Installation fetches one installation by id.
func (c *Client) Installation(ctx context.Context, id int64) (*Installation, error) {
	return c.installation(ctx, "app/installations/"+strconv.FormatInt(id, 10), "GET /app/installations/{id}")
}

// OwnerInstallation finds the App's installation on a user or organisation
// (GET /users/{owner}/installation serves both).
func (c *Client) OwnerInstallation(ctx context.Context, owner string) (*Installation, error) {
	return c.installation(ctx, "users/"+url.PathEscape(owner)+"/installation", "GET /users/{owner}/installation")
}

// RepositoryInstallation finds the App's installation that covers owner/repo.
func (c *Client) RepositoryInstallation(ctx context.Context, owner, repo string) (*Installation, error) {
	return c.installation(ctx, "repos/"+url.PathEscape(owner)+"/"+url.PathEscape(repo)+"/installation", "GET /repos/{owner}/{repo}/installation")
}

func (c *Client) installation(ctx context.Context, path, endpoint string) (*Installation, error) {
	// GitHub follows a renamed or transferred repository (301 to
	// /repositories/{id}/installation): the answer is the installation
	// where it lives now, maybe another account's. Callers compare
	// Account.Login with the owner they asked for.
	var inst Installation
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path, endpoint: endpoint}, &inst); err != nil {
		return nil, err
	}
	if inst.ID <= 0 {
		return nil, fmt.Errorf("%s: GitHub's answer had no installation id", endpoint)
	}
	return &inst, nil
}

// TokenRequest narrows an installation token. Empty fields mean "all the
// installation allows".
type TokenRequest struct {
	Repositories  []string          `json:"repositories,omitempty"` // bare names, no owner
	RepositoryIDs []int64           `json:"repository_ids,omitempty"`
	Permissions   map[string]string `json:"permissions,omitempty"`
}

// Token is a minted installation access token. Repositories holds names
// only, never GitHub's full repository objects; RepositoryIDs holds their
// ids, in the same order.
type Token struct {
	Token               string
	ExpiresAt           time.Time
	Permissions         map[string]string
	RepositorySelection string
	Repositories        []string
	RepositoryIDs       []int64
}

// CreateToken mints an installation access token. One call never creates
// two tokens: the request is sent again only after answers that certainly
// created nothing (503, rate limits, a dial that failed). After a 500, 502
// or 504, or no answer once the request may have left, the outcome is
// unknown: GitHub may have created a token (it expires by itself within the
// hour). The mint is then not re-sent, and the error satisfies
// IsAmbiguousMint.
func (c *Client) CreateToken(ctx context.Context, installationID int64, tr TokenRequest) (*Token, error) {
	body, err := json.Marshal(tr)
	if err != nil {
		return nil, fmt.Errorf("encoding token request: %w", err)
	}
	var tok tokenJSON
	req := request{
		method:   http.MethodPost,
		path:     "app/installations/" + strconv.FormatInt(installationID, 10) + "/access_tokens",
		endpoint: "POST /app/installations/{id}/access_tokens",
		body:     body,
		mint:     true,
	}
	_, err = c.do(ctx, req, &tok)
	if err == nil {
		var t *Token
		if t, err = tok.token(req.endpoint); err == nil {
			return t, nil
		}
		err = &ambiguousMintError{err} // 2xx: something was created
	}
	if tok.Token != "" && IsAmbiguousMint(err) {
		// A 2xx answer that carried a token the client cannot use (no
		// expires_at, or a field that does not decode): the token exists.
		return nil, &unusableTokenError{err: err, token: tok.Token}
	}
	return nil, err
}

// tokenJSON is GitHub's access token answer, decoding repositories to
// their names only.
type tokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           time.Time         `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
	Repositories        []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"repositories"`
}

func (t *tokenJSON) token(endpoint string) (*Token, error) {
	if t.Token == "" || t.ExpiresAt.IsZero() {
		return nil, fmt.Errorf("%s: GitHub's answer had no token or no expires_at", endpoint)
	}
	out := &Token{
		Token:               t.Token,
		ExpiresAt:           t.ExpiresAt.UTC(),
		Permissions:         t.Permissions,
		RepositorySelection: t.RepositorySelection,
	}
	if len(t.Repositories) > 0 {
		out.Repositories = make([]string, len(t.Repositories))
		out.RepositoryIDs = make([]int64, len(t.Repositories))
		for i, r := range t.Repositories {
			out.Repositories[i], out.RepositoryIDs[i] = r.Name, r.ID
		}
	}
	return out, nil
}

// RevokeToken revokes an installation token (DELETE /installation/token).
// A token GitHub already considers dead (401, 404) counts as revoked.
func (c *Client) RevokeToken(ctx context.Context, token string) error {
	if token == "" {
		return errors.New("DELETE /installation/token: no token")
	}
	_, err := c.do(ctx, request{method: http.MethodDelete, path: "installation/token", endpoint: "DELETE /installation/token", token: token}, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusNotFound) {
		return nil
	}
	return err
}
