package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The command with -tls serves the API over TLS with a certificate from a
// CA it writes to -ca-out, under -prefix: a client that trusts that CA alone
// reaches it, and one that does not is refused. This is how make dev runs
// its GitHub Enterprise Server-like App.
func TestTLSWithGeneratedCA(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "github-double")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	caFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "key.pem")
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-prefix", "/api/v3", "-tls", "-ca-out", caFile, "-key-out", keyFile, "-app-id", "2002", "-slug", "ghes-double-app", "-random-content", "acme/tools=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the ready line: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) != 5 || fields[4] != "app_id=2002" || !strings.HasPrefix(fields[3], "https://127.0.0.1:") || !strings.HasSuffix(fields[3], "/api/v3") {
		t.Fatalf("ready line %q", line)
	}
	url := fields[3]

	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := trusting.Get(url + "/app")
	if err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized { // no App JWT sent
		t.Fatalf("GET /app without a JWT: %d, want 401", resp.StatusCode)
	}
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	if _, err := plain.Get(url + "/app"); err == nil {
		t.Fatal("a client that does not trust the generated CA reached the double")
	}
	// With a prefix, git lives at the root: a clone without credentials is
	// asked for them.
	resp, err = trusting.Get(strings.TrimSuffix(url, "/api/v3") + "/acme/widgets.git/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="GitHub"` {
		t.Fatalf("git without credentials: %d %v", resp.StatusCode, resp.Header)
	}
	// The certificate names github.com's hosts too.
	for _, host := range []string{"github.com", "api.github.com", "uploads.github.com"} {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(url, "/api/v3"), "https://"), &tls.Config{RootCAs: pool, ServerName: host})
		if err != nil {
			t.Fatalf("TLS as %s: %v", host, err)
		}
		conn.Close()
	}
	if info, err := os.Stat(keyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}

	if out, err := exec.Command(bin, "-addr", "127.0.0.1:0", "-random-content", "acme/tools").CombinedOutput(); err == nil || !strings.Contains(string(out), "is not owner/repo=MiB") {
		t.Fatalf("-random-content without a size: %v %s", err, out)
	}
	// -ca-out without -tls is refused.
	if out, err := exec.Command(bin, "-addr", "127.0.0.1:0", "-ca-out", filepath.Join(dir, "x.pem")).CombinedOutput(); err == nil || !strings.Contains(string(out), "-ca-out needs -tls") {
		t.Fatalf("-ca-out without -tls: %v %s", err, out)
	}
}
