package backend

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

func botEmail(gh *githubtest.Server) string {
	return fmt.Sprintf("%d+%s@users.noreply.github.com", gh.BotUserID(), gh.BotLogin())
}

// TestBotIdentityOncePerApp: every token answer carries the App's bot
// login and email; the bot user's id is asked of GitHub once per App (not
// per mint, not once per concurrent first mint), with an installation
// token the double issued (never the App JWT), under /api/v3 for a GitHub
// Enterprise Server App, and asked again after the App's config changes.
func TestBotIdentityOncePerApp(t *testing.T) {
	e := newTwoApps(t)
	e.writeRole("web", map[string]any{"owner": "acme", "repositories": "widgets"})
	e.writeRole("infra", map[string]any{"app": "ghes", "owner": "corp"})
	bot := "/users/" + e.gh.BotLogin()
	lookups := func() int { return e.gh.CallCount(http.MethodGet, bot) }

	check := func(resp *logical.Response, gh *githubtest.Server) {
		t.Helper()
		if resp.Data["bot_login"] != gh.BotLogin() || resp.Data["bot_email"] != botEmail(gh) {
			t.Fatalf("token answer bot_login %v bot_email %v, want %s %s", resp.Data["bot_login"], resp.Data["bot_email"], gh.BotLogin(), botEmail(gh))
		}
		if len(resp.Warnings) != 0 {
			t.Fatalf("warnings %v", resp.Warnings)
		}
	}
	mintConcurrently := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := e.req(logical.ReadOperation, "token/web", nil)
				switch {
				case err != nil || resp.IsError():
					errs <- fmt.Errorf("mint: %v %v", err, errData(resp))
				case resp.Data["bot_email"] != botEmail(e.gh):
					errs <- fmt.Errorf("concurrent mint answered bot_email %v", resp.Data["bot_email"])
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}

	mintConcurrently(20) // the App's first mints, all at once
	for range 5 {
		check(e.ok(logical.ReadOperation, "token/web", nil), e.gh)
	}
	check(e.ok(logical.UpdateOperation, "token", map[string]any{"owner": "acme", "repositories": "gadgets"}), e.gh)
	if n := lookups(); n != 1 {
		t.Fatalf("27 mints looked the bot user up %d times, want once", n)
	}
	issued := map[string]bool{}
	for _, tok := range e.gh.Tokens() {
		issued[githubtest.CredentialSHA256(tok.Value)] = true
	}
	for _, c := range e.gh.Calls() {
		if c.Path == bot && !issued[c.CredentialSHA256] {
			t.Errorf("the bot user was looked up with a credential that is not an installation token the double issued")
		}
	}

	// The other App: its own bot, looked up once at its own host.
	for range 3 {
		check(e.ok(logical.ReadOperation, "token/infra", nil), e.ghes)
	}
	if n := e.ghes.CallCount(http.MethodGet, "/users/"+e.ghes.BotLogin()); n != 1 {
		t.Fatalf("App ghes looked its bot user up %d times, want once", n)
	}
	if e.ghes.BotUserID() == e.gh.BotUserID() {
		t.Fatal("the doubles' bot ids coincide; the test cannot tell the Apps apart")
	}

	// A config change forgets it: the next mints ask once more.
	e.configure(nil)
	mintConcurrently(10)
	check(e.ok(logical.ReadOperation, "token/web", nil), e.gh)
	if n := lookups(); n != 2 {
		t.Fatalf("after a config change the bot user was looked up %d times in all, want 2", n)
	}
}

// failBots is a transport that, while failing is set, answers every
// lookup of a bot user with GitHub's 502, and counts the attempts.
type failBots struct {
	next     http.RoundTripper
	failing  atomic.Bool
	attempts atomic.Int64
}

