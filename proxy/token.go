package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/github/branches"
)

// The token source: the file Vault Agent renders from
// examples/runner/credentials.json.ctmpl. Only "token", "validUntil"
// (unix seconds: when Vault revokes the token) and "branches" (the write
// scope, scope.go) matter here. The file is
// stat'ed on every use and parsed again when its inode, size or mtime
// changed (Agent renders by rename). A token with less than the margin
// left is never used: the source waits a bounded time for Agent to render
// a fresh one, then gives up with a message that says why.

// tokenPoll is how often a waiting request looks at the file again.
const tokenPoll = 100 * time.Millisecond

type credential struct {
	token      string
	hash       string // hashed_token, as the engine reports it
	validUntil time.Time
	scope      *branches.Scope // the branches it may write; nil: unscoped
}

// hashToken is base64(SHA-256(token)), the engine's hashed_token
// (github.HashToken), so a log line can be matched with Vault's lease and
// GitHub's audit log.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.StdEncoding.EncodeToString(sum[:])
}

type fileKey struct {
	ino, size int64
	mtime     time.Time
}

type tokenSource struct {
	path         string
	margin, wait time.Duration
	// onWait is called once for each request that has to wait.
	onWait func()
	log    *slog.Logger // the proxy's own log (nil: none)

	mu  sync.Mutex
	key fileKey
	cur credential
	err error
}

// tokenError is the source's failure: the proxy answers 503 with its
// text.
type tokenError struct{ msg string }

func (e *tokenError) Error() string { return e.msg }

// read returns what the file holds now, parsing it only if it changed.
func (s *tokenSource) read() (credential, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return credential{}, err
	}
	key := fileKey{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		key.ino = int64(st.Ino)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == s.key && (s.cur.token != "" || s.err != nil) {
		return s.cur, s.err
	}
	s.key = key
	s.cur, s.err = parseCredentials(s.path)
	var nv *notValidJSON
	if errors.As(s.err, &nv) && s.log != nil {
		s.log.Warn("the credentials file is not valid", append([]any{"file", s.path}, nv.attrs...)...)
	}
	return s.cur, s.err
}

// notValidJSON is a credentials file the JSON parser refused. The parser's
// message can quote a character of the file (of the token, say), and the
// agent reads what the proxy answers: the client is told only that the file
// is not valid; the proxy's log gets where (offset, field, type), never
// content.
type notValidJSON struct {
	path  string
	attrs []any
}

func (e *notValidJSON) Error() string {
	return e.path + " is not valid JSON of the shape credentials.json.ctmpl renders (the proxy's log says where)"
}

func jsonProblem(err error) []any {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return []any{"problem", "syntax", "offset", se.Offset}
	case errors.As(err, &te):
		kind, _, _ := strings.Cut(te.Value, " ") // "number 12345": the kind, not the value
		return []any{"problem", "type", "offset", te.Offset, "field", te.Field, "want", te.Type.String(), "got", kind}
	}
	return []any{"problem", "other"}
}

// validUntil's plausible range. GitHub's installation tokens live an hour
// and a lease never outlives its token, so a lease end more than a day
// ahead is not unix seconds (milliseconds read as seconds land thousands
// of years ahead, and would switch the margin off); the day leaves room
// for clock skew and longer-lived tokens. Nothing this engine renders
// predates 2020: a smaller number is a duration or a slip. A past value
// after that is only an ended token, which the margin handles.
const maxValidAhead = 24 * time.Hour

var minValidUntil = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func parseCredentials(path string) (credential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return credential{}, err
	}
	var f struct {
		Token      string          `json:"token"`
		ValidUntil int64           `json:"validUntil"`
		Branches   json.RawMessage `json:"branches"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return credential{}, &notValidJSON{path: path, attrs: jsonProblem(err)}
	}
	if f.Token == "" {
		return credential{}, fmt.Errorf("%s has no \"token\"", path)
	}
	if strings.ContainsFunc(f.Token, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return credential{}, fmt.Errorf("%s has a \"token\" with characters an Authorization header cannot carry", path)
	}
	if f.ValidUntil == 0 {
		return credential{}, fmt.Errorf("%s has no \"validUntil\" (unix seconds)", path)
	}
	const want = "want the unix time in seconds when Vault revokes the token"
	if f.ValidUntil < minValidUntil.Unix() {
		return credential{}, fmt.Errorf("%s has a \"validUntil\" before 2020: %s", path, want)
	}
	if f.ValidUntil > time.Now().Add(maxValidAhead).Unix() {
		return credential{}, fmt.Errorf("%s has a \"validUntil\" more than a day ahead: %s", path, want)
	}
	scope, err := parseScope(f.Branches)
	if err != nil {
		return credential{}, fmt.Errorf("%s has %w", path, err)
	}
	return credential{token: f.Token, hash: hashToken(f.Token), validUntil: time.Unix(f.ValidUntil, 0), scope: scope}, nil
}

// get returns a token with at least the margin left and different from
// not (when not is set: the token GitHub just refused), waiting up to the
// source's wait for Agent to render one.
func (s *tokenSource) get(ctx context.Context, not string) (credential, error) {
	deadline := time.Now().Add(s.wait)
	waited := false
	for {
		c, err := s.read()
		left := c.validUntil.Sub(time.Now())
		if err == nil && left >= s.margin && c.token != not {
			return c, nil
		}
		if !time.Now().Before(deadline) {
			switch {
			case err != nil:
				return credential{}, &tokenError{fmt.Sprintf("github-token-proxy: no usable token: %v; none arrived in %s", err, s.wait)}
			case c.token == not:
				return credential{}, &tokenError{fmt.Sprintf("github-token-proxy: GitHub refused the token in %s (401) and no fresh one arrived in %s", s.path, s.wait)}
			default:
				return credential{}, &tokenError{fmt.Sprintf("github-token-proxy: the token in %s has %s left, under the %s margin, and no fresh one arrived in %s",
					s.path, max(left, 0).Round(time.Second), s.margin, s.wait)}
			}
		}
		if !waited {
			waited = true
			if s.onWait != nil {
				s.onWait()
			}
		}
		t := time.NewTimer(min(tokenPoll, deadline.Sub(time.Now())))
		select {
		case <-ctx.Done():
			t.Stop()
			return credential{}, &tokenError{fmt.Sprintf("github-token-proxy: the request ended while waiting for a fresh token in %s", s.path)}
		case <-t.C:
		}
	}
}
