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
	"sync"
	"sync/atomic"
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
//
// A JWT that passed every check is remembered (jwtCache) until its exp: the
// same string again skips what depends on the string alone (decoding, the
// issuer, the RSA signature), whose answer cannot have changed, and runs the
// checks that depend on the time again. A client reuses its JWT for minutes
// (the engine signs one every ~8 minutes), so under load the double spends
// no RSA verification per request, as GitHub's own front end need not.
func (s *Server) checkAppJWT(r *http.Request, now time.Time) string {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return msgRequiresAuth
	}
	if t, ok := s.jwts.get(cred, s.Key, now); ok {
		return t.check(now)
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
	s.jwts.verifications.Add(1)
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
	t := jwtTimes{iat: iat, exp: exp}
	msg := t.check(now)
	if msg == "" {
		s.jwts.put(cred, s.Key, t, now)
	}
	return msg
}

// jwtTimes are a JWT's iat and exp claims, decoded.
type jwtTimes struct {
	iat int64
	exp float64
}

// check runs the checks of a JWT's times at now, in GitHub's order: iat not
// in the future, exp in the future, at most 600s after iat and at most 600s
// from now.
func (t jwtTimes) check(now time.Time) string {
	if t.iat > now.Unix()+1 {
		return msgIatFuture
	}
	nowSec := float64(now.UnixNano()) / 1e9
	if t.exp <= nowSec {
		return msgExpInvalid
	}
	if t.exp-float64(t.iat) > maxJWTLifetime || t.exp > nowSec+maxJWTLifetime {
		return msgExpTooFar
	}
	return ""
}

// maxCachedJWTs bounds the JWTs a double remembers; each is dropped at its
// exp, so a client that signs a JWT per request (or an attack) cannot make
// the cache grow past this.
const maxCachedJWTs = 1024

// jwtCache remembers the App JWTs that passed every check, by their exact
// string, with the key their signature verified against, until their exp.
// Only an identical string hits: a token with one character of its header,
// claims or signature changed is a miss and is checked in full.
type jwtCache struct {
	mu      sync.Mutex
	entries map[string]cachedJWT
	// verifications counts the RSA signature verifications run, for the
	// tests of the cache.
	verifications atomic.Int64
}

type cachedJWT struct {
	key   *rsa.PrivateKey // the App key its signature verified against
	times jwtTimes
}

// get returns the times of cred if it passed every check before, against
// key, and has not expired by now; an expired entry is dropped.
func (c *jwtCache) get(cred string, key *rsa.PrivateKey, now time.Time) (jwtTimes, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cred]
	if !ok || e.key != key {
		return jwtTimes{}, false
	}
	if e.times.exp <= float64(now.UnixNano())/1e9 {
		delete(c.entries, cred)
		return jwtTimes{}, false
	}
	return e.times, true
}

// put remembers cred, which passed every check against key at now. When
// the cache is full the expired entries go first; if none has expired, the
// JWT is not remembered (it is checked in full each time).
func (c *jwtCache) put(cred string, key *rsa.PrivateKey, t jwtTimes, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedJWT{}
	}
	if len(c.entries) >= maxCachedJWTs {
		nowSec := float64(now.UnixNano()) / 1e9
		for k, e := range c.entries {
			if e.times.exp <= nowSec {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedJWTs {
			return
		}
	}
	c.entries[cred] = cachedJWT{key: key, times: t}
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
