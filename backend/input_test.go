package backend

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
)

// Through Vault's HTTP API every JSON number reaches the plugin as a float64;
// the CLI sends strings. Both spellings of every integer field must work, with
// real-size ids.
func TestParseIDSpellings(t *testing.T) {
	ok := map[string]struct {
		raw  any
		want int64
	}{
		"9-digit float64 (HTTP API)": {float64(123456789), 123456789},
		"10-digit float64":           {float64(1234567890), 1234567890},
		"2^53-1 float64":             {float64(maxID), maxID},
		"json.Number":                {json.Number("123456789"), 123456789},
		"string (CLI)":               {"123456789", 123456789},
		"string with spaces":         {" 987654321 ", 987654321},
		"int64 (in process)":         {int64(41000001), 41000001},
		"int":                        {int(41000001), 41000001},
	}
	for name, tc := range ok {
		t.Run(name, func(t *testing.T) {
			got, msg := parseID("installation_id", tc.raw)
			if msg != "" || got != tc.want {
				t.Fatalf("parseID(%#v) = %d, %q; want %d", tc.raw, got, msg, tc.want)
			}
		})
	}
	bad := map[string]any{
		"fraction":        1.5,
		"2^53":            float64(maxID + 1),
		"1e20":            1e20,
		"zero":            float64(0),
		"negative":        float64(-5),
		"string fraction": "1.5",
		"exponent string": "1e9",
		"word":            "abc",
		"bool":            true,
		"list":            []any{float64(1)},
		"string 2^53":     "9007199254740992",
	}
	for name, raw := range bad {
		t.Run("refused "+name, func(t *testing.T) {
			if _, msg := parseID("installation_id", raw); !strings.HasPrefix(msg, "installation_id: ") {
				t.Fatalf("parseID(%#v) message %q does not name the field", raw, msg)
			}
		})
	}
}

func TestRepositoryIDsAsJSONNumbers(t *testing.T) {
	for name, raw := range map[string]any{
		"float64 list (HTTP API)": []any{float64(812345001), float64(1234567890)},
		"single float64":          float64(812345001),
		"comma string (CLI)":      "812345001,1234567890",
		"string list":             []any{"812345001", "1234567890"},
	} {
		t.Run(name, func(t *testing.T) {
			ids, msg := parseRepositoryIDs(raw)
			want := []int64{812345001, 1234567890}
			if name == "single float64" {
				want = want[:1]
			}
			if msg != "" || !reflect.DeepEqual(ids, want) {
				t.Fatalf("parseRepositoryIDs(%#v) = %v, %q; want %v", raw, ids, msg, want)
			}
		})
	}
	if _, msg := parseRepositoryIDs([]any{1.5}); !strings.Contains(msg, "repository_ids") {
		t.Fatalf("fraction: %q", msg)
	}
}

func TestParseDurationSpellings(t *testing.T) {
	for name, tc := range map[string]struct {
		raw  any
		want time.Duration
		set  bool
		bad  bool
	}{
		"float64 seconds": {raw: float64(600), want: 10 * time.Minute, set: true},
		"string seconds":  {raw: "600", want: 10 * time.Minute, set: true},
		"string 5m":       {raw: "5m", want: 5 * time.Minute, set: true},
		"json.Number":     {raw: json.Number("90"), want: 90 * time.Second, set: true},
		"empty resets":    {raw: "", set: false},
		"fraction":        {raw: 1.5, bad: true},
		"word":            {raw: "soon", bad: true},
		"list":            {raw: []any{"5m"}, bad: true},
	} {
		t.Run(name, func(t *testing.T) {
			d, set, msg := parseDuration("ttl", tc.raw, time.Hour, "must be from 0 to 1h")
			if tc.bad {
				if !strings.HasPrefix(msg, "ttl: ") {
					t.Fatalf("message %q does not name ttl", msg)
				}
				return
			}
			if msg != "" || d != tc.want || set != tc.set {
				t.Fatalf("parseDuration(%#v) = %s, %v, %q", tc.raw, d, set, msg)
			}
		})
	}
}

