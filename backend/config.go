package backend

import (
	"crypto/rsa"
	"fmt"
	"time"
)

const (
	configPath = "config"

	defaultExpiryBuffer = 5 * time.Minute
	// maxTokenLife is how long GitHub installation tokens live; a ttl or
	// buffer at or beyond it can never produce a lease.
	maxTokenLife = time.Hour
)

// appConfig is one App's stored config (app.go says where). The key is stored as PEM (seal-wrapped)
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

	// The App's ceiling (scope.go); nil: everything the App was granted.
	MaxPermissions     map[string]string `json:"max_permissions,omitempty"`
	DefaultPermissions map[string]string `json:"default_permissions,omitempty"`

	key *rsa.PrivateKey `json:"-"`
}

func (c *appConfig) identity() string {
	if c.ClientID != "" {
		return "client_id " + c.ClientID
	}
	return fmt.Sprintf("app_id %d", c.AppID)
}
