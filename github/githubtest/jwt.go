package githubtest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GitHub's messages for refused App JWTs (all answered with 401).
const (
	msgRequiresAuth        = "Requires authentication"
	msgJWTNotDecoded       = "A JSON web token could not be decoded"
	msgIntegrationNotFound = "Integration not found"
	msgExpInvalid          = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	msgExpTooFar           = "'Expiration time' claim ('exp') is too far in the future"
	msgIatMissing          = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	msgIatFuture           = "'Issued at' claim ('iat') must be an Integer representing a time in the past"
)

// maxJWTLifetime is the longest an App JWT may live, as on GitHub.
const maxJWTLifetime = 600 // seconds

// checkAppJWT authenticates r as the App the way GitHub does. It returns ""
// if the request carries a valid App JWT, otherwise the message of the 401.
//
// The checks run in GitHub's order: the token must decode as an RS256 JWT,
// its issuer must name this App (id as number or string, or client id), the
// signature must verify against the App's key, and then iat must be an
// integer not in the future and exp must be in the future, at most 600s
// after iat and at most 600s from now.
func (s *Server) checkAppJWT(r *http.Request, now time.Time) string {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return msgRequiresAuth
	}
	parts := strings.Split(cred, ".")
	if len(parts) != 3 {
		return msgJWTNotDecoded
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if !decodeSegment(parts[0], &header) || header.Alg != "RS256" {
		return msgJWTNotDecoded
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat json.RawMessage `json:"iat"`
		Exp json.RawMessage `json:"exp"`
	}
	if !decodeSegment(parts[1], &claims) {
		return msgJWTNotDecoded
	}
	if !s.isOwnIssuer(claims.Iss) {
		return msgIntegrationNotFound
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return msgJWTNotDecoded
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.Key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return msgJWTNotDecoded
	}
	s.sawJWT(cred)

	iat, err := jsonNumber(claims.Iat).Int64()
	if err != nil {
		return msgIatMissing
	}
	if iat > now.Unix()+1 {
		return msgIatFuture
	}
	exp, err := jsonNumber(claims.Exp).Float64()
	if err != nil {
		return msgExpInvalid
	}
	nowSec := float64(now.UnixNano()) / 1e9
	if exp <= nowSec {
		return msgExpInvalid
	}
	if exp-float64(iat) > maxJWTLifetime || exp > nowSec+maxJWTLifetime {
		return msgExpTooFar
	}
	return ""
}

// decodeSegment decodes one base64url JWT segment as a JSON object into v.
func decodeSegment(seg string, v any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && json.Unmarshal(raw, v) == nil
}

// jsonNumber returns a claim that is a JSON number literal as a json.Number,
// and anything else (absent, a string, a boolean...) as an invalid one.
func jsonNumber(raw json.RawMessage) json.Number {
	var n json.Number
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return ""
	}
	return n
}

// isOwnIssuer reports whether the iss claim names this App: its id as a JSON
// number or string, or its client id.
func (s *Server) isOwnIssuer(iss json.RawMessage) bool {
	appID := strconv.FormatInt(s.AppID, 10)
	var str string
	if json.Unmarshal(iss, &str) == nil {
		return str == appID || (s.ClientID != "" && str == s.ClientID)
	}
	return string(iss) == appID
}

// sawJWT records a JWT whose signature verified.
func (s *Server) sawJWT(jwt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.jwtSeenSet[jwt] {
		s.jwtSeenSet[jwt] = true
		s.jwtsSeen = append(s.jwtsSeen, jwt)
	}
}