func (f *failBots) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "[bot]") {
		f.attempts.Add(1)
		if f.failing.Load() {
			return &http.Response{
				StatusCode: http.StatusBadGateway,
				Header:     http.Header{"Content-Type": {"application/json"}},
				Body:       io.NopCloser(strings.NewReader(`{"message":"Server Error"}`)),
				Request:    r,
			}, nil
		}
	}
	return f.next.RoundTrip(r)
}

// TestBotIdentityLookupFailure: a failed lookup of the bot user does not
// fail the mint: the answer has bot_login, no bot_email and a warning;
// the following mints do not ask GitHub again until botRetryAfter has
// passed, and then one lookup that succeeds gives every later answer its
// bot_email. The log says what failed, never a token.
func TestBotIdentityLookupFailure(t *testing.T) {
	e := newTestBackend(t)
	var skew atomic.Int64
	e.b.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	fb := &failBots{next: e.b.httpClient.Transport}
	if fb.next == nil {
		fb.next = http.DefaultTransport
	}
	e.b.httpClient.Transport = fb
	fb.failing.Store(true)
	e.configure(nil)
	e.writeRole("web", map[string]any{"owner": "acme"})

	mint := func() *logical.Response {
		t.Helper()
		return e.ok(logical.ReadOperation, "token/web", nil)
	}
	resp := mint()
	if _, has := resp.Data["bot_email"]; has || resp.Data["bot_login"] != e.gh.BotLogin() || resp.Data["token"] == "" {
		t.Fatalf("a mint whose bot lookup failed answered bot_login %v, bot_email %v", resp.Data["bot_login"], resp.Data["bot_email"])
	}
	want := "bot_email: the lookup of " + e.gh.BotLogin() + " at GitHub failed (HTTP 502: Server Error); it is asked again after "
	if len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], want) {
		t.Fatalf("warnings %q, want one starting %q", resp.Warnings, want)
	}
	first := fb.attempts.Load()
	if first == 0 {
		t.Fatal("no lookup was attempted")
	}
	// GitHub still failing, and then back: no lookup until the wait ends.
	for i := range 4 {
		if i == 2 {
			fb.failing.Store(false)
		}
		resp := mint()
		if _, has := resp.Data["bot_email"]; has || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], want) {
			t.Fatalf("mint %d during the wait: bot_email %v, warnings %q", i+2, resp.Data["bot_email"], resp.Warnings)
		}
	}
	if n := fb.attempts.Load(); n != first {
		t.Fatalf("mints during the wait made %d more lookup attempts", n-first)
	}
	skew.Add(int64(botRetryAfter + time.Second))
	for range 3 {
		resp := mint()
		if resp.Data["bot_email"] != botEmail(e.gh) || len(resp.Warnings) != 0 {
			t.Fatalf("after the wait: bot_email %v, warnings %q", resp.Data["bot_email"], resp.Warnings)
		}
	}
	if n := fb.attempts.Load(); n != first+1 {
		t.Fatalf("after the wait %d lookup attempts, want one", n-first)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "could not look up the App's bot user") {
		t.Error("the failed lookup is not logged")
	}
	for _, tok := range e.gh.Tokens() {
		if strings.Contains(logs, tok.Value) {
			t.Fatal("a token reached the log")
		}
	}
}

// TestBotIdentityCallerGone: a lookup cut short because the caller went
// away is not GitHub failing: the next mint asks again at once.
func TestBotIdentityCallerGone(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("web", map[string]any{"owner": "acme"})
	a := e.b.existingApp(defaultApp)
	client := e.appClient(defaultApp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := &appConfig{AppSlug: e.gh.Slug}
	if _, email, warning := a.botIdentity(ctx, client, cfg, "ghs_unused"); email != "" || warning == "" {
		t.Fatalf("a lookup with a canceled context: email %q, warning %q", email, warning)
	}
	resp := e.ok(logical.ReadOperation, "token/web", nil)
	if resp.Data["bot_email"] != botEmail(e.gh) {
		t.Fatalf("the mint after a canceled lookup answered bot_email %v, warnings %q", resp.Data["bot_email"], resp.Warnings)
	}
}
