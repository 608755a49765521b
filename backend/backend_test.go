package backend

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

const testVersion = "v1.2.3"

// testEnv is a backend on in-memory storage, wired to a GitHub API double.
type testEnv struct {
	t       testing.TB
	b       *backend
	storage *logical.InmemStorage
	gh      *githubtest.Server
	acme    *githubtest.Installation
	logs    *syncBuffer // everything the backend logged, at trace level
	sys     *countingSystemView
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func newTestBackend(t testing.TB, opts ...githubtest.Option) *testEnv {
	t.Helper()
	gh := githubtest.NewT(t, opts...)
	conf := logical.TestBackendConfig()
	storage := &logical.InmemStorage{}
	conf.StorageView = storage
	sys := &countingSystemView{SystemView: &logical.StaticSystemView{DefaultLeaseTTLVal: 24 * time.Hour, MaxLeaseTTLVal: 48 * time.Hour, PluginEnvironment: &logical.PluginEnvironment{VaultVersion: "1.21.0"}}}
	conf.System = sys
	logs := &syncBuffer{}
	conf.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs})
	b := newBackend(BuildInfo{Version: testVersion, Commit: "abc123", Date: "2026-11-28"})
	// Fast retries keep fault tests quick; the policy's shape is unchanged.
	b.retry = github.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRateLimitWait: 2 * time.Second}
	if err := b.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	acme := gh.AddInstallation("acme", "Organization", "widgets", "gadgets", "tools")
	return &testEnv{t: t, b: b, storage: storage, gh: gh, acme: acme, logs: logs, sys: sys}
}

func (e *testEnv) req(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	e.t.Helper()
	return e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op,
		Path:      path,
		Data:      data,
		Storage:   e.storage,
	})
}

// ok runs a request that must succeed.
func (e *testEnv) ok(op logical.Operation, path string, data map[string]any) *logical.Response {
	e.t.Helper()
	resp, err := e.req(op, path, data)
	if err != nil || resp.IsError() {
		e.t.Fatalf("%s %s: err=%v resp=%v", op, path, err, errData(resp))
	}
	return resp
}

func errData(resp *logical.Response) any {
	if resp == nil {
		return nil
	}
	return resp.Data
}

func (e *testEnv) configure(extra map[string]any) {
	e.t.Helper()
	data := map[string]any{
		"app_id":      e.gh.AppID,
		"private_key": string(e.gh.KeyPEM()),
		"base_url":    e.gh.URL,
	}
	maps.Copy(data, extra)
	e.ok(logical.UpdateOperation, "config", data)
}

// appClient is the client the App called name has built, or nil.
func (e *testEnv) appClient(name string) *github.Client {
	a := e.b.existingApp(name)
	if a == nil {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.client
}

// cachedLookups is how many installation lookups the App called name keeps.
func (e *testEnv) cachedLookups(name string) int {
	a := e.b.existingApp(name)
	if a == nil {
		return 0
	}
	c := a.currentLookups()
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (e *testEnv) writeRole(name string, data map[string]any) {
	e.t.Helper()
	e.ok(logical.UpdateOperation, "roles/"+name, data)
}

// snapshot is every storage entry, to assert a rejected write stored nothing.
func (e *testEnv) snapshot() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	keys, err := logical.CollectKeys(ctx, e.storage)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		entry, err := e.storage.Get(ctx, k)
		if err != nil {
			e.t.Fatal(err)
		}
		out[k] = string(entry.Value)
	}
	return out
}

// wantError asserts a 400-class error response whose text names field.
func wantError(t *testing.T, resp *logical.Response, err error, field string) {
	t.Helper()
	var text string
	switch {
	case err != nil:
		text = err.Error()
	case resp != nil && resp.IsError():
		text = resp.Error().Error()
	default:
		t.Fatalf("want an error naming %q, got success: %v", field, errData(resp))
	}
	if !strings.Contains(text, field) {
		t.Fatalf("error %q does not name %q", text, field)
	}
}

func rsaKeyPEM(t testing.TB, bits int) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func TestFactoryReportsRunningVersion(t *testing.T) {
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	b, err := NewFactory(BuildInfo{Version: "v9.8.7"})(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.(logical.PluginVersioner).PluginVersion().Version; got != "v9.8.7" {
		t.Fatalf("RunningVersion %q, want v9.8.7", got)
	}
	if b.Type() != logical.TypeLogical {
		t.Fatalf("backend type %v", b.Type())
	}
}

func TestInfo(t *testing.T) {
	e := newTestBackend(t)
	resp := e.ok(logical.ReadOperation, "info", nil)
	if resp.Data["version"] != testVersion || resp.Data["commit"] != "abc123" || resp.Data["build_date"] != "2026-11-28" {
		t.Fatalf("info: %v", resp.Data)
	}
}