// A role written the way Terraform or `vault write @role.json` sends it: every
// number a float64.
func TestRoleWriteWithJSONNumbers(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	widgets, _ := e.acme.Repositories[0], 0
	e.writeRole("by-id", map[string]any{
		"installation_id": float64(e.acme.ID),
		"repository_ids":  []any{float64(widgets.ID)},
		"ttl":             float64(1200),
		"expiry_buffer":   float64(120),
	})
	resp := e.ok(logical.ReadOperation, "roles/by-id", nil)
	if resp.Data["installation_id"] != e.acme.ID || !reflect.DeepEqual(resp.Data["repository_ids"], []int64{widgets.ID}) ||
		resp.Data["ttl"] != "20m0s" || resp.Data["expiry_buffer"] != "2m0s" {
		t.Fatalf("role read %v", resp.Data)
	}
	tok := e.ok(logical.ReadOperation, "token/by-id", nil)
	if tok.Data["installation_id"] != e.acme.ID || !reflect.DeepEqual(tok.Data["repositories"], []string{widgets.Name}) {
		t.Fatalf("token %v", tok.Data)
	}
	for field, raw := range map[string]any{"installation_id": 1.5, "ttl": 30.5, "expiry_buffer": 0.25, "repository_ids": []any{2.5}} {
		data := map[string]any{"installation_id": float64(e.acme.ID)}
		data[field] = raw
		before := e.snapshot()
		resp, err := e.req(logical.UpdateOperation, "roles/frac", data)
		if err != nil || !resp.IsError() || !strings.HasPrefix(resp.Error().Error(), field+": ") {
			t.Fatalf("%s=%v: err=%v resp=%v", field, raw, err, errData(resp))
		}
		if after := e.snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("%s=%v: refused write stored something", field, raw)
		}
	}
}

// Permission names are GitHub's: any well-formed name is accepted (an unknown
// one with a warning) and GitHub decides; look-alike spellings are refused.
func TestPermissionNamesAreGitHubs(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	resp := e.ok(logical.UpdateOperation, "roles/ghes", map[string]any{
		"owner":       "acme",
		"permissions": map[string]any{"repository_pre_receive_hooks": "write", "Contents": "READ"},
	})
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "repository_pre_receive_hooks") {
		t.Fatalf("warnings %v, want one naming repository_pre_receive_hooks", resp.Warnings)
	}
	read := e.ok(logical.ReadOperation, "roles/ghes", nil)
	if want := map[string]string{"repository_pre_receive_hooks": "write", "contents": "read"}; !reflect.DeepEqual(read.Data["permissions"], want) {
		t.Fatalf("permissions %v, want %v (names and levels lower-cased)", read.Data["permissions"], want)
	}
	// The double, like GitHub, refuses a permission the installation lacks
	// with a 422: a 400 that says what was asked.
	resp, err := e.req(logical.ReadOperation, "token/ghes", nil)
	if err != nil || !resp.IsError() {
		t.Fatalf("mint: err=%v resp=%v", err, errData(resp))
	}
	msg := resp.Error().Error()
	for _, want := range []string{"HTTP 422", "repository_pre_receive_hooks=write", "not known to this engine"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("mint error %q does not contain %q", msg, want)
		}
	}
	for _, spelling := range []string{"wor\u212aflows=write", "contents-x=read", "1contents=read", "con tents=read"} {
		resp, err := e.req(logical.UpdateOperation, "roles/x", map[string]any{"owner": "acme", "permissions": spelling})
		if err != nil || !resp.IsError() || !strings.HasPrefix(resp.Error().Error(), "permissions: ") {
			t.Fatalf("%q: err=%v resp=%v", spelling, err, errData(resp))
		}
	}
}

