package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

const (
	pathConfigHelpSyn  = "Configure the GitHub App \"default\" (also apps/default): its id, private key and API URL."
	pathConfigHelpDesc = `
Writes the GitHub App's identity (app_id or client_id) and private key
(PKCS#1 or PKCS#8 PEM, or base64 of it). Before anything is stored the
credentials are checked with GET /app. The key is seal-wrapped and never
returned: a read shows the public key's SHA-256 fingerprint and the App's
slug instead. For GitHub Enterprise Server set base_url to
https://HOST/api/v3. Partial updates keep the fields that are not sent.
`
)

// appFields are the fields an App is written with, at config (the App
// "default") and at apps/<name>.
func appFields() map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{
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
			Description: "PEM CA certificate(s) this App's client alone trusts for base_url (a GitHub Enterprise Server with a private CA); when set, only these are trusted. Empty: the system's roots.",
		},
		"expiry_buffer": {
			Type:        framework.TypeDurationSecond,
			Description: "How long before the token's expires_at its lease ends, so Vault Agent re-reads in time. Roles may override it.",
			Default:     int(defaultExpiryBuffer.Seconds()),
		},
	}
	for k, f := range ceilingFields() { // scope.go: the App's ceiling
		fields[k] = f
	}
	return fields
}

// appOperations are the operations on one App; config and apps/<name> share
// them, config being the App "default". name tells the App of a request.
func (b *backend) appOperations(name func(*framework.FieldData) string, suffix string) map[logical.Operation]framework.OperationHandler {
	with := func(f func(context.Context, *logical.Request, string, *framework.FieldData) (*logical.Response, error)) framework.OperationFunc {
		return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
			n := name(d)
			if err := invalid(checkAppName("name", n)); err != nil {
				return nil, err
			}
			return f(ctx, req, n, d)
		}
	}
	return map[logical.Operation]framework.OperationHandler{
		logical.ReadOperation: &framework.PathOperation{
			Callback:     with(b.pathAppRead),
			Summary:      "Read an App's configuration (never the key).",
			DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read", OperationSuffix: suffix},
		},
		logical.CreateOperation: &framework.PathOperation{
			Callback:     with(b.pathAppWrite),
			Summary:      "Configure an App, checking the credentials with GitHub first.",
			DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "configure", OperationSuffix: suffix},
		},
		logical.UpdateOperation: &framework.PathOperation{
			Callback:     with(b.pathAppWrite),
			Summary:      "Configure an App, checking the credentials with GitHub first.",
			DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "configure", OperationSuffix: suffix},
		},
		logical.DeleteOperation: &framework.PathOperation{
			Callback:     with(b.pathAppDelete),
			Summary:      "Delete an App's configuration; refused while roles use it. Existing leases are still revoked at GitHub.",
			DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "delete", OperationSuffix: suffix},
		},
	}
}

func pathConfig(b *backend) []*framework.Path {
	defaultName := func(*framework.FieldData) string { return defaultApp }
	return []*framework.Path{b.parsedBy(appParser, &framework.Path{
		Pattern: configPath,
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
		},
		Fields: appFields(),
		ExistenceCheck: func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
			return appExists(ctx, req.Storage, defaultApp)
		},
		Operations:      b.appOperations(defaultName, "configuration"),
		HelpSynopsis:    pathConfigHelpSyn,
		HelpDescription: pathConfigHelpDesc,
	})}
}

const (
	pathAppsHelpSyn  = "Configure the mount's GitHub Apps by name; config is the App \"default\"."
	pathAppsHelpDesc = `
apps/<name> holds one GitHub App: the fields of config (app_id or client_id,
private_key, base_url, ca_certificate, expiry_buffer). The App "default" is
config itself. Roles, the token path and installations choose an App with
app (default "default"). Each App has its own client, JWT and installation
lookups; writing or deleting one leaves the others alone. An App that roles
or bounds use cannot be deleted, nor given another base_url or app_id (its
private_key can be rotated). Names follow the rule of role names.
`
)

