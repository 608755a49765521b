package backend

import (
	"context"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

const (
	configPath = "config"

	defaultExpiryBuffer = 5 * time.Minute
	// maxTokenLife is how long GitHub installation tokens live; a ttl or
	// buffer at or beyond it can never produce a lease.
	maxTokenLife = time.Hour
)

// appConfig is the stored config. The key is stored as PEM (seal-wrapped)
// and parsed once into key when loaded.
type appConfig struct {
	AppID      int64  `json:"app_id,omitempty"`
	ClientID   string `json:"client_id,omitempty"`
	PrivateKey string `json:"private_key"`
	BaseURL    string `json:"base_url"`
	// CACertificate (PEM), when set, is the only CA this mount's client
	// trusts: a GitHub Enterprise Server with a private CA, without
	// touching the plugin process's trust (shared by every mount).
	CACertificate string        `json:"ca_certificate,omitempty"`
	ExpiryBuffer  time.Duration `json:"expiry_buffer"`
	AppSlug       string        `json:"app_slug,omitempty"`
	AppName       string        `json:"app_name,omitempty"`

	// The mount-wide ceiling (scope.go); nil: everything the App was granted.
	MaxPermissions     map[string]string `json:"max_permissions,omitempty"`
	DefaultPermissions map[string]string `json:"default_permissions,omitempty"`

	key *rsa.PrivateKey `json:"-"`
}

// loadConfig reads and parses the stored config; nil when there is none.
func loadConfig(ctx context.Context, s logical.Storage) (*appConfig, error) {
	entry, err := s.Get(ctx, configPath)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	cfg := &appConfig{}
	if err := entry.DecodeJSON(cfg); err != nil {
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	if cfg.key, err = github.ParsePrivateKey([]byte(cfg.PrivateKey)); err != nil {
		return nil, fmt.Errorf("stored private_key %w", err)
	}
	return cfg, nil
}

func (c *appConfig) identity() string {
	if c.ClientID != "" {
		return "client_id " + c.ClientID
	}
	return fmt.Sprintf("app_id %d", c.AppID)
}
