package proxy

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The CA bundle (-ca-bundle-out): the system's root certificates and the
// proxy's CA in one PEM file, so that a runner can point every client's
// one CA setting (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE,
// GIT_SSL_CAINFO, NODE_EXTRA_CA_CERTS) at it and still verify the hosts
// the proxy tunnels with their own certificates.

// Where crypto/x509 looks for the system roots on Linux (root_linux.go):
// the first file that exists, then every file in the directories.
// SSL_CERT_FILE and SSL_CERT_DIR (colon-separated) replace them, as they
// do for Go.
var (
	rootFiles = []string{
		"/etc/ssl/certs/ca-certificates.crt",                // Debian/Ubuntu/Gentoo etc.
		"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora/RHEL 6
		"/etc/ssl/ca-bundle.pem",                            // OpenSUSE
		"/etc/pki/tls/cacert.pem",                           // OpenELEC
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
		"/etc/ssl/cert.pem",                                 // Alpine Linux
	}
	rootDirs = []string{"/etc/ssl/certs", "/etc/pki/tls/certs"}
)

// systemRoots returns each distinct root certificate the system holds,
// PEM, in the order found.
func systemRoots() ([]byte, error) {
	files := rootFiles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	dirs := rootDirs
	if d := os.Getenv("SSL_CERT_DIR"); d != "" {
		dirs = strings.Split(d, ":")
	}
	var out bytes.Buffer
	seen := map[string]bool{}
	add := func(data []byte) {
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				return
			}
			if b.Type != "CERTIFICATE" || seen[string(b.Bytes)] {
				continue
			}
			if _, err := x509.ParseCertificate(b.Bytes); err != nil {
				continue
			}
			seen[string(b.Bytes)] = true
			_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes})
		}
	}
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			add(data)
			break
		}
	}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if data, err := os.ReadFile(filepath.Join(d, e.Name())); err == nil {
				add(data)
			}
		}
	}
	if out.Len() == 0 {
		return nil, errors.New("no system root certificates found (looked where Go does: SSL_CERT_FILE, " +
			strings.Join(rootFiles, ", ") + ", and the files in SSL_CERT_DIR or " + strings.Join(rootDirs, ", ") + ")")
	}
	return out.Bytes(), nil
}

// writeBundle writes the system roots and the CA certificate to path.
func writeBundle(path string, roots, caPEM []byte) error {
	return writeFileAtomic(path, append(append([]byte{}, roots...), caPEM...))
}

// writeFileAtomic writes data to path, 0644, through a temporary file in
// the same directory renamed over it: a reader sees the old file or the
// new one, never part of one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".github-token-proxy-*.pem")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// checkBundleOut validates -ca-bundle-out against -ca-cert-out.
func checkBundleOut(bundle, cert string) error {
	if bundle == "" {
		return nil
	}
	if filepath.Clean(bundle) == filepath.Clean(cert) {
		return fmt.Errorf("-ca-bundle-out %s is -ca-cert-out; name another file beside it", bundle)
	}
	if fi, err := os.Stat(bundle); err == nil && fi.IsDir() {
		return fmt.Errorf("-ca-bundle-out %s is a directory; name the file to write", bundle)
	}
	if _, err := systemRoots(); err != nil {
		return fmt.Errorf("-ca-bundle-out: %v", err)
	}
	return nil
}
