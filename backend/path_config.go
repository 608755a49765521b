package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

const (
	pathConfigHelpSyn  = "Configure the GitHub App: its id, private key and API URL."
	pathConfigHelpDesc = `
Writes the GitHub App's identity (app_id or client_id) and private key
(PKCS#1 or PKCS#8 PEM, or base64 of it). Before anything is stored the
credentials are checked with GET /app. The key is seal-wrapped and never
returned: a read shows the public key's SHA-256 fingerprint and the App's
slug instead. For GitHub Enterprise Server set base_url to
https://HOST/api/v3. Partial updates keep the fields that are not sent.
`
)

func pathConfig(b *backend) []*framework.Path {
	paths := []*framework.Path{{
		Pattern: configPath,
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
		},
		Fields: map[string]*framework.FieldSchema{
			"app_id": {
				Type:        framework.TypeInt64,
				Description: "The GitHub App's numeric id. Needed unless client_id is set.",
			},
			"client_id": {
				Type:        framework.TypeString,
				Description: "The GitHub App's client id (Iv1.… or Iv23…). When set it is the App JWT's issuer.",
			},
			"private_key": {
				Type:         framework.TypeString,
				Description:  "The App's private key: RSA, at least 2048 bits, PKCS#1 or PKCS#8 PEM (or base64 of the PEM). Never returned.",
				DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
			},
			"base_url": {
				Type:        framework.TypeString,
				Description: "GitHub REST API URL. GitHub Enterprise Server: https://HOST/api/v3.",
				Default:     github.DefaultBaseURL,
			},
			"ca_certificate": {
				Type:        framework.TypeString,
				Description: "PEM CA certificate(s) this mount alone trusts for base_url (a GitHub Enterprise Server with a private CA); when set, only these are trusted. Empty: the system's roots.",
			},
			"expiry_buffer": {
				Type:        framework.TypeDurationSecond,
				Description: "How long before the token's expires_at its lease ends, so Vault Agent re-reads in time. Roles may override it.",
				Default:     int(defaultExpiryBuffer.Seconds()),
			},
		},
		ExistenceCheck: b.configExists,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathConfigRead,
				Summary:      "Read the App configuration (never the key).",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read", OperationSuffix: "configuration"},
			},
			logical.CreateOperation: &framework.PathOperation{
				Callback:     b.pathConfigWrite,
				Summary:      "Configure the GitHub App, checking the credentials with GitHub first.",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "configure"},
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback:     b.pathConfigWrite,
				Summary:      "Configure the GitHub App, checking the credentials with GitHub first.",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "configure"},
			},
			logical.DeleteOperation: &framework.PathOperation{
				Callback:     b.pathConfigDelete,
				Summary:      "Delete the App configuration. Existing leases are still revoked at GitHub.",
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "delete", OperationSuffix: "configuration"},
			},
		},
		HelpSynopsis:    pathConfigHelpSyn,
		HelpDescription: pathConfigHelpDesc,
	}}
	for k, f := range ceilingFields() {
		paths[0].Fields[k] = f
	}
	return paths
}

// operationPrefix names the engine in Vault's OpenAPI operation ids.
const operationPrefix = "github-app"

func (b *backend) configExists(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
	entry, err := req.Storage.Get(ctx, configPath)
	if err != nil {
		return false, fmt.Errorf("reading config: %w", err)
	}
	return entry != nil, nil
}

func (b *backend) pathConfigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := loadConfig(ctx, req.Storage)
	if err != nil || cfg == nil {
		return nil, err
	}
	data := map[string]any{
		"app_id":          cfg.AppID,
		"client_id":       cfg.ClientID,
		"base_url":        cfg.BaseURL,
		"ca_certificate":  cfg.CACertificate,
		"expiry_buffer":   cfg.ExpiryBuffer.String(),
		"app_slug":        cfg.AppSlug,
		"app_name":        cfg.AppName,
		"key_fingerprint": github.Fingerprint(&cfg.key.PublicKey),
	}
	ceilingData(cfg, data)
	return &logical.Response{Data: data}, nil
}

func (b *backend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	cfg, err := loadConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &appConfig{BaseURL: github.DefaultBaseURL, ExpiryBuffer: defaultExpiryBuffer}
	} else if msg := needsKey(cfg, d); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	if msg := mergeConfig(cfg, d); msg != "" {
		return logical.ErrorResponse(msg), nil
	}

	// Check the credentials with GitHub before anything is stored.
	client, err := b.newClient(cfg)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	app, err := client.App(ctx)
	if err != nil {
		var apiErr *github.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized {
			return logical.ErrorResponse("GitHub rejected the App credentials (%s): %s", cfg.identity(), apiErr.Message), nil
		}
		return b.githubFailure(fmt.Sprintf("to check the App credentials (%s)", cfg.identity()), err)
	}
	if cfg.AppID != 0 && app.ID != 0 && app.ID != cfg.AppID {
		return logical.ErrorResponse("app_id: %d does not match the App GitHub knows for these credentials (id %d)", cfg.AppID, app.ID), nil
	}
	if cfg.AppID == 0 {
		cfg.AppID = app.ID
	}
	cfg.AppSlug, cfg.AppName = app.Slug, app.Name

	entry, err := logical.StorageEntryJSON(configPath, cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing config: %w", err)
	}
	b.resetClient()
	b.Logger().Info("App configured", "app_id", cfg.AppID, "app_slug", cfg.AppSlug, "base_url", cfg.BaseURL)
	return nil, nil
}

