package backend

import (
	"errors"
	"fmt"
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
		"bad gateway":       {badGateway("GitHub failed to mint a token"), nil, http.StatusBadGateway},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.sentinel != nil && !errors.Is(tc.err, tc.sentinel) {
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

// answer is the one place a handler's coded error becomes Vault's answer:
// a 400 is an error response (not an error Vault logs), a wrapped coded
// error keeps its code with the wrapper's words, others pass as they are.
func TestAnswer(t *testing.T) {
	resp, err := answer(nil, badRequest("owner: %q is not a login", "a b"))
	if err != nil || !resp.IsError() || resp.Error().Error() != `owner: "a b" is not a login` {
		t.Fatalf("400: %v %v", resp, err)
	}
	resp, err = answer(nil, fmt.Errorf("checking: %w", badRequest("app: no")))
	if err != nil || resp.Error().Error() != "checking: app: no" {
		t.Fatalf("wrapped 400: %v %v", resp, err)
	}
	_, err = answer(nil, fmt.Errorf("minting: %w", permissionDenied("repository %q is not in role", "x")))
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusForbidden || err.Error() != `minting: permission denied: repository "x" is not in role` || !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("wrapped 403: %v", err)
	}
	plain := errors.New("storage failed")
	if _, err := answer(nil, plain); err != plain {
		t.Fatalf("internal error: %v", err)
	}
	ok := &logical.Response{Data: map[string]any{"x": 1}}
	if resp, err := answer(ok, nil); resp != ok || err != nil {
		t.Fatalf("success: %v %v", resp, err)
	}
}