func pathApps(b *backend) []*framework.Path {
	fields := appFields()
	fields["name"] = &framework.FieldSchema{
		Type:        framework.TypeString,
		Description: "App name: letters, digits, '-' and '_', starting and ending with a letter, digit or '_', at most 128 characters. \"default\" is config.",
		Required:    true,
	}
	named := func(d *framework.FieldData) string { return fieldString(d, "name") }
	return []*framework.Path{
		{
			Pattern: appPrefix + "?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "apps",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     b.pathAppsList,
					Summary:      "List the Apps (default when config is written).",
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
				},
			},
			HelpSynopsis:    pathAppsHelpSyn,
			HelpDescription: pathAppsHelpDesc,
		},
		b.parsedBy(appParser, &framework.Path{
			Pattern: appPrefix + namePattern,
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
			},
			Fields: fields,
			ExistenceCheck: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
				name := named(d)
				if checkAppName("name", name) != "" {
					return false, nil
				}
				return appExists(ctx, req.Storage, name)
			},
			Operations:      b.appOperations(named, "app"),
			HelpSynopsis:    pathAppsHelpSyn,
			HelpDescription: pathAppsHelpDesc,
		}),
	}
}

func (b *backend) pathAppsList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := listApps(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

// operationPrefix names the engine in Vault's OpenAPI operation ids.
const operationPrefix = "github-app"

func (b *backend) pathAppRead(ctx context.Context, req *logical.Request, name string, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := loadAppConfig(ctx, req.Storage, name)
	if err != nil || cfg == nil {
		return nil, err
	}
	data := map[string]any{
		"name":            name,
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

func (b *backend) pathAppWrite(ctx context.Context, req *logical.Request, name string, _ *framework.FieldData) (*logical.Response, error) {
	q, err := requestOf[*appRequest](ctx)
	if err != nil {
		return nil, err
	}
	// Role and bound writes wait (and this write waits for them) from the
	// read of the stored App to the store: see backend.identity.
	b.identity.Lock()
	defer b.identity.Unlock()
	cfg, err := loadAppConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	var stored *appConfig
	if cfg == nil {
		cfg = &appConfig{BaseURL: github.DefaultBaseURL, ExpiryBuffer: defaultExpiryBuffer}
	} else if err := invalid(needsKey(cfg, q)); err != nil {
		return nil, err
	} else {
		copied := *cfg
		stored = &copied
	}
	if err := invalid(mergeConfig(cfg, q)); err != nil {
		return nil, err
	}
	if stored != nil {
		if err := b.identityInUse(ctx, req.Storage, name, stored, cfg); err != nil {
			return nil, err
		}
	}

	// Check the credentials with GitHub before anything is stored.
	a := b.app(name)
	client, err := a.newClient(cfg)
	if err != nil {
		return nil, badRequest("%s", err)
	}
	if cfg.CACertificate != "" {
		// This client's transport is its own (backend.newClient): close
		// its connections. Without a CA it shares the mount's pool.
		defer client.CloseIdleConnections()
	}
	app, err := client.App(ctx)
	if err != nil {
		var apiErr *github.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized {
			return nil, badRequest("GitHub rejected the App credentials (%s): %s", cfg.identity(), apiErr.Message)
		}
		return nil, a.githubFailure(fmt.Sprintf("to check the App credentials (%s)", cfg.identity()), err)
	}
	if cfg.AppID != 0 && app.ID != 0 && app.ID != cfg.AppID {
		return nil, badRequest("app_id: %d does not match the App GitHub knows for these credentials (id %d)", cfg.AppID, app.ID)
	}
	if cfg.AppID == 0 {
		cfg.AppID = app.ID
	}
	cfg.AppSlug, cfg.AppName = app.Slug, app.Name

	entry, err := logical.StorageEntryJSON(appStorageKey(name), cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding App %q: %w", name, err)
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing App %q: %w", name, err)
	}
	a.reset()
	b.Logger().Info("App configured", "app", name, "app_id", cfg.AppID, "app_slug", cfg.AppSlug, "base_url", cfg.BaseURL)
	return nil, nil
}

// needsKey refuses a write that would send an App JWT signed with the
// stored key somewhere new: a change of base_url, app_id, client_id or
// ca_certificate must bring private_key in the same write. Whoever holds
// the key gains nothing from this; whoever does not cannot have Vault sign
// a credential for a host of their choosing (the check with GET /app would
// hand it over).
func needsKey(stored *appConfig, q *appRequest) string {
	if q.keySent {
		return ""
	}
	var changed []string
	if q.baseURLSent && !sameBaseURL(q.baseURL, stored.BaseURL) {
		changed = append(changed, "base_url")
	}
	if q.appIDSent && q.appID != stored.AppID {
		changed = append(changed, "app_id")
	}
	if q.clientIDSent && q.clientID != stored.ClientID {
		changed = append(changed, "client_id")
	}
	if q.caSent && q.caCertificate != stored.CACertificate {
		// A new CA decides which server the JWT is sent to just as much.
		changed = append(changed, "ca_certificate")
	}
	if len(changed) == 0 {
		return ""
	}
	return fmt.Sprintf("private_key: changing %s needs private_key in the same write; the stored key is never used to sign for new credentials or a new host", strings.Join(changed, ", "))
}

// sameBaseURL compares a normalised base URL with a stored one.
func sameBaseURL(normalised, stored string) bool {
	u, err := github.NormalizeBaseURL(stored)
	return err == nil && u == normalised
}

// mergeConfig applies the parsed request to cfg and validates the result.
// It returns a message naming the bad field, or "".
func mergeConfig(cfg *appConfig, q *appRequest) string {
	if q.appIDSent {
		cfg.AppID = q.appID
	}
	if q.clientIDSent {
		cfg.ClientID = q.clientID
	}
	if cfg.AppID == 0 && cfg.ClientID == "" {
		return "app_id: one of app_id or client_id is required"
	}
	if q.keySent {
		cfg.PrivateKey, cfg.key = q.privateKey, q.key
	}
	if cfg.key == nil {
		return "private_key: is required"
	}
	if q.baseURLSent {
		cfg.BaseURL = q.baseURL
	}
	if q.caSent {
		cfg.CACertificate = q.caCertificate
	}
	if q.bufferSent {
		cfg.ExpiryBuffer = q.expiryBuffer
	}
	if q.maxSent {
		cfg.MaxPermissions = q.maxPermissions
	}
	if q.defaultsSent {
		cfg.DefaultPermissions = q.defaultPermissions
	}
	if err := within(cfg.DefaultPermissions, cfg.MaxPermissions, "max_permissions"); err != nil {
		return "default_permissions: " + strings.TrimPrefix(err.Error(), logical.ErrPermissionDenied.Error()+": ")
	}
	return ""
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

func (b *backend) pathAppDelete(ctx context.Context, req *logical.Request, name string, _ *framework.FieldData) (*logical.Response, error) {
	b.identity.Lock()
	defer b.identity.Unlock()
	users, err := b.appUsers(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if len(users) > 0 {
		return nil, badRequest("app: App %q is still used by %s; delete them or move them to another App first", name, strings.Join(users, ", "))
	}
	if err := req.Storage.Delete(ctx, appStorageKey(name)); err != nil {
		return nil, fmt.Errorf("deleting App %q: %w", name, err)
	}
	if a := b.existingApp(name); a != nil {
		b.forgetApp(a)
	}
	return nil, nil
}

// identityInUse refuses to make the App called name another App (another
// host, or another app_id) while roles or bounds use it: their
// installation ids, owners and repositories mean something on one host for
// one App only, and on another they may be another account's. A new key
// for the same App (rotation), a new ca_certificate or expiry_buffer is
// fine. It is checked before GitHub is called.
func (b *backend) identityInUse(ctx context.Context, s logical.Storage, name string, stored, cfg *appConfig) error {
	var changed []string
	if u, err := github.NormalizeBaseURL(stored.BaseURL); err != nil || u != cfg.BaseURL {
		changed = append(changed, "base_url")
	}
	if stored.AppID != 0 && cfg.AppID != stored.AppID {
		changed = append(changed, "app_id")
	}
	if stored.AppID == 0 && cfg.ClientID != stored.ClientID {
		changed = append(changed, "client_id") // no app_id known: the client id is the App
	}
	if len(changed) == 0 {
		return nil
	}
	users, err := b.appUsers(ctx, s, name)
	if err != nil || len(users) == 0 {
		return err
	}
	return badRequest("%s: App %q is still used by %s; its host and app_id cannot change while roles or bounds use it (their installations are this App's on this host), but its private_key can; write the other App as apps/<new name> and move them, or delete them first", strings.Join(changed, ", "), name, strings.Join(users, ", "))
}

// appUsers names what still uses the App: "role <name>" for each role and
// "bound <name>" for each bound.
func (b *backend) appUsers(ctx context.Context, s logical.Storage, name string) ([]string, error) {
	roles, err := b.roles.where(ctx, s, func(r *role) bool { return r.appName() == name })
	if err != nil {
		return nil, err
	}
	bounds, err := b.bounds.where(ctx, s, func(bd *bound) bool { return bd.appName() == name })
	if err != nil {
		return nil, err
	}
	var users []string
	for _, rn := range roles {
		users = append(users, "role "+strconv.Quote(rn))
	}
	for _, bn := range bounds {
		users = append(users, "bound "+strconv.Quote(bn))
	}
	return users, nil
}
