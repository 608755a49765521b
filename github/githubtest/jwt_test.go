package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The cache of verified App JWTs (jwt.go): a repeated JWT is not
// RSA-verified again, and the double answers every token at every time
// exactly as it does without the cache.

func signedJWT(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(jwt string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/app", nil)
	r.Header.Set("Authorization", "Bearer "+jwt)
	return r
}

// forget empties the cache, so the next check is the check in full.
func (c *jwtCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
}

func TestRepeatedJWTVerifiedOnce(t *testing.T) {
	s := NewT(t)
	s.AddInstallation("acme", "Organization", "widgets")
	now := time.Now()
	j := signedJWT(t, s.Key, jwt.MapClaims{"iss": s.AppID, "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix()})
	for i := range 5 {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+j)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s", i+1, resp.Status)
		}
	}
	if n := s.jwts.verifications.Load(); n != 1 {
		t.Fatalf("%d RSA verifications for one JWT sent 5 times, want 1", n)
	}
	if seen := s.JWTsSeen(); len(seen) != 1 || seen[0] != j {
		t.Fatalf("JWTsSeen %d entries, want the one JWT", len(seen))
	}
}

// TestJWTCacheAnswersAsWithout sends JWTs (valid, and each way GitHub
// refuses one) at times around their iat and exp, each once with the cache
// as the earlier checks left it and once with it emptied: the answers must
// be the same, and the valid JWT's repeats must not be verified again.
func TestJWTCacheAnswersAsWithout(t *testing.T) {
	s := NewT(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	claims := func(iat, exp time.Duration) jwt.MapClaims {
		return jwt.MapClaims{"iss": s.AppID, "iat": at(iat), "exp": at(exp)}
	}
	valid := signedJWT(t, s.Key, claims(-time.Minute, 3*time.Minute))
	head, body, sig := splitJWT(t, valid)

	// A tampered signature: one byte of it changed (not its last
	// character, whose low bits base64url may ignore).
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x01
	badSig := head + "." + body + "." + base64.RawURLEncoding.EncodeToString(raw)
	// Tampered claims under the valid signature: exp a minute later.
	longer, err := json.Marshal(claims(-time.Minute, 4*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	badClaims := head + "." + base64.RawURLEncoding.EncodeToString(longer) + "." + sig

	tokens := map[string]string{
		"valid":              valid,
		"tampered signature": badSig,
		"tampered claims":    badClaims,
		"other key":          signedJWT(t, other, claims(-time.Minute, 3*time.Minute)),
		"other issuer":       signedJWT(t, s.Key, jwt.MapClaims{"iss": s.AppID + 1, "iat": at(-time.Minute), "exp": at(3 * time.Minute)}),
		"iat in the future":  signedJWT(t, s.Key, claims(time.Minute, 3*time.Minute)),
		"expired":            signedJWT(t, s.Key, claims(-9*time.Minute, -time.Minute)),
		"exp too far":        signedJWT(t, s.Key, claims(-time.Minute, 10*time.Minute)),
		"trailing dot":       valid + ".",
	}
	never := map[string]bool{"tampered signature": true, "tampered claims": true, "other key": true, "other issuer": true, "trailing dot": true}
	times := []time.Duration{-10 * time.Minute, -2 * time.Minute, -time.Minute, 0, time.Minute, 179 * time.Second, 3 * time.Minute, 181 * time.Second, time.Hour}

	// The valid JWT passes now, and is remembered.
	if msg := s.checkAppJWT(bearer(valid), now); msg != "" {
		t.Fatalf("valid JWT refused: %s", msg)
	}
	if n := s.jwts.verifications.Load(); n != 1 {
		t.Fatalf("%d verifications for the first check, want 1", n)
	}
	for name, tok := range tokens {
		for _, d := range times {
			when := now.Add(d)
			before := s.jwts.verifications.Load()
			hot := s.checkAppJWT(bearer(tok), when)
			verified := s.jwts.verifications.Load() - before
			s.jwts.forget()
			cold := s.checkAppJWT(bearer(tok), when)
			if hot != cold {
				t.Errorf("%s at now%+v: %q with the cache, %q without", name, d, hot, cold)
			}
			if name == "valid" && d < 3*time.Minute && d > -2*time.Minute && verified != 0 {
				t.Errorf("valid JWT at now%+v: verified again (%d) although remembered", d, verified)
			}
			if never[name] && hot == "" {
				t.Errorf("%s at now%+v: accepted", name, d)
			}
			// Back to the cache the valid JWT's first check left.
			s.jwts.forget()
			s.checkAppJWT(bearer(valid), now)
		}
	}
	// The tampered tokens are refused after the valid one was remembered,
	// with the message GitHub gives.
	s.checkAppJWT(bearer(valid), now)
	for _, name := range []string{"tampered signature", "tampered claims", "other key"} {
		if msg := s.checkAppJWT(bearer(tokens[name]), now); msg != msgJWTNotDecoded {
			t.Errorf("%s: %q, want %q", name, msg, msgJWTNotDecoded)
		}
	}
	// Expiry is enforced on a remembered JWT, and an expired one is dropped.
	if msg := s.checkAppJWT(bearer(valid), now.Add(3*time.Minute)); msg != msgExpInvalid {
		t.Errorf("remembered JWT at its exp: %q, want %q", msg, msgExpInvalid)
	}
	if _, ok := s.jwts.get(valid, s.Key, now); ok {
		t.Error("an expired JWT is still remembered")
	}
}

func splitJWT(t *testing.T, j string) (head, body, sig string) {
	t.Helper()
	parts := strings.Split(j, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", j)
	}
	return parts[0], parts[1], parts[2]
}

// TestJWTCacheBounded: the cache never holds more than maxCachedJWTs
// JWTs, drops expired ones first when full, and remembers a JWT only for
// the key it verified against.
func TestJWTCacheBounded(t *testing.T) {
	var c jwtCache
	key, other := &rsa.PrivateKey{}, &rsa.PrivateKey{}
	now := time.Now()
	soon := jwtTimes{iat: now.Unix(), exp: float64(now.Add(time.Minute).Unix())}
	for i := range 2 * maxCachedJWTs {
		c.put(fmt.Sprint("jwt-", i), key, soon, now)
	}
	if n := len(c.entries); n != maxCachedJWTs {
		t.Fatalf("%d JWTs remembered, want at most %d", n, maxCachedJWTs)
	}
	if _, ok := c.get("jwt-0", key, now); !ok {
		t.Fatal("the first JWT is not remembered")
	}
	if _, ok := c.get("jwt-0", other, now); ok {
		t.Fatal("a JWT is remembered for a key it did not verify against")
	}
	later := now.Add(2 * time.Minute)
	c.put("fresh", key, jwtTimes{iat: later.Unix(), exp: float64(later.Add(time.Minute).Unix())}, later)
	if n := len(c.entries); n != 1 {
		t.Fatalf("%d JWTs remembered after all but one expired, want 1", n)
	}
}
