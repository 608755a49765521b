package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/helper/license"
	"github.com/hashicorp/vault/sdk/logical"
)

// benchEnv is a configured backend with 100 installations at the double.
func benchEnv(b *testing.B) *testEnv {
	b.Helper()
	e := newTestBackend(b)
	for i := range 99 {
		e.gh.AddInstallation(fmt.Sprintf("org-%04d", i), "Organization", "repo")
	}
	e.configure(nil)
	e.writeRole("by-id", map[string]any{"installation_id": e.acme.ID})
	e.writeRole("by-owner", map[string]any{"owner": "org-0042"})
	e.writeRole("by-repo", map[string]any{"repository": "acme/widgets"})
	return e
}

// BenchmarkMint mints tokens through the backend against the in-process
// double and reports GitHub calls per token and App JWT signatures per
// 1,000 tokens next to ns/op and allocs/op, and what costs nothing here but
// a share of every mint through a real Vault, where the plugin is a process
// of its own: vault-calls/token counts calls to the system view (each a
// gRPC round trip to Vault), log-lines/token the lines logged (each written
// to Vault, which parses it whatever its own log level).
func BenchmarkMint(b *testing.B) {
	for _, roleName := range []string{"by-id", "by-owner", "by-repo"} {
		b.Run(roleName, func(b *testing.B) {
			e := benchEnv(b)
			// Warm the client, JWT and installation cache as in steady state.
			e.ok(logical.ReadOperation, "token/"+roleName, nil)
			e.gh.ResetCalls()
			signed := len(e.gh.JWTsSeen())
			sysCalls, logLines := e.sys.calls.Load(), strings.Count(e.logs.String(), "\n")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := e.req(logical.ReadOperation, "token/"+roleName, nil)
					if err != nil || resp.IsError() {
						b.Errorf("mint: %v %v", err, errData(resp))
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(len(e.gh.Calls()))/float64(b.N), "github-calls/token")
			b.ReportMetric(float64(len(e.gh.JWTsSeen())-signed)*1000/float64(b.N), "jwt-signs/1000tokens")
			b.ReportMetric(float64(e.sys.calls.Load()-sysCalls)/float64(b.N), "vault-calls/token")
			b.ReportMetric(float64(strings.Count(e.logs.String(), "\n")-logLines)/float64(b.N), "log-lines/token")
		})
	}
}

// countingSystemView counts the calls a backend makes to its system view
// that would each be a gRPC round trip to Vault from an external plugin
// (the SDK's gRPCSystemViewClient): the ones a request can make.
type countingSystemView struct {
	logical.SystemView
	calls atomic.Int64
}

func (s *countingSystemView) DefaultLeaseTTL() time.Duration {
	s.calls.Add(1)
	return s.SystemView.DefaultLeaseTTL()
}

func (s *countingSystemView) MaxLeaseTTL() time.Duration {
	s.calls.Add(1)
	return s.SystemView.MaxLeaseTTL()
}

func (s *countingSystemView) Tainted() bool {
	s.calls.Add(1)
	return s.SystemView.Tainted()
}

func (s *countingSystemView) CachingDisabled() bool {
	s.calls.Add(1)
	return s.SystemView.CachingDisabled()
}

func (s *countingSystemView) LocalMount() bool {
	s.calls.Add(1)
	return s.SystemView.LocalMount()
}

func (s *countingSystemView) ReplicationState() consts.ReplicationState {
	s.calls.Add(1)
	return s.SystemView.ReplicationState()
}

func (s *countingSystemView) HasFeature(f license.Features) bool {
	s.calls.Add(1)
	return s.SystemView.HasFeature(f)
}

func (s *countingSystemView) MlockEnabled() bool {
	s.calls.Add(1)
	return s.SystemView.MlockEnabled()
}

func (s *countingSystemView) EntityInfo(id string) (*logical.Entity, error) {
	s.calls.Add(1)
	return s.SystemView.EntityInfo(id)
}

func (s *countingSystemView) PluginEnv(ctx context.Context) (*logical.PluginEnvironment, error) {
	s.calls.Add(1)
	return s.SystemView.PluginEnv(ctx)
}

func (s *countingSystemView) VaultVersion(ctx context.Context) (string, error) {
	s.calls.Add(1)
	return s.SystemView.VaultVersion(ctx)
}

// leaseEntrySize is the JSON size of what Vault keeps for a lease: the
// response data and the secret with its internal data.
func leaseEntrySize(t testing.TB, resp *logical.Response) int {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"data": resp.Data, "secret": resp.Secret})
	if err != nil {
		t.Fatal(err)
	}
	return len(raw)
}

func TestLeaseIsLeanWith500Repositories(t *testing.T) {
	e := newTestBackend(t)
	repos := make([]string, 500)
	for i := range repos {
		repos[i] = fmt.Sprintf("service-repository-%03d", i)
	}
	big := e.gh.AddInstallation("bigorg", "Organization", repos...)
	e.configure(nil)
	e.writeRole("big", map[string]any{"installation_id": big.ID, "repositories": repos})
	resp := e.ok(logical.ReadOperation, "token/big", nil)
	if n := len(resp.Data["repositories"].([]string)); n != 500 {
		t.Fatalf("token covers %d repositories", n)
	}
	size := leaseEntrySize(t, resp)
	perRepo := float64(size) / 500
	t.Logf("lease entry for 500 repositories: %d bytes, %.1f bytes per repository", size, perRepo)
	if perRepo >= 100 {
		t.Fatalf("lease entry %d bytes = %.1f bytes per repository, want < 100", size, perRepo)
	}
	if _, ok := resp.Secret.InternalData["repositories"]; ok {
		t.Fatal("internal data duplicates the repository list")
	}
}
