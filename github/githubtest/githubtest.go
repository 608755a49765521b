// Package githubtest is a strict, in-process double of the parts of the GitHub
// REST API that a GitHub App uses to mint installation access tokens.
//
// It verifies App JWTs (RS256 signature, iss, iat, exp) the way GitHub does,
// answers 201/401/403/404/422 with GitHub-shaped JSON bodies, paginates
// installations with GitHub's Link header, issues "ghs_" tokens with an
// expires_at, revokes them on DELETE /installation/token, and lets tests
// inject latency, server errors (also after the request took effect, as
// GitHub's edge can answer 502 for a token it created), rate limits,
// suspended installations and renamed or transferred repositories (301 to
// /repositories/{id}/installation). Ids are as long as github.com's and
// tokens as long as its stateless installation tokens. Every request is
// recorded for assertions, with the hash of the credential it carried.
//
// It also hosts each repository for git (git.go): a bare repository with a
// seed commit, served by git's own git-http-backend to a client that
// presents, as Basic auth password, a live installation token covering the
// repository with contents read (fetch) or write (push), refused otherwise
// as github.com refuses. Git lives on the host github.com and the API on any
// other name (api.github.com); with a path prefix, git lives outside it on
// every name, as on GitHub Enterprise Server.
//
// Repositories can be written as an installation token's clients write
// them, through git push, REST (Git Data refs, blobs, trees and commits;
// contents; merges; pull requests and their merges; branches; releases) and
// GraphQL (validated against schema.graphql, a subset of GitHub's public
// schema; mutations such as createRef, updateRefs, createCommitOnBranch,
// mergePullRequest). All of them write the same bare repository, with the
// token's rules (404 outside its repositories, 403 without the
// permission), and every ref change is recorded with what made it (Refs,
// RefChanges), so that a test can assert on the refs after each attempt.
// The writes that move no ref (issues, comments, labels, reactions,
// reviews, statuses, check runs) are served too.
//
// Besides the GitHub API (optionally under a path prefix such as "/api/v3",
// as on GitHub Enterprise Server), the server answers a small admin API under
// /_double/ (see AdminHandler) so that tests in other processes can inspect
// and steer it.
package githubtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults for the App the double impersonates.
const (
	DefaultAppID         = 1001
	DefaultClientID      = "Iv1.double0001"
	DefaultSlug          = "vault-double-app"
	DefaultTokenLifetime = time.Hour
)

// First IDs handed out; both increase by one per object. They have as many
// digits as real ids on github.com, so that a client that mangles large
// numbers (float formatting, 32-bit parsing) fails against the double too.
// WithFirstIDs starts elsewhere, e.g. near 2^53-1, the largest integer a JSON
// number carries exactly.
const (
	FirstInstallationID int64 = 41_000_001
	FirstRepositoryID   int64 = 812_345_001
)

// MaxJSONInteger is 2^53-1, the largest integer that every JSON decoder
// (including one that decodes numbers as float64) carries exactly.
const MaxJSONInteger int64 = 1<<53 - 1

// defaultPermissions are granted to an installation made by AddInstallation.
var defaultPermissions = map[string]string{
	"contents":      "write",
	"metadata":      "read",
	"issues":        "write",
	"pull_requests": "write",
	"actions":       "read",
	"workflows":     "write",
}

type config struct {
	appID    int64
	clientID string
	slug     string
	prefix   string
	lifetime time.Duration
	key      *rsa.PrivateKey
	addr     string
	firstIns int64
	firstRep int64
	tlsCert  *tls.Certificate
	linkBase string
}

// Option configures a Server.
type Option func(*config)

// WithAppID sets the App's numeric id (default 1001).
func WithAppID(id int64) Option { return func(c *config) { c.appID = id } }

// WithClientID sets the App's client id (default "Iv1.double0001"). GitHub
// accepts it as the JWT issuer in place of the App id.
func WithClientID(id string) Option { return func(c *config) { c.clientID = id } }

// WithSlug sets the App's slug (default "vault-double-app").
func WithSlug(slug string) Option { return func(c *config) { c.slug = slug } }

// WithPathPrefix serves the API under p, e.g. "/api/v3" to emulate GitHub
// Enterprise Server. Requests outside the prefix answer 404.
func WithPathPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithTokenLifetime sets how long minted tokens live (default 1h).
func WithTokenLifetime(d time.Duration) Option { return func(c *config) { c.lifetime = d } }

// WithKey sets the App's private key (default: a fresh 2048-bit key).
func WithKey(k *rsa.PrivateKey) Option { return func(c *config) { c.key = k } }

