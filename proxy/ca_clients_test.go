package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// caClient checks, with a real client, whether it accepts a TLS server at
// 127.0.0.1:port presenting a certificate for name, trusting only caFile.
// It returns whether the handshake verified, and the client's words.
type caClient struct {
	name string
	run  func(t *testing.T, caFile, name, port string) (bool, string)
}

func runCAClient(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

var caClients = []caClient{
	{"go", func(t *testing.T, caFile, name, port string) (bool, string) {
		pem, _ := os.ReadFile(caFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{ServerName: name, RootCAs: pool})
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, "ok"
	}},
	{"git (GnuTLS)", func(t *testing.T, caFile, name, port string) (bool, string) {
		out, err := runCAClient(t, "git", "-c", "http.sslCAInfo="+caFile, "-c", "http.curloptResolve="+name+":"+port+":127.0.0.1",
			"ls-remote", "https://"+name+":"+port+"/o/r.git")
		// The server is no git server: past TLS, git fails on its answer.
		tlsFailed := strings.Contains(out, "certificate") || strings.Contains(out, "SSL") || strings.Contains(out, "TLS")
		_ = err
		return !tlsFailed, out
	}},
	{"curl (OpenSSL)", func(t *testing.T, caFile, name, port string) (bool, string) {
		out, err := runCAClient(t, "curl", "-sS", "--cacert", caFile, "--resolve", name+":"+port+":127.0.0.1", "https://"+name+":"+port+"/")
		return err == nil, out
	}},
	{"python (OpenSSL)", func(t *testing.T, caFile, name, port string) (bool, string) {
		out, err := runCAClient(t, "python3", "-c", `import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[3]))) as s:
    with ctx.wrap_socket(s, server_hostname=sys.argv[2]):
        print("ok")`, caFile, name, port)
		return err == nil, out
	}},
	{"node (OpenSSL)", func(t *testing.T, caFile, name, port string) (bool, string) {
		out, err := runCAClient(t, "node", "-e", `const tls = require("tls"), fs = require("fs");
const [ca, name, port] = process.argv.slice(1);
const s = tls.connect({host: "127.0.0.1", port: +port, servername: name, ca: fs.readFileSync(ca)}, () => { console.log("ok"); s.end(); });
s.on("error", e => { console.log(e.code + ": " + e.message); process.exit(1); });`, caFile, name, port)
		return err == nil, out
	}},
}

// TestNameConstraintsInClients: which names real clients accept under
// the proxy's CA, trusting only it. The configured hosts verify in every
// client; a subdomain of api.github.com or uploads.github.com is refused
// (the CA excludes them: no configured host lies under them); a subdomain
// of github.com is admitted, because api.github.com and
// uploads.github.com are configured under it and an exclusion cannot
// make exceptions; any other name is refused. The proxy signs only the
// configured hosts; this is what holds if something else got the CA to
// sign.
func TestNameConstraintsInClients(t *testing.T) {
	for _, c := range []string{"git", "curl", "python3", "node"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	a, err := newAuthority(DefaultHosts, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, a.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"github.com", true},
		{"api.github.com", true},
		{"uploads.github.com", true},
		{"x.api.github.com", false},
		{"a.b.uploads.github.com", false},
		{"evil.github.com", true},
		{"evil.example", false},
		{"github.com.evil.example", false},
	} {
		leaf, err := a.leaf(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		var row []string
		for _, c := range caClients {
			ok, said := c.run(t, caFile, tc.name, port)
			row = append(row, fmt.Sprintf("%s %v", c.name, ok))
			if !ok && tc.name == "x.api.github.com" {
				t.Logf("%s refuses x.api.github.com: %.200s", c.name, said)
			}
			if ok != tc.want {
				t.Errorf("%s: %s accepted it: %v, want %v (%s)", tc.name, c.name, ok, tc.want, said)
			}
		}
		t.Logf("%s: %s", tc.name, strings.Join(row, ", "))
		srv.Close()
	}
}
