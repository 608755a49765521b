// Package backend is the Vault-facing side of the engine: its paths, the
// token lease, storage, caches and invalidation.
package backend

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// BuildInfo is what the plugin binary knows about itself.
type BuildInfo struct {
	Version string // v-prefixed semver, reported as RunningVersion
	Commit  string
	Date    string
}

// installationCacheTTL is how long an owner's or repository's installation
// id is trusted before it is looked up again. A 404 on mint drops it sooner.
const installationCacheTTL = 15 * time.Minute

// NewFactory returns the logical.Factory for a plugin build.
func NewFactory(info BuildInfo) logical.Factory {
	return func(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
		b := newBackend(info)
		if err := b.Setup(ctx, conf); err != nil {
			return nil, err
		}
		return b, nil
	}
}

type backend struct {
	*framework.Backend
	info BuildInfo

	// httpClient is shared by every GitHub client this mount builds, so
	// connections are reused across config changes and revocations.
	httpClient *http.Client
	retry      github.RetryPolicy
	now        func() time.Time

	// apps are the mount's GitHub Apps by name (app.go); each owns its
	// config, client and installation lookups.
	appsMu sync.Mutex
	apps   map[string]*app

	// identity serialises a change of an App (an identity change: the
	// "in use" check, the check with GitHub, the store; or its deletion),
	// write-held, with the writes of roles and bounds, read-held: the
	// roles and bounds an App has are the ones its change saw, and a role
	// or bound is written against the App as it is stored.
	identity sync.RWMutex

	// parsers parse the requests of the paths that take typed requests
	// (request.go), by path.
	parsers map[*framework.Path]requestParser

	roles   entryCache[role]
	bounds  entryCache[bound]
	metrics *metrics

	// revocations revokes tokens that have no lease, in the background
	// (secret_token.go).
	revocations *revocations

	// maxLeaseTTL reads the mount's max lease TTL from Vault, one read
	// shared by the mints under way, never one that started before a
	// mint's request arrived (freshread.go).
	maxLeaseTTL *maxLeaseTTLReads
}

func newBackend(info BuildInfo) *backend {
	b := &backend{
		info:       info,
		httpClient: github.NewHTTPClient(),
		now:        time.Now,
		apps:       map[string]*app{},
		parsers:    map[*framework.Path]requestParser{},

		revocations: newRevocations(maxDetachedRevocations),
		roles:       newEntryCache[role]("role", rolePrefix),
		bounds:      newEntryCache[bound]("bound", boundPrefix),
	}
	b.metrics = newMetrics()
	b.maxLeaseTTL = newMaxLeaseTTLReads(func() time.Duration { return b.System().MaxLeaseTTL() })
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: []string{configPath, appPrefix},
		},
		Paths: framework.PathAppend(
			pathConfig(b),
			pathApps(b),
			pathRoles(b),
			pathBounds(b),
			pathToken(b),
			pathInstallations(b),
			pathInfo(b),
			pathMetrics(b),
		),
		Secrets:        []*framework.Secret{secretToken(b)},
		Invalidate:     b.invalidate,
		Clean:          b.clean,
		RunningVersion: info.Version,
	}
	return b
}

const backendHelp = `
The GitHub App secrets engine holds a GitHub App's private key and issues
installation access tokens as leases. A lease lasts until shortly before the
token expires (the expiry buffer); when Vault ends the lease (at its TTL or
on a revoke), the engine revokes the token at GitHub.
`

// invalidate drops what a replicated write or a performance standby made
// stale: one App's config, client and lookups on "config" (the App
// "default") or "apps/<name>", a role and its installation lookup on
// "roles/<name>", a bound on "bounds/<name>".
func (b *backend) invalidate(_ context.Context, key string) {
	if name, ok := appNameOfKey(key); ok {
		if a := b.existingApp(name); a != nil {
			a.reset()
		}
		return
	}
	switch {
	case strings.HasPrefix(key, rolePrefix):
		b.forgetRole(strings.TrimPrefix(key, rolePrefix))
	case strings.HasPrefix(key, boundPrefix):
		b.bounds.drop(strings.TrimPrefix(key, boundPrefix))
	}
}

// clean runs when the mount is unmounted or its plugin reloaded: the
// revocations of tokens without a lease still running end first (each
// within detachedRevokeTimeout), then the mount's idle connections to
// GitHub are closed rather than left to outlive it in the shared plugin
// process.
func (b *backend) clean(context.Context) {
	b.revocations.wait()
	b.httpClient.CloseIdleConnections()
	b.eachApp((*app).closeIdle)
}

// newClient builds a GitHub client for cfg; observe counts its calls.
func (b *backend) newClient(cfg *appConfig, observe func(github.CallInfo)) (*github.Client, error) {
	gc := github.Config{
		BaseURL:   cfg.BaseURL,
		UserAgent: b.userAgent(),
		Retry:     b.retry,
		Observe:   observe,
		Now:       b.now,
	}
	if cfg.CACertificate != "" {
		// github.New builds this client a transport that trusts only this
		// CA and that no other client uses.
		gc.CACertificatePEM = []byte(cfg.CACertificate)
	} else {
		gc.HTTPClient = b.httpClient // the mount's shared connection pool
	}
	if cfg.key != nil { // nil for a revocation-only client
		gc.AppID, gc.ClientID, gc.Key = cfg.AppID, cfg.ClientID, cfg.key
	}
	c, err := github.New(gc)
	if err != nil {
		return nil, fmt.Errorf("building GitHub client: %w", err)
	}
	return c, nil
}

func (b *backend) userAgent() string {
	return "vault-plugin-github-app/" + b.info.Version
}
