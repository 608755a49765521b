package github

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinKeyBits is the smallest RSA key accepted. GitHub generates 2048-bit keys.
const MinKeyBits = 2048

// ParsePrivateKey parses a GitHub App private key: an RSA key in PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") PEM, or that PEM encoded in
// base64 as platforms often keep it in environment variables. The error never
// contains key material.
func ParsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	text := strings.TrimSpace(string(data))
	if text == "" {
		return nil, errors.New("is empty")
	}
	if !strings.HasPrefix(text, "-----BEGIN") {
		decoded, err := base64.StdEncoding.DecodeString(text)
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(decoded)), "-----BEGIN") {
			return nil, errors.New("is not a PEM-encoded key (nor base64 of one)")
		}
		text = strings.TrimSpace(string(decoded))
	}
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("is not a valid PEM block")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("has data after the PEM block")
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("is encrypted; give the unencrypted key GitHub issued")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("is not a valid PKCS#1 RSA key")
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("is not a valid PKCS#8 key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("is a %s key; GitHub App keys are RSA", keyKind(k))
		}
		key = rk
	default:
		return nil, fmt.Errorf("has PEM type %q; want \"RSA PRIVATE KEY\" (PKCS#1) or \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	if bits := key.N.BitLen(); bits < MinKeyBits {
		return nil, fmt.Errorf("is a %d-bit RSA key; at least %d bits are required", bits, MinKeyBits)
	}
	if err := key.Validate(); err != nil {
		return nil, errors.New("is not a consistent RSA key")
	}
	key.Precompute()
	return key, nil
}

func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey:
		return "Ed25519"
	case *ecdh.PrivateKey:
		return "ECDH"
	}
	return "non-RSA"
}

// Fingerprint is the SHA-256 fingerprint of the key's public half, in the
// form GitHub shows beside an App's private keys ("SHA256:<base64>").
func Fingerprint(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		// Marshalling a valid RSA public key cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.StdEncoding.EncodeToString(sum[:])
}

// HashToken is the base64 SHA-256 of a token, the form GitHub's audit log
// shows as hashed_token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.StdEncoding.EncodeToString(sum[:])
}
