package githubtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// adminPrefix is where the admin API lives, outside any API path prefix.
const adminPrefix = "/_double/"

// AdminHandler returns the double's admin API, which exists only in the
// double. The Server also serves it on its own listener under /_double/.
//
//	GET  /_double/tokens         tokens issued, in issue order: token, token_sha256
//	                             (base64 of its SHA-256), installation_id, issued_at,
//	                             expires_at, revoked_at (null if not revoked), live,
//	                             repositories, permissions
//	GET  /_double/calls          API requests received (Call)
//	GET  /_double/installations  installations, by id (Installation)
//	GET  /_double/faults         injected answer counts (FaultCounts)
//	POST /_double/faults         set faults (FaultSettings); absent fields are left alone
//	POST /_double/reset          clear faults and recorded calls
//	POST /_double/installations/{id}/suspend    SuspendInstallation(id, true)
//	POST /_double/installations/{id}/unsuspend  SuspendInstallation(id, false)
//	POST /_double/repositories/move  MoveRepository: {"from":"owner/name","to":"owner/name"}
//	GET  /_double/refs?repo=owner/name  Refs: {"refs/heads/main": "<sha>", ...}
//	GET  /_double/ref-changes  RefChanges: [{repo, ref, old, new, by, at}]
//	POST /_double/repositories/default-branch  SetDefaultBranch: {"repo":"owner/name","branch":"b"}
//	POST /_double/repositories/required-checks  RequireChecks: {"repo":"owner/name","checks":["ci"]}
func (s *Server) AdminHandler() http.Handler { return s.admin }

