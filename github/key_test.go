package github

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// testKey is the 2048-bit key shared by the tests of this package (and the
// doubles they start): generating one per test would dominate the run time.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pkcs1PEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func pkcs8PEM(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParsePrivateKeyAccepted(t *testing.T) {
	k := testKey()
	p1 := pkcs1PEM(k)
	p8 := pkcs8PEM(t, k)
	// base64 as `base64` (GNU coreutils) prints it: wrapped at 76 columns.
	wrapped := base64.StdEncoding.EncodeToString(p1)
	var lines []string
	for len(wrapped) > 76 {
		lines, wrapped = append(lines, wrapped[:76]), wrapped[76:]
	}
	lines = append(lines, wrapped)

	tests := map[string][]byte{
		"PKCS#1":                         p1,
		"PKCS#8":                         p8,
		"base64 of PKCS#1 PEM":           []byte(base64.StdEncoding.EncodeToString(p1)),
		"base64 of PKCS#8 PEM":           []byte(base64.StdEncoding.EncodeToString(p8)),
		"base64 wrapped at 76 columns":   []byte(strings.Join(lines, "\n") + "\n"),
		"surrounding whitespace":         append(append([]byte("\n\n  "), p1...), "\n\n"...),
		"CRLF line endings":              bytes.ReplaceAll(p1, []byte("\n"), []byte("\r\n")),
		"no newline after the END line":  bytes.TrimRight(p8, "\n"),
		"base64 with a trailing newline": []byte(base64.StdEncoding.EncodeToString(p8) + "\n"),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParsePrivateKey(in)
			if err != nil {
				t.Fatalf("ParsePrivateKey: %v", err)
			}
			if !got.Equal(k) {
				t.Fatal("parsed key differs from the encoded one")
			}
		})
	}
}

func TestParsePrivateKeyRejected(t *testing.T) {
	k := testKey()
	p1 := pkcs1PEM(k)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8DER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &k.PublicKey)})

	tests := map[string]struct {
		in   []byte
		want string // part of the message
	}{
		"empty":           {nil, "is empty"},
		"whitespace only": {[]byte(" \n\t\n"), "is empty"},
		"not PEM":         {[]byte("this-is-no-key-at-all-0123456789"), "not a PEM-encoded key"},
		"base64 of not PEM": {
			[]byte(base64.StdEncoding.EncodeToString([]byte("this-is-no-key-at-all-0123456789"))), "not a PEM-encoded key",
		},
		"BEGIN line only": {[]byte("-----BEGIN RSA PRIVATE KEY-----\n"), "not a valid PEM block"},
		"EC PKCS#8":       {pkcs8PEM(t, ec), "ECDSA"},
		"EC PRIVATE KEY": {
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), `"EC PRIVATE KEY"`,
		},
		"Ed25519 PKCS#8":  {pkcs8PEM(t, ed), "Ed25519"},
		"1024-bit RSA":    {pkcs1PEM(small), "1024-bit"},
		"1024-bit PKCS#8": {pkcs8PEM(t, small), "1024-bit"},
		// The encrypted blocks carry valid unencrypted DER, so only the
		// encryption check can refuse them.
		"encrypted PKCS#1 (Proc-Type)": {
			pem.EncodeToMemory(&pem.Block{
				Type:    "RSA PRIVATE KEY",
				Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
				Bytes:   x509.MarshalPKCS1PrivateKey(k),
			}), "encrypted",
		},
		"ENCRYPTED PRIVATE KEY": {
			pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: pkcs8DER}), "encrypted",
		},
		"trailing garbage":         {append(bytes.Clone(p1), "garbage after the key\n"...), "data after the PEM block"},
		"two keys":                 {append(bytes.Clone(p1), pkcs8PEM(t, k)...), "data after the PEM block"},
		"base64 with garbage":      {[]byte(base64.StdEncoding.EncodeToString(append(bytes.Clone(p1), "x"...))), "data after the PEM block"},
		"public key":               {pub, `"PUBLIC KEY"`},
		"PKCS#8 label, PKCS#1 DER": {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), "not a valid PKCS#8 key"},
		"PKCS#1 label, PKCS#8 DER": {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs8DER}), "not a valid PKCS#1 RSA key"},
		"corrupt DER":              {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)[:300]}), "not a valid PKCS#1 RSA key"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			key, err := ParsePrivateKey(tc.in)
			if err == nil {
				t.Fatalf("accepted (%d-bit key)", key.N.BitLen())
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			assertNoKeyMaterial(t, msg, tc.in)
		})
	}
}

