// Package backend is the Vault-facing side of the engine: its paths, the
// token lease, storage, caches and invalidation.
package backend

import (
	"context"
	"errors"
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

	lock   sync.RWMutex // guards cfg and client
	cfg    *appConfig
	client *github.Client

	roles    roleCache
	bounds   boundCache
	installs installCache
	metrics  *metrics
}

func newBackend(info BuildInfo) *backend {
	b := &backend{
		info:       info,
		httpClient: github.NewHTTPClient(),
		now:        time.Now,
		roles:      roleCache{entries: map[string]*role{}},
		bounds:     boundCache{entries: map[string]*bound{}},
		installs:   newInstallCache(installationCacheTTL),
	}
	b.metrics = newMetrics()
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: []string{configPath},
		},
		Paths: framework.PathAppend(
			pathConfig(b),
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
token expires (the expiry buffer), and GitHub revokes the token when the
lease ends.
`

// invalidate drops what a replicated write or a performance standby made
// stale: the config and client on "config", a role and its installation
// lookup on "roles/<name>".
func (b *backend) invalidate(_ context.Context, key string) {
	switch {
	case key == configPath:
		b.resetClient()
	case strings.HasPrefix(key, rolePrefix):
		b.forgetRole(strings.TrimPrefix(key, rolePrefix))
	case strings.HasPrefix(key, boundPrefix):
		b.bounds.drop(strings.TrimPrefix(key, boundPrefix))
	}
}

// clean runs when the mount is unmounted or its plugin reloaded: the
// mount's idle connections to GitHub are closed rather than left to outlive
// it in the shared plugin process.
func (b *backend) clean(context.Context) {
	b.httpClient.CloseIdleConnections()
	b.lock.RLock()
	defer b.lock.RUnlock()
	if b.client != nil {
		b.client.CloseIdleConnections()
	}
}

// resetClient forgets the cached config and client, and every installation
// lookup made with them.
func (b *backend) resetClient() {
	b.lock.Lock()
	old := b.client
	b.cfg, b.client = nil, nil
	b.lock.Unlock()
	b.installs.clear()
	if old != nil {
		old.CloseIdleConnections()
	}
}

var errNotConfigured = errors.New("the engine has no App configured: write config first")

// getClient returns the mount's GitHub client, built once from the stored
// config and kept until the config changes.
func (b *backend) getClient(ctx context.Context, s logical.Storage) (*github.Client, *appConfig, error) {
	b.lock.RLock()
	c, cfg := b.client, b.cfg
	b.lock.RUnlock()
	if c != nil {
		return c, cfg, nil
	}

	b.lock.Lock()
	defer b.lock.Unlock()
	if b.client != nil { // built while we waited for the lock
		return b.client, b.cfg, nil
	}
	cfg, err := loadConfig(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if cfg == nil {
		return nil, nil, errNotConfigured
	}
	c, err = b.newClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	b.cfg, b.client = cfg, c
	return c, cfg, nil
}

func (b *backend) newClient(cfg *appConfig) (*github.Client, error) {
	gc := github.Config{
		BaseURL:   cfg.BaseURL,
		UserAgent: b.userAgent(),
		Retry:     b.retry,
		Observe:   b.metrics.observeCall,
		Now:       b.now,
	}
	if cfg.CACertificate != "" {
		gc.CACertificatePEM = []byte(cfg.CACertificate) // a transport of its own
	} else {
		gc.HTTPClient = b.httpClient
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
