package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// checkRole tries a role the way a session's first mint would, without a
// lease: scope decides for it as for a mint, except that the role's
// installation is looked up at GitHub anew rather than taken from the
// cache (the answer is cached for the mints after it). On that decision
// only, it reads the installation (GET /app/installations/{id}) for what
// it was granted, mints a token with exactly the decided scope and revokes
// it at once.
//
// A refusal (GitHub's, or the App's missing) is a 400 that names the field
// it concerns.
func (b *backend) checkRole(ctx context.Context, s logical.Storage, roleName string, stored *role) (map[string]any, error) {
	d, err := b.scope(ctx, s, forCheck, roleName, stored, nil, nil)
	if err != nil {
		return nil, err
	}
	a, client, tr := d.app, d.client, d.request

	what := fmt.Sprintf("to read installation %d", d.installationID)
	if stored.InstallationID > 0 {
		what = "to find the installation for " + stored.selector()
	}
	inst, err := client.Installation(ctx, d.installationID)
	if err != nil {
		return nil, a.checkRefusal("installation_id", what, err, nil)
	}

	warnings := grantWarnings(tr.Permissions, inst)
	tok, err := a.createToken(ctx, client, d.installationID, tr, "check")
	if err != nil {
		field := "permissions"
		if strings.Contains(strings.ToLower(apiMessage(err)), "repositor") {
			field = "repositories"
			// GitHub's 422 does not say which: a check exists to name it.
			if missing := a.unreachable(ctx, client, inst.ID, tr); len(missing) > 0 {
				warnings = append([]string{fmt.Sprintf("installation %d (%s) cannot reach %s", inst.ID, inst.Account.Login, strings.Join(missing, ", "))}, warnings...)
			}
		}
		return nil, a.checkRefusal(field, fmt.Sprintf("to mint a token for installation %d with %s", inst.ID, describeScope(tr)), err, warnings)
	}
	// The check reports whether GitHub confirmed the revocation: it waits
	// for it (its probe above does not).
	revoked := <-a.revokeDetached(ctx, client, tok.Token, "check", d.installationID)
	if !revoked {
		warnings = append(warnings, fmt.Sprintf("the check's token could not be revoked; it expires at GitHub at %s", tok.ExpiresAt.Format(time.RFC3339)))
	}

	repos := make([]map[string]any, len(tok.Repositories))
	for i, name := range tok.Repositories {
		repos[i] = map[string]any{"name": name, "id": tok.RepositoryIDs[i]}
	}
	return map[string]any{
		"app":                  a.name,
		"installation_id":      inst.ID,
		"account":              inst.Account.Login,
		"account_type":         inst.Account.Type,
		"repositories":         repos,
		"permissions":          tok.Permissions,
		"repository_selection": tok.RepositorySelection,
		"warnings":             nonNil(warnings),
		"revoked":              revoked,
	}, nil
}

// checkRefusal turns a GitHub error met by a role check into the check's
// answer: GitHub's refusals are a 400 that names field (or "app" when
// GitHub refused the App's own credentials) with GitHub's message and the
// warnings known so far; anything else is answered as a mint's failure
// would be.
func (a *app) checkRefusal(field, what string, err error, warnings []string) error {
	var moved *movedError
	if errors.As(err, &moved) {
		return badRequest("%s", moved.Error())
	}
	status := githubStatus(err)
	switch {
	case github.IsAppRefused(err) && !github.IsSuspended(err):
		return badRequest("app: GitHub refused the credentials of App %q %s (HTTP %d): %s", a.name, what, status, apiMessage(err))
	case status == http.StatusNotFound || status == http.StatusUnprocessableEntity || status == http.StatusForbidden:
		msg := fmt.Sprintf("%s: GitHub refused %s (HTTP %d): %s", field, what, status, apiMessage(err))
		if len(warnings) > 0 {
			msg += "; " + strings.Join(warnings, "; ")
		}
		return badRequest("%s", msg)
	}
	return a.githubFailure(what, err)
}

// selectorField is the role field that chose the installation.
func selectorField(r *role) string {
	switch {
	case r.Owner != "":
		return "owner"
	case r.Repository != "":
		return "repository"
	}
	return "installation_id"
}

// grantWarnings compares the permissions a role asks for with those the
// installation was granted: a name it lacks, or a level above its own.
func grantWarnings(asked map[string]string, inst *github.Installation) []string {
	var out []string
	for _, name := range sortedKeys(asked) {
		granted, ok := inst.Permissions[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("permissions: the role asks for %s=%s, which installation %d (%s) was not granted", name, asked[name], inst.ID, inst.Account.Login))
		case permissionLevels[asked[name]] > permissionLevels[granted]:
			out = append(out, fmt.Sprintf("permissions: the role asks for %s=%s, above installation %d's %s=%s", name, asked[name], inst.ID, name, granted))
		}
	}
	return out
}

// unreachable names the repositories of tr (names, then ids) that
// installation id cannot reach, by listing what it can reach with a
// metadata=read token of its own (GET /installation/repositories, every
// page), revoked at once. It is nil when the list cannot be read.
func (a *app) unreachable(ctx context.Context, client *github.Client, id int64, tr github.TokenRequest) []string {
	probe, err := a.createToken(ctx, client, id, github.TokenRequest{Permissions: map[string]string{"metadata": "read"}}, "check")
	if err != nil {
		return nil
	}
	repos, err := client.TokenRepositories(ctx, probe.Token)
	a.revokeDetached(ctx, client, probe.Token, "check", id)
	if err != nil {
		return nil
	}
	names, ids := map[string]bool{}, map[int64]bool{}
	for _, r := range repos {
		names[strings.ToLower(r.Name)], ids[r.ID] = true, true
	}
	var out []string
	for _, n := range tr.Repositories {
		if !names[strings.ToLower(n)] {
			out = append(out, quoted(n))
		}
	}
	for _, i := range tr.RepositoryIDs {
		if !ids[i] {
			out = append(out, fmt.Sprintf("repository id %d", i))
		}
	}
	return out
}