// Every role field can be reset from the CLI (which sends strings), and a
// field not sent keeps its value.
func TestRoleFieldsResetFromCLI(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"owner": "acme", "repositories": "widgets", "repository_ids": "1,2",
		"permissions": "contents=read", "ttl": "10m", "expiry_buffer": "1m"})
	e.writeRole("r", map[string]any{"repositories": "", "repository_ids": "", "permissions": "", "ttl": "", "expiry_buffer": ""})
	got := e.ok(logical.ReadOperation, "roles/r", nil).Data
	want := map[string]any{
		"installation_id": int64(0), "owner": "acme", "repository": "",
		"repositories": []string{}, "repository_ids": []int64{}, "permissions": map[string]string(nil),
		"ttl": "0s", "expiry_buffer": nil, "bound": "", "app": "default",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reset:\n got %#v\nwant %#v", got, want)
	}
	// The config's expiry_buffer resets to the default the same way.
	e.ok(logical.UpdateOperation, "config", map[string]any{"expiry_buffer": "10m"})
	e.ok(logical.UpdateOperation, "config", map[string]any{"expiry_buffer": ""})
	if buf := e.ok(logical.ReadOperation, "config", nil).Data["expiry_buffer"]; buf != "5m0s" {
		t.Fatalf("config expiry_buffer after reset %v, want 5m0s", buf)
	}
}

// Vault runs existence checks before the ACL check and logs their errors;
// a wrongly typed field must be named without its value, on every path.
func TestWrongTypeNeverEchoesValue(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	const marker = "MARKER-7f3a\n2026-12-02T00:00:00.000Z [ERROR] forged line"
	for _, path := range []string{"config", "roles/r", "token/r", "token"} {
		for _, field := range []string{"private_key", "owner", "installation_id", "ttl", "repositories", "permissions", "app_id"} {
			for _, raw := range []any{[]any{marker}, map[string]any{"k": marker}, true} {
				req := &logical.Request{Operation: logical.CreateOperation, Path: path, Storage: e.storage, Data: map[string]any{field: raw}}
				if route := e.b.Route(path); route == nil || route.Fields[field] == nil {
					continue
				}
				_, _, err := e.b.HandleExistenceCheck(context.Background(), req)
				resp, herr := e.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: path, Storage: e.storage, Data: map[string]any{field: raw}})
				for _, text := range []string{errString(err), errString(herr), respError(resp)} {
					if strings.Contains(text, "MARKER") {
						t.Fatalf("%s %s=%T: error echoes the value: %q", path, field, raw, text)
					}
				}
				if _, isString := raw.(string); !isString && e.b.Route(path).Fields[field].Type != framework.TypeKVPairs && field != "repositories" {
					if err == nil && !strings.Contains(respError(resp), field) {
						t.Fatalf("%s %s=%T: no error naming the field (existence err %v, resp %v)", path, field, raw, err, errData(resp))
					}
				}
			}
		}
	}
	if strings.Contains(e.logs.String(), "MARKER") {
		t.Fatal("the backend logged the value")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func respError(resp *logical.Response) string {
	if resp == nil || !resp.IsError() {
		return ""
	}
	return resp.Error().Error()
}

func TestRoleWriteUnknownInstallationIs400(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	before := e.snapshot()
	resp, err := e.req(logical.UpdateOperation, "roles/r", map[string]any{"installation_id": float64(999999999), "repositories": "acme/widgets"})
	if err != nil || !resp.IsError() || !strings.HasPrefix(resp.Error().Error(), "installation_id: ") || !strings.Contains(resp.Error().Error(), "999999999") {
		t.Fatalf("err=%v resp=%v", err, errData(resp))
	}
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatal("refused role was stored")
	}
}

