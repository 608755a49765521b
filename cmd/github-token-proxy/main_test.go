package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-code/vault-plugin-github-app/proxy"
)

// TestStartupErrors: a bad configuration stops the proxy at start, exit
// code 2, with a message that names the flag.
func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.json")
	ca := filepath.Join(dir, "ca.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"-listen", "127.0.0.1:0", "-credentials", creds, "-ca-cert-out", ca}
	// The port the agent bound while no proxy held it.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no -credentials":         {[]string{"-listen", "127.0.0.1:0", "-ca-cert-out", ca}, "-credentials is required"},
		"no -ca-cert-out":         {[]string{"-listen", "127.0.0.1:0", "-credentials", creds}, "-ca-cert-out is required"},
		"wildcard host":           {append(base, "-hosts", "github.com,*.github.com"), `-hosts: "*.github.com" is a wildcard`},
		"empty host":              {append(base, "-hosts", "github.com,,api.github.com"), "-hosts \"github.com,,api.github.com\": an empty entry"},
		"empty host list":         {append(base, "-hosts", ""), "-hosts \"\": an empty entry"},
		"host with port":          {append(base, "-hosts", "github.com:443"), `-hosts: "github.com:443" is not a host name`},
		"unreadable upstream CA":  {append(base, "-upstream-ca", filepath.Join(dir, "missing.pem")), "-upstream-ca: open " + filepath.Join(dir, "missing.pem")},
		"certificate-less CA":     {append(base, "-upstream-ca", notPEM), "-upstream-ca " + notPEM + ": no PEM certificate in it"},
		"bad -resolve":            {append(base, "-resolve", "github.com:127.0.0.1:8443"), `invalid value "github.com:127.0.0.1:8443" for flag -resolve: "github.com:127.0.0.1:8443": want HOST=ADDR:PORT`},
		"-resolve without port":   {append(base, "-resolve", "github.com=127.0.0.1"), `for flag -resolve`},
		"bad -other-hosts":        {append(base, "-other-hosts", "allow"), `-other-hosts "allow": want tunnel or refuse`},
		"non-loopback -listen":    {[]string{"-listen", "0.0.0.0:8118", "-credentials", creds, "-ca-cert-out", ca}, `-listen "0.0.0.0:8118": not a loopback address`},
		"non-loopback metrics":    {append(base, "-metrics-listen", "10.0.0.1:9118"), `-metrics-listen "10.0.0.1:9118": not a loopback address`},
		"negative -margin":        {append(base, "-margin", "-1s"), "-margin -1s: must not be negative"},
		"-ca-cert-out directory":  {[]string{"-listen", "127.0.0.1:0", "-credentials", creds, "-ca-cert-out", dir}, "-ca-cert-out " + dir + " is a directory"},
		"port taken":              {[]string{"-listen", taken.Addr().String(), "-credentials", creds, "-ca-cert-out", ca}, "github-token-proxy: -listen: listen tcp " + taken.Addr().String() + ": bind: address already in use"},
		"stray argument":          {append(base, "extra"), `unexpected argument "extra"`},
		"unknown flag":            {append(base, "-nope"), "flag provided but not defined: -nope\ngithub-token-proxy -h shows the flags"},
		"-allow-private public":   {append(base, "-allow-private", "8.8.8.0/24"), "-allow-private 8.8.8.0/24: no private range in it"},
		"-allow-private loopback": {append(base, "-allow-private", "10.0.0.0/8,127.0.0.0/8"), "-allow-private 127.0.0.0/8: no private range in it"},
		"zero -max-conns":         {append(base, "-max-conns", "0"), "-max-conns 0: must be at least 1"},
		"zero -max-tunnels":       {append(base, "-max-tunnels", "0"), "-max-tunnels 0: must be at least 1"},
		"bad -memory-limit":       {append(base, "-memory-limit", "48M"), `-memory-limit "48M": want auto, off or a size such as 48MiB`},
		"bundle is the cert":      {append(base, "-ca-bundle-out", ca), "-ca-bundle-out " + ca + " is -ca-cert-out"},
		"unwritable -ca-cert-out": {[]string{"-listen", "127.0.0.1:0", "-credentials", creds, "-ca-cert-out", filepath.Join(dir, "missing", "ca.pem")}, "-ca-cert-out: writing the CA certificate: open " + filepath.Join(dir, "missing")},
	} {
		var stderr bytes.Buffer
		code := run(tc.args, io.Discard, &stderr, nil)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and %q", name, code, stderr.String(), tc.want)
		}
	}
}

