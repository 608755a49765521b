package backend

// The App's bot identity for commits, carried in every token answer:
// bot_login "<slug>[bot]" and bot_email
// "<id>+<slug>[bot]@users.noreply.github.com", where id is the bot user's
// own id (not the App's). An installation token cannot call GET /user,
// so a runner cannot find it out by itself.
//
// The slug is the App's, from GET /app when its config was written. The
// bot user's id is GitHub's answer to GET /users/<slug>[bot], asked with
// the installation token just minted (GitHub serves that endpoint to
// installation tokens and refuses the App JWT outside /app; a GitHub
// Enterprise Server answers it under /api/v3 the same way). It is asked
// once per App and kept with the App's client (app.go), so a config change
// asks again. A failed lookup never fails the mint: the answer goes
// without bot_email, with a warning, and GitHub is not asked again before
// botRetryAfter has passed, so a failing GitHub is not asked on every
// mint. Mints that find a lookup in flight wait for its answer.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

const (
	// botRetryAfter is how long after a failed lookup of the bot user
	// GitHub is not asked again.
	botRetryAfter = time.Minute
	// botLookupTimeout bounds the lookup, which delays the first mint of
	// an App.
	botLookupTimeout = 10 * time.Second
)

// botUser is an App's bot user as looked up with one client.
type botUser struct {
	mu       sync.Mutex
	id       int64         // 0 until GitHub answered
	inflight chan struct{} // closed when the lookup in flight ends; nil when none
	retryAt  time.Time     // after a failure: no lookup before it
	failure  string        // what the last failure was, for the warning
}

// botFor returns the bot user kept with client, or a record kept nowhere
// when client is no longer the App's (its config changed meanwhile).
func (a *app) botFor(client *github.Client) *botUser {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if client == nil || a.client != client || a.bot == nil {
		return &botUser{}
	}
	return a.bot
}

// botIdentity returns the App's bot_login and bot_email for a token answer,
// looking the bot user's id up with token when it is not known yet. When
// the id cannot be had, email is "" and warning says why.
func (a *app) botIdentity(ctx context.Context, client *github.Client, cfg *appConfig, token string) (login, email, warning string) {
	if cfg.AppSlug == "" {
		return "", "", "bot_login, bot_email: the App's slug is not known; write the App's config again to read it from GitHub"
	}
	login = cfg.AppSlug + "[bot]"
	id, err := a.botFor(client).userID(ctx, a, client, login, token)
	if err != nil {
		return login, "", "bot_email: " + err.Error()
	}
	return login, strconv.FormatInt(id, 10) + "+" + login + "@users.noreply.github.com", ""
}

// userID is the bot user's id: known, or looked up now, unless a lookup
// failed less than botRetryAfter ago.
func (u *botUser) userID(ctx context.Context, a *app, client *github.Client, login, token string) (int64, error) {
	for {
		u.mu.Lock()
		switch {
		case u.id != 0:
			id := u.id
			u.mu.Unlock()
			return id, nil
		case u.inflight != nil:
			wait := u.inflight
			u.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return 0, fmt.Errorf("the lookup of %s at GitHub did not end before the request did", login)
			}
		case a.b.now().Before(u.retryAt):
			err := fmt.Errorf("the lookup of %s at GitHub failed (%s); it is asked again after %s", login, u.failure, u.retryAt.UTC().Format(time.RFC3339))
			u.mu.Unlock()
			return 0, err
		}
		done := make(chan struct{})
		u.inflight = done
		u.mu.Unlock()

		id, failure := lookupBot(ctx, client, login, token)
		u.mu.Lock()
		u.inflight = nil
		switch {
		case failure == "":
			u.id = id
		case ctx.Err() != nil:
			// The caller went away: that says nothing of GitHub, and the
			// next mint asks again.
		default:
			u.failure, u.retryAt = failure, a.b.now().Add(botRetryAfter)
		}
		retryAt := u.retryAt
		u.mu.Unlock()
		close(done)
		if failure != "" {
			a.b.Logger().Warn("could not look up the App's bot user; token answers go without bot_email until a lookup succeeds", "app", a.name, "bot_login", login, "failure", failure, "retry_after", retryAt.UTC().Format(time.RFC3339))
			return 0, fmt.Errorf("the lookup of %s at GitHub failed (%s); it is asked again after %s", login, failure, retryAt.UTC().Format(time.RFC3339))
		}
		return id, nil
	}
}

// lookupBot asks GitHub for the bot user's id; failure says in words what
// went wrong (never the token).
func lookupBot(ctx context.Context, client *github.Client, login, token string) (int64, string) {
	ctx, cancel := context.WithTimeout(ctx, botLookupTimeout)
	defer cancel()
	u, err := client.User(ctx, login, token)
	var apiErr *github.APIError
	switch {
	case errors.As(err, &apiErr):
		return 0, fmt.Sprintf("HTTP %d: %s", apiErr.StatusCode, apiErr.Message)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return 0, "no answer in time"
	case err != nil:
		return 0, "no answer"
	case !strings.EqualFold(u.Login, login) || u.Type != "Bot":
		return 0, fmt.Sprintf("GitHub answered with another account, %s of type %s", quoted(u.Login), quoted(u.Type))
	}
	return u.ID, ""
}
