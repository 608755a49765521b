package backend

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// codedError carries an HTTP status across the plugin's gRPC boundary. The
// SDK keeps the code and message of a logical.HTTPCodedError but recognises
// logical's sentinel errors only when returned bare, so a wrapped
// logical.ErrPermissionDenied would reach the client as a 500. It still
// unwraps to its sentinel for errors.Is.
type codedError struct {
	code     int
	msg      string
	sentinel error
}

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Code() int     { return e.code }
func (e *codedError) Unwrap() error { return e.sentinel }

var _ logical.HTTPCodedError = (*codedError)(nil)

// permissionDenied is a 403 whose message says what was refused.
func permissionDenied(format string, args ...any) error {
	return &codedError{
		code:     http.StatusForbidden,
		msg:      logical.ErrPermissionDenied.Error() + ": " + fmt.Sprintf(format, args...),
		sentinel: logical.ErrPermissionDenied,
	}
}

// upstreamRateLimited is a 502 that says when GitHub allows a retry.
func upstreamRateLimited(what string, wait time.Duration) error {
	return &codedError{
		code:     http.StatusBadGateway,
		msg:      fmt.Sprintf("GitHub refused %s: %s; retry after %s", what, logical.ErrUpstreamRateLimited, wait.Round(time.Second)),
		sentinel: logical.ErrUpstreamRateLimited,
	}
}
