package backend

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/ambient-code/vault-plugin-github-app/github"
	"github.com/ambient-code/vault-plugin-github-app/github/githubtest"
)

func TestConfigWriteReadNeverReturnsKey(t *testing.T) {
	for name, keyPEM := range map[string]func(*githubtest.Server) []byte{
		"pkcs1": (*githubtest.Server).KeyPEM,
		"pkcs8": (*githubtest.Server).KeyPEMPKCS8,
		"base64 pkcs1": func(s *githubtest.Server) []byte {
			return []byte(base64.StdEncoding.EncodeToString(s.KeyPEM()))
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestBackend(t)
			e.configure(map[string]any{"private_key": string(keyPEM(e.gh))})
			resp := e.ok(logical.ReadOperation, "config", nil)
			if _, ok := resp.Data["private_key"]; ok {
				t.Fatal("config read returned private_key")
			}
			for k, v := range resp.Data {
				if s, ok := v.(string); ok && strings.Contains(s, "PRIVATE KEY") {
					t.Fatalf("config read field %s holds key material", k)
				}
			}
			if got, want := resp.Data["key_fingerprint"], github.Fingerprint(&e.gh.Key.PublicKey); got != want {
				t.Fatalf("key_fingerprint %v, want %v", got, want)
			}
			if resp.Data["app_slug"] != e.gh.Slug || resp.Data["app_id"] != e.gh.AppID {
				t.Fatalf("config read: %v", resp.Data)
			}
			if resp.Data["expiry_buffer"] != "5m0s" {
				t.Fatalf("default expiry_buffer %v, want 5m0s", resp.Data["expiry_buffer"])
			}
			if e.gh.CallCount("GET", "/app") != 1 {
				t.Fatalf("config write made %d GET /app calls, want 1", e.gh.CallCount("GET", "/app"))
			}
		})
	}
}

func TestConfigSealWrapped(t *testing.T) {
	e := newTestBackend(t)
	if got := e.b.SpecialPaths().SealWrapStorage; !reflect.DeepEqual(got, []string{"config", "apps/"}) {
		t.Fatalf("SealWrapStorage %v, want [config apps/]", got)
	}
}

func TestConfigEnterpriseServerBaseURL(t *testing.T) {
	for _, suffix := range []string{"", "/"} {
		t.Run("trailing slash "+suffix, func(t *testing.T) {
			e := newTestBackend(t, githubtest.WithPathPrefix("/api/v3"))
			if !strings.HasSuffix(e.gh.URL, "/api/v3") {
				t.Fatalf("double URL %s", e.gh.URL)
			}
			e.configure(map[string]any{"base_url": e.gh.URL + suffix})
			e.writeRole("ghes", map[string]any{"owner": "acme"})
			resp := e.ok(logical.ReadOperation, "token/ghes", nil)
			if resp.Data["installation_id"] != e.acme.ID {
				t.Fatalf("minted for %v", resp.Data["installation_id"])
			}
			if e.gh.CallCount("GET", "/users/acme/installation") != 1 || e.gh.CallCount("POST", fmt.Sprintf("/app/installations/%d/access_tokens", e.acme.ID)) != 1 {
				t.Fatalf("calls: %+v", e.gh.Calls())
			}
			if got := e.ok(logical.ReadOperation, "config", nil).Data["base_url"]; got != e.gh.URL {
				t.Fatalf("stored base_url %v, want %v", got, e.gh.URL)
			}
		})
	}
}