// WithAddr sets the listen address (default "127.0.0.1:0").
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithPublicURL makes the Link headers of paginated answers, and the URLs
// in answers' bodies, name publicURL (e.g. "https://ghe.example.com/api/v3")
// instead of the URL the request came to, as a GitHub Enterprise Server
// reached through an internal hostname does. Redirects (301) still name the
// URL the request came to.
func WithPublicURL(publicURL string) Option {
	return func(c *config) { c.linkBase = strings.TrimRight(publicURL, "/") }
}

// WithFirstIDs sets the first installation and repository ids handed out
// (default FirstInstallationID and FirstRepositoryID). Ids grow by one per
// object; a test may start near MaxJSONInteger to check that the largest
// exact JSON integers survive every hop.
func WithFirstIDs(installation, repository int64) Option {
	return func(c *config) { c.firstIns, c.firstRep = installation, repository }
}

// Installation is an installation of the App on an account.
//
// AddInstallation returns the Server's own record. A test may adjust its
// Permissions, Selection or Repositories after adding it, but not while
// requests that read it may be in flight.
type Installation struct {
	ID           int64  `json:"id"`
	Account      string `json:"account"`      // login, case preserved
	AccountType  string `json:"account_type"` // "Organization" or "User"
	Repositories []Repo `json:"repositories"` // repositories the installation can access
	// Permissions the App was granted on this installation, e.g.
	// {"contents":"write","metadata":"read"}.
	Permissions map[string]string `json:"permissions"`
	Selection   string            `json:"selection"` // "all" or "selected"
	// SuspendedAt is when the installation was suspended (see
	// SuspendInstallation); nil while it is not.
	SuspendedAt *time.Time `json:"suspended_at,omitempty"`
}

// accountID is the GitHub id of the installation's account (deterministic,
// and as long as a real one).
func (in *Installation) accountID() int64 {
	const offset = 90_000_000
	if in.ID > MaxJSONInteger-offset {
		return in.ID - offset
	}
	return in.ID + offset
}

// repoByName finds a repository case-insensitively.
func (in *Installation) repoByName(name string) (Repo, bool) {
	for _, r := range in.Repositories {
		if strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return Repo{}, false
}

// Repo is a repository an installation can access. Name is bare ("widgets");
// the full name is Account + "/" + Name.
type Repo struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Token is an installation access token the double issued.
type Token struct {
	Value          string // "ghs_" + 516 random characters (TokenLength in all)
	InstallationID int64
	IssuedAt       time.Time
	ExpiresAt      time.Time // second precision, as in the response
	RevokedAt      time.Time // zero if not revoked
	// Repositories are the bare names the token covers; empty means all of
	// the installation's repositories.
	Repositories []string
	Permissions  map[string]string
}

// Live reports whether the token is neither revoked nor expired at now.
func (t Token) Live(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

func (t Token) clone() Token {
	t.Repositories = slices.Clone(t.Repositories)
	t.Permissions = maps.Clone(t.Permissions)
	return t
}

// rateBudget is one rate-limit budget (X-RateLimit-*).
type rateBudget struct {
	remaining int
	reset     time.Time
}

// Call is one request the double received on the GitHub API.
type Call struct {
	Method string `json:"method"`
	// Path is the request path without the path prefix and query, e.g.
	// "/app/installations/41000001/access_tokens". A request outside the prefix
	// is recorded with its full path.
	Path  string `json:"path"`
	Query string `json:"query"` // raw query
	// Status is the answer's status; 0 while the request is in flight, or
	// if the client gave up before it was answered.
	Status int `json:"status"`
	// At is when the request arrived.
	At time.Time `json:"at"`
	// Accept and UserAgent are the request's headers, recorded so tests can
	// check what a client sends.
	Accept    string `json:"accept"`
	UserAgent string `json:"user_agent"`
	// Host is the request's Host: github.com for git, api.github.com (or
	// the address dialled) for the API.
	Host string `json:"host"`
	// CredentialSHA256 is the credential the request's Authorization
	// carried (Basic's password, Bearer's or token's value) as
	// CredentialSHA256 makes it; "" if none. Tests compare it with a token's
	// hash to see where a token went.
	CredentialSHA256 string `json:"credential_sha256"`
	// Git is true for a git smart-HTTP request (see GitDir); Path is then
	// the request's full path, e.g. "/acme/widgets.git/info/refs".
	Git bool `json:"git"`
	// GraphQL are the documents of a GraphQL request, one per request of
	// a batch, as sent, so that tests can see what a client asks.
	GraphQL []string `json:"graphql,omitempty"`
}

// Server is a running GitHub API double.
type Server struct {
	// URL is the API base URL, including any path prefix, without a trailing
	// slash, e.g. "http://127.0.0.1:41234/api/v3".
	URL string
	// AppID, ClientID, Slug and Key are the App's identity and private key,
	// as set by the options. Do not change them once the server is running.
	AppID    int64
	ClientID string
	Slug     string
	Key      *rsa.PrivateKey

	prefix    string
	scheme    string // "http", or "https" with WithTLS
	linkBase  string // WithPublicURL
	srv       *http.Server
	admin     http.Handler
	done      chan struct{} // closed by Close; aborts latency waits
	closeOnce sync.Once
	createdAt time.Time

	mu            sync.Mutex
	lifetime      time.Duration
	installations map[int64]*Installation
	nextInstID    int64
	nextRepoID    int64
	moved         map[string]int64 // "owner/name" (lower case) of a renamed or transferred repository → its id
	tokens        []*Token
	tokenIndex    map[string]*Token
	calls         []*Call
	jwtsSeen      []string
	jwtSeenSet    map[string]bool
	jwts          jwtCache               // App JWTs that passed every check, under a lock of its own (jwt.go)
	budgets       map[string]*rateBudget // rate-limit budgets: "app", "installation:ID"
	faults        faults
	git           gitRepos             // git.go
	repos         map[int64]*repoState // refs.go, by repository id
	refChanges    []RefChange
	nextObjectID  int64 // ids of pull requests, comments, releases...
}

// New starts a double and returns it running.
func New(opts ...Option) (*Server, error) {
	cfg := config{
		appID:    DefaultAppID,
		clientID: DefaultClientID,
		slug:     DefaultSlug,
		lifetime: DefaultTokenLifetime,
		addr:     "127.0.0.1:0",
		firstIns: FirstInstallationID,
		firstRep: FirstRepositoryID,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("githubtest: generating App key: %w", err)
		}
		cfg.key = k
	}
	prefix := strings.TrimRight(cfg.prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("githubtest: listening on %s: %w", cfg.addr, err)
	}
	scheme := "http"
	if cfg.tlsCert != nil {
		scheme = "https"
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cfg.tlsCert}, MinVersion: tls.VersionTLS12})
	}
	s := &Server{
		AppID:         cfg.appID,
		ClientID:      cfg.clientID,
		Slug:          cfg.slug,
		Key:           cfg.key,
		prefix:        prefix,
		scheme:        scheme,
		linkBase:      cfg.linkBase,
		done:          make(chan struct{}),
		createdAt:     time.Now().UTC().Truncate(time.Second),
		lifetime:      cfg.lifetime,
		installations: map[int64]*Installation{},
		nextInstID:    cfg.firstIns,
		nextRepoID:    cfg.firstRep,
		tokenIndex:    map[string]*Token{},
		moved:         map[string]int64{},
		budgets:       map[string]*rateBudget{},
		jwtSeenSet:    map[string]bool{},
	}
	s.URL = scheme + "://" + dialableAddr(ln.Addr()) + prefix
	s.admin = s.newAdminHandler()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck // always http.ErrServerClosed after Close
	return s, nil
}

