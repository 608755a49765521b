package backend

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// A mount holds one or more GitHub Apps by name. The App named "default"
// is stored at "config", where v0.1.x kept the mount's only App, so an
// upgraded mount keeps its config, roles and leases as they are; every
// other App is stored at "apps/<name>". Both are seal-wrapped.
const (
	defaultApp = "default"
	appPrefix  = "apps/"
)

// appStorageKey is where the App called name is stored.
func appStorageKey(name string) string {
	if name == defaultApp {
		return configPath
	}
	return appPrefix + name
}

// appNameOfKey is the App a storage key holds, if it holds one.
func appNameOfKey(key string) (string, bool) {
	if key == configPath {
		return defaultApp, true
	}
	if name, ok := strings.CutPrefix(key, appPrefix); ok && name != "" {
		return name, true
	}
	return "", false
}

// checkAppName applies the rule of role names to App names.
func checkAppName(field, name string) string {
	if !roleNameRe.MatchString(name) {
		return fmt.Sprintf("%s: %s is not a valid App name: use letters, digits, '-' and '_', starting and ending with a letter, digit or '_', at most 128 characters", field, quoted(name))
	}
	return ""
}

// app is one GitHub App of the mount: its stored config, the client built
// from it (which caches the App JWT), its installation lookups and its
// metrics. Everything about App X lives here.
type app struct {
	name    string
	b       *backend
	metrics *appMetrics

	mu     sync.RWMutex // guards cfg, client and installs
	cfg    *appConfig
	client *github.Client
	// installs are client's installation lookups: made with it and dropped
	// with it, so a lookup, shared or cached, is only ever used with the
	// client (host, App, key) that made it.
	installs *installCache
}

// app returns the mount's App called name, making its (empty) record when
// there is none yet. The record loads its config on first use.
func (b *backend) app(name string) *app {
	b.appsMu.Lock()
	defer b.appsMu.Unlock()
	a := b.apps[name]
	if a == nil {
		a = &app{name: name, b: b, metrics: b.metrics.forApp(name)}
		b.apps[name] = a
	}
	return a
}

// existingApp returns the App record called name if one was made; it does
// not make one.
func (b *backend) existingApp(name string) *app {
	b.appsMu.Lock()
	defer b.appsMu.Unlock()
	return b.apps[name]
}

// forgetApp drops the record of an App whose config is gone, so that a
// stream of names that are not configured does not grow the map.
func (b *backend) forgetApp(a *app) {
	b.appsMu.Lock()
	if b.apps[a.name] == a {
		delete(b.apps, a.name)
	}
	b.appsMu.Unlock()
	a.reset()
}

// eachApp runs f on every App record.
func (b *backend) eachApp(f func(*app)) {
	b.appsMu.Lock()
	list := make([]*app, 0, len(b.apps))
	for _, a := range b.apps {
		list = append(list, a)
	}
	b.appsMu.Unlock()
	for _, a := range list {
		f(a)
	}
}

// clientFor returns the App's client and config, built once from storage
// and kept until the App's config changes.
func (b *backend) clientFor(ctx context.Context, s logical.Storage, name string) (*app, *github.Client, *appConfig, error) {
	a := b.app(name)
	c, cfg, err := a.getClient(ctx, s)
	if isNotConfigured(err) {
		b.forgetApp(a)
	}
	return a, c, cfg, err
}

// getClient returns the App's client, built from its stored config on first
// use (checked again under the write lock, in case another request built it
// meanwhile).
func (a *app) getClient(ctx context.Context, s logical.Storage) (*github.Client, *appConfig, error) {
	a.mu.RLock()
	c, cfg := a.client, a.cfg
	a.mu.RUnlock()
	if c != nil {
		return c, cfg, nil
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		return a.client, a.cfg, nil
	}
	cfg, err := loadAppConfig(ctx, s, a.name)
	if err != nil {
		return nil, nil, err
	}
	if cfg == nil {
		return nil, nil, appNotConfigured(a.name)
	}
	c, err = a.newClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	a.cfg, a.client, a.installs = cfg, c, newInstallCache(installationCacheTTL)
	return c, cfg, nil
}

// lookups returns the installation lookups of client, or nil (a cache that
// keeps nothing) when client is no longer the App's: the App's config
// changed since the request took it, and its answers are for its own host.
func (a *app) lookups(client *github.Client) *installCache {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if client == nil || a.client != client {
		return nil
	}
	return a.installs
}

// currentLookups returns the installation lookups of the App's current
// client; nil when it has none.
func (a *app) currentLookups() *installCache {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.installs
}

// reset forgets the App's config, client (and so its JWT) and installation
// lookups: its config was written, deleted or replicated. Other Apps keep
// theirs. Lookups still in flight finish into the forgotten cache, for the
// requests that hold the old client only.
func (a *app) reset() {
	a.mu.Lock()
	old := a.client
	a.cfg, a.client, a.installs = nil, nil, nil
	a.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
}

// closeIdle closes the idle connections of the App's client.
func (a *app) closeIdle() {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.client != nil {
		a.client.CloseIdleConnections()
	}
}

// newClient builds a client for cfg whose calls are counted under this App.
func (a *app) newClient(cfg *appConfig) (*github.Client, error) {
	return a.b.newClient(cfg, a.metrics.observeCall)
}

// loadAppConfig reads and parses the App's stored config; nil when there is
// none.
func loadAppConfig(ctx context.Context, s logical.Storage, name string) (*appConfig, error) {
	entry, err := s.Get(ctx, appStorageKey(name))
	if err != nil {
		return nil, fmt.Errorf("reading App %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	cfg := &appConfig{}
	if err := entry.DecodeJSON(cfg); err != nil {
		return nil, fmt.Errorf("decoding App %q: %w", name, err)
	}
	if cfg.key, err = github.ParsePrivateKey([]byte(cfg.PrivateKey)); err != nil {
		return nil, fmt.Errorf("App %q: stored private_key %w", name, err)
	}
	return cfg, nil
}

// appExists reports whether the App called name is stored.
func appExists(ctx context.Context, s logical.Storage, name string) (bool, error) {
	entry, err := s.Get(ctx, appStorageKey(name))
	if err != nil {
		return false, fmt.Errorf("reading App %q: %w", name, err)
	}
	return entry != nil, nil
}

// listApps names the stored Apps, sorted; "default" when config exists.
func listApps(ctx context.Context, s logical.Storage) ([]string, error) {
	names, err := s.List(ctx, appPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing Apps: %w", err)
	}
	ok, err := appExists(ctx, s, defaultApp)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names)+1)
	if ok {
		out = append(out, defaultApp)
	}
	for _, n := range names {
		if !strings.HasSuffix(n, "/") && n != defaultApp {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}