// A config write that changes where or as whom the App authenticates must
// carry the key: no JWT signed with the stored key goes to a new host.
func TestConfigChangeNeedsKey(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	var hits atomic.Int64
	rogue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer rogue.Close()
	for name, data := range map[string]map[string]any{
		"base_url":  {"base_url": rogue.URL},
		"app_id":    {"app_id": float64(424242)},
		"client_id": {"client_id": "Iv23liROGUE"},
	} {
		before := e.snapshot()
		resp, err := e.req(logical.UpdateOperation, "config", data)
		if err != nil || !resp.IsError() || !strings.HasPrefix(resp.Error().Error(), "private_key: changing "+name) {
			t.Fatalf("%s: err=%v resp=%v", name, err, errData(resp))
		}
		if after := e.snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("%s: refused write stored something", name)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the new host received %d requests", n)
	}
	// Restating the stored values, or bringing the key, is fine.
	e.ok(logical.UpdateOperation, "config", map[string]any{"base_url": e.gh.URL + "/", "app_id": float64(e.gh.AppID), "expiry_buffer": "6m"})
	resp, err := e.req(logical.UpdateOperation, "config", map[string]any{"base_url": rogue.URL, "private_key": string(e.gh.KeyPEM())})
	if err != nil || !resp.IsError() || hits.Load() != 1 {
		t.Fatalf("with the key the credentials are checked at the new host: err=%v resp=%v hits=%d", err, errData(resp), hits.Load())
	}
}

// A lease without base_url is not revoked at a guessed host.
func TestRevokeWithoutBaseURLRefuses(t *testing.T) {
	e := newTestBackend(t)
	var sent atomic.Int64
	e.b.httpClient = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, net.ErrClosed
	})}
	_, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RevokeOperation,
		Path:      "token/r",
		Storage:   e.storage,
		Secret: &logical.Secret{InternalData: map[string]any{
			"secret_type": secretTokenType, "token": "ghs_" + strings.Repeat("x", 516), "role": "r",
		}},
	})
	if err == nil || !strings.Contains(err.Error(), "does not say which GitHub") {
		t.Fatalf("revoke err = %v", err)
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// When the request that started a shared installation lookup goes away, the
// lookup goes on for the requests still waiting on it.
func TestSharedLookupSurvivesLeaderCancel(t *testing.T) {
	c := newInstallCache(time.Minute)
	release := make(chan struct{})
	var findCtxErr atomic.Value
	started := make(chan struct{})
	find := func(ctx context.Context) (resolved, error) {
		close(started)
		<-release
		findCtxErr.Store(errString(ctx.Err()))
		return resolved{id: 123456789, account: "acme"}, nil
	}
	leaderCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var leaderErr, waiterErr error
	var waiterID int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _, leaderErr = c.get(leaderCtx, "owner:acme", time.Now(), find)
	}()
	<-started
	waiterDone := make(chan struct{})
	go func() {
		defer close(waiterDone)
		waiterID, _, waiterErr = c.get(context.Background(), "owner:acme", time.Now(), find)
	}()
	cancel()
	wg.Wait()
	if leaderErr != context.Canceled {
		t.Fatalf("leader err %v, want context.Canceled", leaderErr)
	}
	close(release)
	<-waiterDone
	if waiterErr != nil || waiterID != 123456789 {
		t.Fatalf("waiter got %d, %v", waiterID, waiterErr)
	}
	if e := findCtxErr.Load(); e != "" {
		t.Fatalf("the lookup ran on a cancelled context: %v", e)
	}
	if id, hit, err := c.get(context.Background(), "owner:acme", time.Now(), find); !hit || id != 123456789 || err != nil {
		t.Fatalf("lookup result not cached: %d %v %v", id, hit, err)
	}
}

// Unmounting (Cleanup) closes the mount's idle connections.
func TestCleanClosesIdleConnections(t *testing.T) {
	e := newTestBackend(t)
	closed := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	resp, err := e.b.httpClient.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.b.Cleanup(context.Background())
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection was not closed by Cleanup")
	}
}

// Mints are forwarded by performance standbys (a side effect at GitHub).
func TestTokenPathsForwardPerformanceStandby(t *testing.T) {
	b := newBackend(BuildInfo{Version: testVersion})
	n := 0
	for _, p := range b.Paths {
		if !strings.HasPrefix(p.Pattern, "token") {
			continue
		}
		for op, h := range p.Operations {
			if !h.Properties().ForwardPerformanceStandby {
				t.Fatalf("%s %s does not forward on a performance standby", op, p.Pattern)
			}
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d token operations, want 3", n)
	}
}

var _ = github.DefaultBaseURL
