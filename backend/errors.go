package backend

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// codedError is the engine's one kind of answer that is not a success: a
// message with its HTTP status. Every function that can refuse returns one
// (or an internal error, a 500), and HandleRequest (input.go) turns it into
// Vault's answer at one place: a 400 becomes logical.ErrorResponse (a
// caller's mistake, not an error for Vault to log); any other code crosses
// the plugin's gRPC boundary as a logical.HTTPCodedError, whose code and
// message the SDK keeps (it recognises logical's sentinel errors only when
// returned bare, so a wrapped logical.ErrPermissionDenied would reach the
// client as a 500). It unwraps to its sentinel for errors.Is.
type codedError struct {
	code     int
	msg      string
	sentinel error
}

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Code() int     { return e.code }
func (e *codedError) Unwrap() error { return e.sentinel }

var _ logical.HTTPCodedError = (*codedError)(nil)

// badRequest is a 400: the request is wrong, or asks for what the engine
// cannot do; its message names the field.
func badRequest(format string, args ...any) error {
	return &codedError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// invalid is a 400 with a validator's message, "" being no error.
func invalid(msg string) error {
	if msg == "" {
		return nil
	}
	return &codedError{code: http.StatusBadRequest, msg: msg}
}

// isBadRequest tells whether err is a 400.
func isBadRequest(err error) bool {
	var ce *codedError
	return errors.As(err, &ce) && ce.code == http.StatusBadRequest
}

// permissionDenied is a 403 whose message says what was refused.
func permissionDenied(format string, args ...any) error {
	return &codedError{
		code:     http.StatusForbidden,
		msg:      logical.ErrPermissionDenied.Error() + ": " + fmt.Sprintf(format, args...),
		sentinel: logical.ErrPermissionDenied,
	}
}

// badGateway is a 502: GitHub failed, or refused the App itself.
func badGateway(format string, args ...any) error {
	return &codedError{code: http.StatusBadGateway, msg: fmt.Sprintf(format, args...)}
}

// gatewayTimeout is a 504: GitHub did not answer in time.
func gatewayTimeout(format string, args ...any) error {
	return &codedError{code: http.StatusGatewayTimeout, msg: fmt.Sprintf(format, args...)}
}

// upstreamRateLimited is a 502 that says when GitHub allows a retry.
func upstreamRateLimited(what string, wait time.Duration) error {
	return &codedError{
		code:     http.StatusBadGateway,
		msg:      fmt.Sprintf("GitHub refused %s: %s; retry after %s", what, logical.ErrUpstreamRateLimited, wait.Round(time.Second)),
		sentinel: logical.ErrUpstreamRateLimited,
	}
}

// errNoApp marks the refusal of a request for an App that has no config.
var errNoApp = errors.New("the App is not configured")

// appNotConfigured is a 400 saying that the App called name has no config.
func appNotConfigured(name string) error {
	msg := fmt.Sprintf("app: the engine has no App %q: write apps/%s first", name, name)
	if name == defaultApp {
		msg = "the engine has no App configured: write config (the App \"default\") first"
	}
	return &codedError{code: http.StatusBadRequest, msg: msg, sentinel: errNoApp}
}

func isNotConfigured(err error) bool { return errors.Is(err, errNoApp) }

// answer is Vault's answer to a handler's result: a 400 becomes an error
// response; a coded error that was wrapped keeps its code with the
// wrapper's message; anything else is left as it is.
func answer(resp *logical.Response, err error) (*logical.Response, error) {
	var ce *codedError
	switch {
	case err == nil || !errors.As(err, &ce):
		return resp, err
	case ce.code == http.StatusBadRequest:
		return logical.ErrorResponse(err.Error()), nil
	case err != error(ce):
		return nil, &codedError{code: ce.code, msg: err.Error(), sentinel: ce.sentinel}
	}
	return nil, err
}