// assertNoKeyMaterial fails if msg holds a run of 12 or more characters of
// the base64 body of a PEM block in in (or of in itself when it is base64).
func assertNoKeyMaterial(t *testing.T, msg string, in []byte) {
	t.Helper()
	if strings.Contains(msg, "MII") || strings.Contains(msg, "-----") {
		t.Errorf("error %q looks like it holds key material", msg)
	}
	text := string(in)
	if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text)); err == nil {
		text += "\n" + string(d)
	}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-----") || strings.Contains(line, ":") {
			continue // BEGIN/END lines and headers are not secret
		}
		for i := 0; i+12 <= len(line); i += 6 {
			if chunk := line[i : i+12]; strings.Contains(msg, chunk) {
				t.Fatalf("error %q holds key material %q", msg, chunk)
			}
		}
	}
}

func mustPKIX(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// spkiDER builds the SubjectPublicKeyInfo of an RSA public key by hand
// (RFC 3279 / RFC 8017), independently of crypto/x509.
func spkiDER(t *testing.T, pub *rsa.PublicKey) []byte {
	t.Helper()
	inner, err := asn1.Marshal(struct {
		N *big.Int
		E int
	}{pub.N, pub.E})
	if err != nil {
		t.Fatal(err)
	}
	type algorithm struct {
		OID    asn1.ObjectIdentifier
		Params asn1.RawValue
	}
	der, err := asn1.Marshal(struct {
		Algorithm algorithm
		Key       asn1.BitString
	}{
		Algorithm: algorithm{OID: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, Params: asn1.NullRawValue},
		Key:       asn1.BitString{Bytes: inner, BitLength: 8 * len(inner)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestFingerprint(t *testing.T) {
	k := testKey()
	sum := sha256.Sum256(spkiDER(t, &k.PublicKey))
	want := "SHA256:" + base64.StdEncoding.EncodeToString(sum[:])
	if got := Fingerprint(&k.PublicKey); got != want {
		t.Fatalf("Fingerprint = %q, want %q", got, want)
	}

	// And as openssl computes it, when openssl is at hand:
	// openssl pkey -pubout -outform DER | sha256 | base64.
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Log("openssl not found; skipping the openssl cross-check")
		return
	}
	cmd := exec.Command(openssl, "pkey", "-pubout", "-outform", "DER")
	cmd.Stdin = bytes.NewReader(pkcs1PEM(k))
	der, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl pkey: %v", err)
	}
	sum = sha256.Sum256(der)
	if want := "SHA256:" + base64.StdEncoding.EncodeToString(sum[:]); Fingerprint(&k.PublicKey) != want {
		t.Fatalf("Fingerprint = %q, openssl says %q", Fingerprint(&k.PublicKey), want)
	}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(&other.PublicKey) == Fingerprint(&k.PublicKey) {
		t.Fatal("two keys have the same fingerprint")
	}
}

func TestHashToken(t *testing.T) {
	// SHA-256("abc") is the FIPS 180-2 test vector
	// ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.
	if got, want := HashToken("abc"), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; got != want {
		t.Fatalf("HashToken(abc) = %q, want %q", got, want)
	}
	tok := "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
	sum := sha256.Sum256([]byte(tok))
	if got, want := HashToken(tok), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Fatalf("HashToken = %q, want %q", got, want)
	}
	if strings.Contains(HashToken(tok), tok[4:12]) {
		t.Fatal("hashed token holds part of the token")
	}
}