// dialableAddr turns a listener address into one a client can dial: an
// unspecified host (0.0.0.0 or ::, which Go listens on dual-stack) becomes
// 127.0.0.1.
func dialableAddr(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return a.String()
}

// NewT is New for tests: it fails t on error and closes the server when the
// test ends.
func NewT(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server. Requests waiting on injected latency are aborted.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		s.removeGitRepos()
	})
}

// KeyPEM returns Key as PKCS#1 ("RSA PRIVATE KEY") PEM.
func (s *Server) KeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.Key)})
}

// KeyPEMPKCS8 returns Key as PKCS#8 ("PRIVATE KEY") PEM.
func (s *Server) KeyPEMPKCS8() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(s.Key)
	if err != nil {
		// Cannot happen for a valid RSA key.
		panic("githubtest: marshalling key as PKCS#8: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// AddInstallation installs the App on account ("Organization" or "User") with
// access to the named repositories, and returns the installation. IDs are
// assigned from FirstInstallationID upward and repository IDs from
// FirstRepositoryID upward (or where WithFirstIDs says), both
// deterministically. The installation gets the default permissions
// (contents, issues, pull_requests and workflows write; metadata and actions
// read) and repository selection "selected".
//
// It panics if accountType is invalid or the account already has an
// installation (GitHub allows one per App and account).
func (s *Server) AddInstallation(account, accountType string, repos ...string) *Installation {
	if accountType != "Organization" && accountType != "User" {
		panic(fmt.Sprintf("githubtest: account type %q is neither Organization nor User", accountType))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.installationForAccount(account); in != nil {
		panic(fmt.Sprintf("githubtest: account %q already has installation %d", account, in.ID))
	}
	in := &Installation{
		ID:          s.nextInstID,
		Account:     account,
		AccountType: accountType,
		Permissions: maps.Clone(defaultPermissions),
		Selection:   "selected",
	}
	s.nextInstID++
	for _, name := range repos {
		if _, dup := in.repoByName(name); dup {
			continue
		}
		in.Repositories = append(in.Repositories, Repo{ID: s.nextRepoID, Name: name})
		s.nextRepoID++
	}
	s.installations[in.ID] = in
	return in
}

// RemoveInstallation uninstalls the App from an installation. As on GitHub,
// the installation's tokens stop working: they are marked revoked.
func (s *Server) RemoveInstallation(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.installations, id)
	now := time.Now()
	for _, t := range s.tokens {
		if t.InstallationID == id && t.Live(now) {
			t.RevokedAt = now
		}
	}
}

// SuspendInstallation suspends (or, with suspended false, unsuspends) an
// installation, as its owner or the App's owner can on GitHub. While it is
// suspended, GitHub refuses to mint tokens for it (403 "This installation
// has been suspended"); lookups still find it, with suspended_at and
// suspended_by set. It panics if there is no such installation.
func (s *Server) SuspendInstallation(id int64, suspended bool) {
	if !s.setSuspended(id, suspended) {
		panic(fmt.Sprintf("githubtest: no installation %d", id))
	}
}

// setSuspended is SuspendInstallation; it reports false if there is no such
// installation.
func (s *Server) setSuspended(id int64, suspended bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.installations[id]
	if in == nil {
		return false
	}
	in.SuspendedAt = nil
	if suspended {
		now := time.Now().UTC().Truncate(time.Second)
		in.SuspendedAt = &now
	}
	return true
}

// MoveRepository renames or transfers the repository from ("owner/name") to
// to ("owner/name"), keeping its id, as GitHub does. The new owner must have
// an installation of the App (it may be the same one). Afterwards, as on
// GitHub, GET /repos/{old owner}/{old name}/installation answers 301 Moved
// Permanently with a Location on /repositories/{id}/installation, which
// answers the installation that now holds the repository. A repository
// created later under the old name takes the name back.
func (s *Server) MoveRepository(from, to string) error {
	fromOwner, fromName, ok1 := strings.Cut(from, "/")
	toOwner, toName, ok2 := strings.Cut(to, "/")
	if !ok1 || !ok2 || fromName == "" || toName == "" || strings.Contains(toName, "/") {
		return fmt.Errorf("githubtest: %q and %q must both be owner/name", from, to)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.installationForAccount(fromOwner)
	if src == nil {
		return fmt.Errorf("githubtest: no installation on %q", fromOwner)
	}
	repo, found := src.repoByName(fromName)
	if !found {
		return fmt.Errorf("githubtest: no repository %q", from)
	}
	dst := s.installationForAccount(toOwner)
	if dst == nil {
		return fmt.Errorf("githubtest: no installation on %q", toOwner)
	}
	if other, taken := dst.repoByName(toName); taken && other.ID != repo.ID {
		return fmt.Errorf("githubtest: %q already exists", to)
	}
	src.Repositories = slices.DeleteFunc(src.Repositories, func(r Repo) bool { return r.ID == repo.ID })
	repo.Name = toName
	dst.Repositories = append(dst.Repositories, repo)
	s.moved[strings.ToLower(from)] = repo.ID
	return nil
}

// SetTokenLifetime sets the lifetime of tokens minted from now on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// Tokens returns copies of all tokens issued, in issue order.
func (s *Server) Tokens() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Token, 0, len(s.tokens))
	for _, t := range s.tokens {
		out = append(out, t.clone())
	}
	return out
}

// LookupToken returns a copy of the token with the given value.
func (s *Server) LookupToken(value string) (Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokenIndex[value]
	if !ok {
		return Token{}, false
	}
	return t.clone(), true
}

// LiveTokens returns copies of the tokens that are neither revoked nor
// expired, in issue order.
func (s *Server) LiveTokens() []Token {
	now := time.Now()
	var out []Token
	for _, t := range s.Tokens() {
		if t.Live(now) {
			out = append(out, t)
		}
	}
	return out
}

// Calls returns the API requests received so far, in arrival order.
// Requests to the admin API (/_double/) are not recorded.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
		out[i].GraphQL = slices.Clone(c.GraphQL)
	}
	return out
}

// CallCount counts the recorded requests with this method and exact path
// (without the path prefix).
func (s *Server) CallCount(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == method && c.Path == path {
			n++
		}
	}
	return n
}

// ResetCalls forgets the recorded requests.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// JWTsSeen returns the distinct App JWTs presented with a valid signature, in
// the order first seen.
func (s *Server) JWTsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.jwtsSeen)
}

// installationForAccount finds an installation by account login,
// case-insensitively. Callers hold s.mu.
func (s *Server) installationForAccount(login string) *Installation {
	for _, in := range s.installations {
		if strings.EqualFold(in.Account, login) {
			return in
		}
	}
	return nil
}

// sortedInstallations returns the installations ordered by ID. Callers hold
// s.mu.
func (s *Server) sortedInstallations() []*Installation {
	out := slices.Collect(maps.Values(s.installations))
	slices.SortFunc(out, func(a, b *Installation) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
