package backend

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin/pb"
)

// The statuses must survive the plugin's gRPC boundary, where the SDK keeps
// only an HTTPCodedError's code and message.
func TestCodedErrorsSurviveThePluginBoundary(t *testing.T) {
	cases := map[string]struct {
		err      error
		sentinel error
		status   int
	}{
		"permission denied": {permissionDenied("repository %q is not in role %q", "tools", "r"), logical.ErrPermissionDenied, http.StatusForbidden},
		"rate limited":      {upstreamRateLimited("to mint a token for installation 1", time.Minute), logical.ErrUpstreamRateLimited, http.StatusBadGateway},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.sentinel) {
				t.Fatalf("%v does not match %v", tc.err, tc.sentinel)
			}
			crossed := pb.ProtoErrToErr(pb.ErrToProtoErr(tc.err))
			// As Vault's HTTP layer does it.
			status, err := logical.RespondErrorCommon(&logical.Request{}, nil, crossed)
			logical.AdjustErrorStatusCode(&status, err)
			if status != tc.status {
				t.Fatalf("status after the gRPC boundary %d, want %d", status, tc.status)
			}
			if err.Error() != tc.err.Error() {
				t.Fatalf("message changed: %q", err.Error())
			}
		})
	}
}