func (s *Server) newAdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_double/tokens", func(w http.ResponseWriter, _ *http.Request) {
		now := time.Now()
		out := []adminToken{}
		for _, t := range s.Tokens() {
			out = append(out, newAdminToken(t, now))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /_double/calls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Calls())
	})
	mux.HandleFunc("GET /_double/installations", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		out := []Installation{}
		for _, in := range s.sortedInstallations() {
			c := *in
			c.Repositories = slices.Clone(in.Repositories)
			c.Permissions = maps.Clone(in.Permissions)
			out = append(out, c)
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /_double/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("POST /_double/faults", func(w http.ResponseWriter, r *http.Request) {
		var fs FaultSettings
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fs); err != nil {
			writeError(w, http.StatusBadRequest, "invalid fault settings: "+err.Error(), "")
			return
		}
		if err := s.ApplyFaults(fs); err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	suspend := func(suspended bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
			if err != nil || !s.setSuspended(id, suspended) {
				writeError(w, http.StatusNotFound, "no such installation", "")
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("POST /_double/installations/{id}/suspend", suspend(true))
	mux.HandleFunc("POST /_double/installations/{id}/unsuspend", suspend(false))
	mux.HandleFunc("POST /_double/repositories/move", func(w http.ResponseWriter, r *http.Request) {
		var mv struct {
			From string `json:"from"`
			To   string `json:"to"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&mv); err != nil {
			writeError(w, http.StatusBadRequest, "invalid move: "+err.Error(), "")
			return
		}
		if err := s.MoveRepository(mv.From, mv.To); err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_double/refs", func(w http.ResponseWriter, r *http.Request) {
		refs, err := s.Refs(r.URL.Query().Get("repo"))
		if err != nil {
			writeError(w, http.StatusNotFound, err.Error(), "")
			return
		}
		writeJSON(w, http.StatusOK, refs)
	})
	mux.HandleFunc("GET /_double/ref-changes", func(w http.ResponseWriter, _ *http.Request) {
		out := s.RefChanges()
		if out == nil {
			out = []RefChange{}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /_double/repositories/default-branch", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Repo   string `json:"repo"`
			Branch string `json:"branch"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "invalid request: "+err.Error(), "")
			return
		}
		if err := s.SetDefaultBranch(req.Repo, req.Branch); err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_double/repositories/required-checks", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Repo   string   `json:"repo"`
			Checks []string `json:"checks"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "invalid request: "+err.Error(), "")
			return
		}
		if err := s.RequireChecks(req.Repo, req.Checks...); err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_double/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetFaults()
		s.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// adminToken is a token as the admin API shows it.
type adminToken struct {
	Token          string            `json:"token"`
	TokenSHA256    string            `json:"token_sha256"` // base64 (std) of SHA-256 of Token
	InstallationID int64             `json:"installation_id"`
	IssuedAt       time.Time         `json:"issued_at"`
	ExpiresAt      time.Time         `json:"expires_at"`
	RevokedAt      *time.Time        `json:"revoked_at"` // null if not revoked
	Live           bool              `json:"live"`
	Repositories   []string          `json:"repositories"`
	Permissions    map[string]string `json:"permissions"`
}

func newAdminToken(t Token, now time.Time) adminToken {
	sum := sha256.Sum256([]byte(t.Value))
	at := adminToken{
		Token:          t.Value,
		TokenSHA256:    base64.StdEncoding.EncodeToString(sum[:]),
		InstallationID: t.InstallationID,
		IssuedAt:       t.IssuedAt,
		ExpiresAt:      t.ExpiresAt,
		Live:           t.Live(now),
		Repositories:   t.Repositories,
		Permissions:    t.Permissions,
	}
	if !t.RevokedAt.IsZero() {
		at.RevokedAt = &t.RevokedAt
	}
	return at
}

// FaultSettings is the body of POST /_double/faults. Each field that is
// present applies the matching fault setter; absent fields change nothing.
type FaultSettings struct {
	LatencyMS *int64 `json:"latency_ms"` // SetLatency
	// FailureRate and FailNext answer FailureStatus (default 503).
	FailureRate   *float64 `json:"failure_rate"` // SetFailureRate
	FailureStatus *int     `json:"failure_status"`
	FailNext      *int     `json:"fail_next"` // FailNext
	// FailNextAfterEffect answers FailureStatus if given, else 502, after
	// the request took effect (FailNextAfterEffect), for the next requests
	// with FailAfterEffectMethod (any if empty) whose path ends with
	// FailAfterEffectPath (FailNextAfterEffectOn), e.g. "POST" and
	// "/git-receive-pack" for a push.
	FailNextAfterEffect   *int   `json:"fail_next_after_effect"`
	FailAfterEffectMethod string `json:"fail_after_effect_method"`
	FailAfterEffectPath   string `json:"fail_after_effect_path"`
	// RateLimitRate and RateLimitNext send a Retry-After of RetryAfterS
	// (default none); RateLimitNext answers RateLimitStatus (default 429).
	RateLimitRate   *float64 `json:"rate_limit_rate"` // SetRateLimitRate
	RateLimitNext   *int     `json:"rate_limit_next"` // RateLimitNext
	RateLimitStatus *int     `json:"rate_limit_status"`
	RetryAfterS     *int64   `json:"retry_after_s"`
	RevokeStatus    *int     `json:"revoke_status"` // SetRevokeStatus
	// GitChunkDelayMS slows git answers (SetGitChunkDelay).
	GitChunkDelayMS *int64 `json:"git_chunk_delay_ms"`
	// RevokeNext revokes the token of the next requests with
	// RevokeMethod (any if empty) as they arrive (RevokeTokenOnNext).
	RevokeNext   *int   `json:"revoke_next"`
	RevokeMethod string `json:"revoke_method"`
}

// ApplyFaults applies the settings present in fs, after checking them all.
func (s *Server) ApplyFaults(fs FaultSettings) error {
	failStatus, rlStatus := http.StatusServiceUnavailable, http.StatusTooManyRequests
	var retryAfter time.Duration
	if fs.FailureStatus != nil {
		failStatus = *fs.FailureStatus
	}
	if fs.RateLimitStatus != nil {
		rlStatus = *fs.RateLimitStatus
	}
	if fs.RetryAfterS != nil {
		retryAfter = time.Duration(*fs.RetryAfterS) * time.Second
	}
	for name, st := range map[string]int{"failure_status": failStatus, "rate_limit_status": rlStatus} {
		if st < 400 || st > 599 {
			return fmt.Errorf("%s %d is not an error status", name, st)
		}
	}
	for name, p := range map[string]*float64{"failure_rate": fs.FailureRate, "rate_limit_rate": fs.RateLimitRate} {
		if p != nil && (*p < 0 || *p > 1) {
			return fmt.Errorf("%s %v is not a probability", name, *p)
		}
	}
	if fs.RevokeStatus != nil && *fs.RevokeStatus != 0 && (*fs.RevokeStatus < 400 || *fs.RevokeStatus > 599) {
		return fmt.Errorf("revoke_status %d is neither 0 nor an error status", *fs.RevokeStatus)
	}

	if fs.LatencyMS != nil {
		s.SetLatency(time.Duration(*fs.LatencyMS) * time.Millisecond)
	}
	if fs.FailureRate != nil {
		s.SetFailureRate(*fs.FailureRate, failStatus)
	}
	if fs.FailNext != nil {
		s.FailNext(*fs.FailNext, failStatus)
	}
	if fs.FailNextAfterEffect != nil {
		st := http.StatusBadGateway
		if fs.FailureStatus != nil {
			st = *fs.FailureStatus
		}
		var match func(*http.Request) bool
		if fs.FailAfterEffectMethod != "" || fs.FailAfterEffectPath != "" {
			match = RequestIs(fs.FailAfterEffectMethod, fs.FailAfterEffectPath)
		}
		s.FailNextAfterEffectOn(*fs.FailNextAfterEffect, st, match)
	}
	if fs.RateLimitRate != nil {
		s.SetRateLimitRate(*fs.RateLimitRate, retryAfter)
	}
	if fs.RateLimitNext != nil {
		s.RateLimitNext(*fs.RateLimitNext, rlStatus, retryAfter)
	}
	if fs.RevokeStatus != nil {
		s.SetRevokeStatus(*fs.RevokeStatus)
	}
	if fs.GitChunkDelayMS != nil {
		s.SetGitChunkDelay(time.Duration(*fs.GitChunkDelayMS) * time.Millisecond)
	}
	if fs.RevokeNext != nil {
		var match func(*http.Request) bool
		if fs.RevokeMethod != "" {
			match = MethodIs(fs.RevokeMethod)
		}
		s.RevokeTokenOnNext(*fs.RevokeNext, match, nil)
	}
	return nil
}