func TestConfigClientIDIsTheIssuer(t *testing.T) {
	e := newTestBackend(t)
	e.ok(logical.UpdateOperation, "config", map[string]any{
		"client_id":   e.gh.ClientID,
		"private_key": string(e.gh.KeyPEM()),
		"base_url":    e.gh.URL,
	})
	jwts := e.gh.JWTsSeen()
	if len(jwts) != 1 {
		t.Fatalf("JWTs seen: %d", len(jwts))
	}
	claims := jwt.RegisteredClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(jwts[0], &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != e.gh.ClientID {
		t.Fatalf("iss %q, want client id %q", claims.Issuer, e.gh.ClientID)
	}
	// The App id GitHub reported is kept.
	if got := e.ok(logical.ReadOperation, "config", nil).Data["app_id"]; got != e.gh.AppID {
		t.Fatalf("app_id %v", got)
	}
}

func TestConfigRejectedCredentials(t *testing.T) {
	e := newTestBackend(t)
	_, otherKey := rsaKeyPEM(t, 2048)
	before := e.snapshot()
	resp, err := e.req(logical.UpdateOperation, "config", map[string]any{
		"app_id":      e.gh.AppID,
		"private_key": otherKey,
		"base_url":    e.gh.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.IsError() || !strings.Contains(resp.Error().Error(), "GitHub rejected the App credentials (app_id 1001)") {
		t.Fatalf("want GitHub's rejection, got %v", errData(resp))
	}
	if strings.Contains(resp.Error().Error(), "PRIVATE KEY") {
		t.Fatal("error carries key material")
	}
	if after := e.snapshot(); len(after) != len(before) {
		t.Fatalf("rejected config was stored: %v", after)
	}
}

func TestConfigPartialUpdateKeepsFields(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.ok(logical.UpdateOperation, "config", map[string]any{"expiry_buffer": "10m"})
	resp := e.ok(logical.ReadOperation, "config", nil)
	if resp.Data["expiry_buffer"] != "10m0s" || resp.Data["app_id"] != e.gh.AppID || resp.Data["base_url"] != e.gh.URL {
		t.Fatalf("after partial update: %v", resp.Data)
	}
	if resp.Data["key_fingerprint"] != github.Fingerprint(&e.gh.Key.PublicKey) {
		t.Fatal("partial update lost the key")
	}
}

func TestConfigDelete(t *testing.T) {
	e := newTestBackend(t)
	e.configure(nil)
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	e.ok(logical.ReadOperation, "token/r", nil)
	// Refused while a role uses the App "default", naming the role.
	resp, err := e.req(logical.DeleteOperation, "config", nil)
	wantError(t, resp, err, `role "r"`)
	e.ok(logical.DeleteOperation, "roles/r", nil)
	e.ok(logical.DeleteOperation, "config", nil)
	if resp := e.ok(logical.ReadOperation, "config", nil); resp != nil {
		t.Fatalf("config still readable: %v", resp.Data)
	}
	// A role that names no App may still be written before config, as in
	// v0.1.x; it cannot mint.
	e.writeRole("r", map[string]any{"installation_id": e.acme.ID})
	resp, err = e.req(logical.ReadOperation, "token/r", nil)
	wantError(t, resp, err, "write config")
}

func TestConfigValidation(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	_, smallKey := rsaKeyPEM(t, 1024)
	_, goodKey := rsaKeyPEM(t, 2048)
	encrypted := strings.Replace(goodKey, "-----BEGIN RSA PRIVATE KEY-----\n", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n", 1)

	cases := map[string]struct {
		data  map[string]any
		field string
	}{
		"key not PEM":          {map[string]any{"private_key": "hello"}, "private_key"},
		"key EC":               {map[string]any{"private_key": ecPEM}, "private_key"},
		"key 1024-bit":         {map[string]any{"private_key": smallKey}, "private_key"},
		"key encrypted":        {map[string]any{"private_key": encrypted}, "private_key"},
		"key trailing garbage": {map[string]any{"private_key": goodKey + "garbage"}, "private_key"},
		"key missing":          {map[string]any{"private_key": nil}, "private_key"},
		"app_id zero":          {map[string]any{"app_id": 0}, "app_id"},
		"app_id negative":      {map[string]any{"app_id": -4}, "app_id"},
		"app_id not a number":  {map[string]any{"app_id": "abc"}, "app_id"},
		"no identity":          {map[string]any{"app_id": nil}, "app_id"},
		"client_id bad chars":  {map[string]any{"client_id": "Iv1/../x"}, "client_id"},
		"base_url http":        {map[string]any{"base_url": "http://github.example.com/api/v3"}, "base_url"},
		"base_url query":       {map[string]any{"base_url": "https://ghe.example.com/api/v3?x=1"}, "base_url"},
		"base_url ftp":         {map[string]any{"base_url": "ftp://ghe.example.com"}, "base_url"},
		"base_url userinfo":    {map[string]any{"base_url": "https://u:p@ghe.example.com/api/v3"}, "base_url"},
		"expiry_buffer <0":     {map[string]any{"expiry_buffer": -1}, "expiry_buffer"},
		"expiry_buffer 1h":     {map[string]any{"expiry_buffer": "1h"}, "expiry_buffer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newTestBackend(t)
			data := map[string]any{"app_id": e.gh.AppID, "private_key": string(e.gh.KeyPEM()), "base_url": e.gh.URL}
			for k, v := range tc.data {
				if v == nil {
					delete(data, k)
				} else {
					data[k] = v
				}
			}
			before := e.snapshot()
			resp, err := e.req(logical.UpdateOperation, "config", data)
			wantError(t, resp, err, tc.field)
			if err == nil && resp.IsError() {
				text := resp.Error().Error()
				if strings.Contains(text, "PRIVATE KEY") || strings.Contains(text, "MII") {
					t.Fatalf("error carries key material: %s", text)
				}
			}
			if after := e.snapshot(); len(after) != len(before) {
				t.Fatalf("storage changed: %v", after)
			}
			if e.gh.CallCount("GET", "/app") != 0 {
				t.Fatal("invalid input reached GitHub")
			}
		})
	}
}