// needsKey refuses a write that would send an App JWT signed with the
// stored key somewhere new: a change of base_url, app_id, client_id or
// ca_certificate must
// bring private_key in the same write. Whoever holds the key gains nothing
// from this; whoever does not cannot have Vault sign a credential for a host
// of their choosing (the check with GET /app would hand it over).
func needsKey(stored *appConfig, d *framework.FieldData) string {
	if _, ok := d.Raw["private_key"]; ok {
		return ""
	}
	var changed []string
	if raw, ok := d.Raw["base_url"]; ok {
		if s, isString := raw.(string); !isString || !sameBaseURL(s, stored.BaseURL) {
			changed = append(changed, "base_url")
		}
	}
	if raw, ok := d.Raw["app_id"]; ok {
		if id, msg := parseID("app_id", raw); msg != "" || id != stored.AppID {
			changed = append(changed, "app_id")
		}
	}
	if raw, ok := d.Raw["client_id"]; ok {
		if s, isString := raw.(string); !isString || s != stored.ClientID {
			changed = append(changed, "client_id")
		}
	}
	if raw, ok := d.Raw["ca_certificate"]; ok {
		// A new CA decides which server the JWT is sent to just as much.
		if s, isString := raw.(string); !isString || strings.TrimSpace(s) != stored.CACertificate {
			changed = append(changed, "ca_certificate")
		}
	}
	if len(changed) == 0 {
		return ""
	}
	return fmt.Sprintf("private_key: changing %s needs private_key in the same write; the stored key is never used to sign for new credentials or a new host", strings.Join(changed, ", "))
}

func sameBaseURL(sent, stored string) bool {
	u, err := github.NormalizeBaseURL(sent)
	return err == nil && u == stored
}

// mergeConfig applies the request's fields to cfg and validates the result.
// It returns a message naming the bad field, or "".
func mergeConfig(cfg *appConfig, d *framework.FieldData) string {
	if raw, ok := d.Raw["app_id"]; ok {
		id, msg := parseID("app_id", raw)
		if msg != "" {
			return msg
		}
		cfg.AppID = id
	}
	if raw, ok := d.GetOk("client_id"); ok {
		id := raw.(string)
		if !validClientID(id) {
			return "client_id: must be the App's client id: letters, digits and '.', at most 64 characters"
		}
		cfg.ClientID = id
	}
	if cfg.AppID == 0 && cfg.ClientID == "" {
		return "app_id: one of app_id or client_id is required"
	}
	if raw, ok := d.GetOk("private_key"); ok {
		key, err := github.ParsePrivateKey([]byte(raw.(string)))
		if err != nil {
			return "private_key: " + err.Error()
		}
		cfg.PrivateKey, cfg.key = raw.(string), key
	}
	if cfg.key == nil {
		return "private_key: is required"
	}
	if raw, ok := d.GetOk("base_url"); ok {
		u, err := github.NormalizeBaseURL(raw.(string))
		if err != nil {
			return "base_url: " + err.Error()
		}
		cfg.BaseURL = u
	}
	if raw, ok := d.Raw["ca_certificate"]; ok {
		pemText := strings.TrimSpace(raw.(string))
		if pemText != "" {
			if _, err := github.CertPoolFromPEM([]byte(pemText)); err != nil {
				return "ca_certificate: " + err.Error()
			}
		}
		cfg.CACertificate = pemText
	}
	if raw, ok := d.Raw["expiry_buffer"]; ok {
		buf, set, msg := parseBuffer(raw)
		if msg != "" {
			return msg
		}
		cfg.ExpiryBuffer = defaultExpiryBuffer
		if set {
			cfg.ExpiryBuffer = buf
		}
	}
	return mergeCeiling(cfg, d)
}

func validClientID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.') {
			return false
		}
	}
	return true
}

// parseBuffer reads an expiry_buffer; set is false for "" (the default).
func parseBuffer(raw any) (buf time.Duration, set bool, msg string) {
	buf, set, msg = parseDuration("expiry_buffer", raw)
	if msg == "" && (buf < 0 || buf >= maxTokenLife) {
		msg = fmt.Sprintf("expiry_buffer: must be at least 0 and less than %s (a token's life), got %s", maxTokenLife, buf)
	}
	return buf, set, msg
}

func (b *backend) pathConfigDelete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if err := req.Storage.Delete(ctx, configPath); err != nil {
		return nil, fmt.Errorf("deleting config: %w", err)
	}
	b.resetClient()
	return nil, nil
}