// TestStartsAndStops: with good flags the proxy writes the CA
// certificate, listens, logs JSON, and stops cleanly.
func TestStartsAndStops(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	stop := make(chan struct{})
	stderr := &lockedBuffer{}
	done := make(chan int)
	go func() {
		done <- run([]string{"-listen", addr, "-credentials", filepath.Join(dir, "credentials.json"), "-ca-cert-out", ca,
			"-resolve", "github.com=127.0.0.1:1", "-resolve", "api.github.com=127.0.0.1:2"}, io.Discard, stderr, stop)
	}()
	// As the pod's startup probe does: wait for -ca-cert-out; by then
	// the proxy listens.
	var data []byte
	for i := 0; i < 100; i++ {
		if data, err = os.ReadFile(ca); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || !strings.HasPrefix(string(data), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("-ca-cert-out: %v %q", err, data)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("-ca-cert-out exists but the proxy does not listen: %v", err)
	}
	// The serving process answers on it (a request to the proxy itself
	// is refused with a reason).
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET / on the proxy: %v %v", resp, err)
	}
	conn.Close()
	close(stop)
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"listening"`) {
		t.Errorf("no start-up line: %s", stderr.String())
	}
}

// TestMain lets run() in these tests start this test binary as the
// serving process, as the real binary starts itself.
func TestMain(m *testing.M) {
	if proxy.IsServingProcess() {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, nil))
	}
	code := m.Run()
	if bin, err := proxyBin(); err == nil && os.Getenv("PROXY_BIN") == "" {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// TestHelpAndVersion: -h says what the program is, shows an example, the
// credentials file's fields, the flags and where the docs are, on
// standard output, exit 0; -version prints the version, exit 0.
func TestHelpAndVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, &out, &errOut, nil); code != 0 || errOut.Len() != 0 {
		t.Errorf("-h: exit %d, stderr %q", code, errOut.String())
	}
	for _, want := range []string{
		"github-token-proxy: an HTTPS proxy on a pod's loopback that adds the GitHub\ninstallation token",
		"Example (examples/runner/k8s/proxy-pod.yaml):\n  github-token-proxy -listen 127.0.0.1:8118",
		`{"token": "ghs_...", "validUntil": 1767225600, ...}`,
		"  validUntil  when Vault revokes it",
		"  branches    (when the role sets them) the session's write scope",
		"  -max-tunnels int\n",
		"  -ca-bundle-out string\n",
		"Docs: docs/agent-isolation.md",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"-version"}, &out, &errOut, nil); code != 0 || out.String() != "github-token-proxy dev\n" {
		t.Errorf("-version: exit %d, %q", code, out.String())
	}
}

// TestProbe: -probe FILE, the startup probe of an image without a shell,
// exits 0 once FILE has something in it and 1 before (missing, empty, a
// directory), without starting anything or needing the other flags.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca-bundle.pem")
	check := func(when string, want int) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run([]string{"-probe", bundle}, &out, &errOut, nil); code != want || out.Len() != 0 || (want == 0) != (errOut.Len() == 0) {
			t.Errorf("-probe %s: exit %d, stdout %q, stderr %q; want exit %d", when, code, out.String(), errOut.String(), want)
		}
	}
	check("before the file exists", 1)
	if err := os.WriteFile(bundle, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	check("on an empty file", 1)
	if err := os.WriteFile(bundle, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check("once the file is written", 0)
	bundle = dir
	check("on a directory", 1)
}
