package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

const secretTokenType = "github_installation_token"

func secretToken(b *backend) *framework.Secret {
	return &framework.Secret{
		Type: secretTokenType,
		Fields: map[string]*framework.FieldSchema{
			"token":                {Type: framework.TypeString, Description: "The installation access token.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
			"expires_at":           {Type: framework.TypeString, Description: "When GitHub expires the token (RFC 3339)."},
			"installation_id":      {Type: framework.TypeInt64, Description: "The installation the token is for."},
			"permissions":          {Type: framework.TypeMap, Description: "The token's permissions."},
			"repositories":         {Type: framework.TypeStringSlice, Description: "Names of the repositories the token covers; empty when it covers the whole installation."},
			"repository_selection": {Type: framework.TypeString, Description: "all or selected."},
			"hashed_token":         {Type: framework.TypeString, Description: "Base64 SHA-256 of the token, as GitHub's audit log shows it."},
		},
		// No Renew: a GitHub token cannot be extended, so the lease is not
		// renewable; Vault Agent reads a new token instead.
		Revoke: b.revokeToken,
	}
}

// revokeToken revokes the lease's token at GitHub. It uses only the lease's
// internal data, so it works after the role (or the config) is gone. A
// failure is returned so that Vault retries.
func (b *backend) revokeToken(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	token, _ := req.Secret.InternalData["token"].(string)
	baseURL, _ := req.Secret.InternalData["base_url"].(string)
	if token == "" {
		return nil, errors.New("lease has no token in its internal data")
	}
	if baseURL == "" {
		// Never guess the host: a token goes only to the GitHub that issued it.
		b.Logger().Error("lease has no base_url in its internal data; not revoking rather than sending the token to a guessed host", "hashed_token", github.HashToken(token), "role", req.Secret.InternalData["role"])
		return nil, fmt.Errorf("revoking token %s: the lease does not say which GitHub issued it", github.HashToken(token))
	}
	ca, _ := req.Secret.InternalData["ca_certificate"].(string)
	appName, _ := req.Secret.InternalData["app"].(string)
	if appName == "" {
		appName = defaultApp // a lease from v0.1.x
	}
	m := b.metrics.forApp(appName)
	client, own, err := b.revocationClient(ctx, req.Storage, appName, baseURL, ca, m)
	if err != nil {
		return nil, err
	}
	if own {
		defer client.CloseIdleConnections()
	}
	hashed := github.HashToken(token)
	if err := client.RevokeToken(ctx, token); err != nil {
		m.revoked(false)
		b.Logger().Warn("revoking token at GitHub failed; Vault will retry", "hashed_token", hashed, "error", err)
		return nil, fmt.Errorf("revoking token %s at GitHub: %w", hashed, err)
	}
	m.revoked(true)
	b.Logger().Debug("revoked token", "hashed_token", hashed, "app", appName, "role", req.Secret.InternalData["role"])
	return nil, nil
}

// revocationClient is the lease's App's client when that App still talks
// to the lease's GitHub with the lease's CA, or else a client without App
// credentials for that base URL and CA (revocation authenticates with the
// token itself), so a lease outlives its App; own reports the latter,
// whose connections the caller closes.
func (b *backend) revocationClient(ctx context.Context, s logical.Storage, appName, baseURL, ca string, m *appMetrics) (c *github.Client, own bool, err error) {
	if checkAppName("app", appName) == "" {
		if _, c, cfg, err := b.clientFor(ctx, s, appName); err == nil && c.BaseURL() == baseURL && cfg.CACertificate == ca {
			return c, false, nil
		}
	}
	c, err = b.newClient(&appConfig{BaseURL: baseURL, CACertificate: ca}, m.observeCall)
	return c, err == nil && ca != "", err // without a CA it shares the mount's transport
}

// detachedRevokeTimeout bounds the revocation of a token that has no lease.
const detachedRevokeTimeout = 30 * time.Second

// maxDetachedRevocations bounds how many revocations of tokens without a
// lease run at once, per mount.
const maxDetachedRevocations = 16

// revocations runs the revocations of tokens without a lease in the
// background, at most cap(slots) at once: each holds a slot until it ends.
// Clean waits for them.
type revocations struct {
	slots chan struct{}
}

func newRevocations(n int) *revocations {
	return &revocations{slots: make(chan struct{}, n)}
}

// wait returns when every revocation started before it has ended (each
// within detachedRevokeTimeout): it takes every slot, then gives them back.
func (r *revocations) wait() {
	for range cap(r.slots) {
		r.slots <- struct{}{}
	}
	for range cap(r.slots) {
		<-r.slots
	}
}

// createToken mints through client. A 2xx answer that carried a token the
// client cannot use (github.UnusableToken: no expires_at) is an error, and
// its token is revoked (in the background, counted under reason) rather
// than left alive at GitHub.
func (a *app) createToken(ctx context.Context, client *github.Client, installationID int64, tr github.TokenRequest, reason string) (*github.Token, error) {
	tok, err := client.CreateToken(ctx, installationID, tr)
	if unusable := github.UnusableToken(err); unusable != "" {
		a.revokeDetached(ctx, client, unusable, reason, installationID)
	}
	return tok, err
}

// revokeDetached revokes a token that has no lease (a probe that resolved
// repository ids, a role check's tokens, a token minted too short for a
// lease or in an answer it cannot be used from) in the background, on a context of its own: the caller neither
// waits for GitHub nor can, by going away, leave the token alive. It
// returns at once, unless maxDetachedRevocations are running already: then
// it waits for one to end. A failure is counted under reason and logged
// with the token's hash only. The channel reports whether GitHub confirmed
// the revocation, for a caller that reports it (the check).
func (a *app) revokeDetached(ctx context.Context, client *github.Client, token, reason string, installationID int64) <-chan bool {
	r := a.b.revocations
	done := make(chan bool, 1)
	r.slots <- struct{}{}
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer func() { <-r.slots }()
		ctx, cancel := context.WithTimeout(ctx, detachedRevokeTimeout)
		defer cancel()
		err := client.RevokeToken(ctx, token)
		if err != nil {
			a.metrics.unleasedRevokeFailed(reason)
			a.b.Logger().Warn("revoking a token that has no lease failed; it lives at GitHub until it expires", "reason", reason, "app", a.name, "installation_id", installationID, "hashed_token", github.HashToken(token), "error", err)
		}
		done <- err == nil
	}()
	return done
}
