package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no -credentials":        {[]string{"-listen", "127.0.0.1:0", "-ca-cert-out", ca}, "-credentials is required"},
		"no -ca-cert-out":        {[]string{"-listen", "127.0.0.1:0", "-credentials", creds}, "-ca-cert-out is required"},
		"wildcard host":          {append(base, "-hosts", "github.com,*.github.com"), `-hosts: "*.github.com" is a wildcard`},
		"empty host":             {append(base, "-hosts", "github.com,,api.github.com"), "-hosts \"github.com,,api.github.com\": an empty entry"},
		"empty host list":        {append(base, "-hosts", ""), "-hosts \"\": an empty entry"},
		"host with port":         {append(base, "-hosts", "github.com:443"), `-hosts: "github.com:443" is not a host name`},
		"unreadable upstream CA": {append(base, "-upstream-ca", filepath.Join(dir, "missing.pem")), "-upstream-ca: open " + filepath.Join(dir, "missing.pem")},
		"certificate-less CA":    {append(base, "-upstream-ca", notPEM), "-upstream-ca " + notPEM + ": no PEM certificate in it"},
		"bad -resolve":           {append(base, "-resolve", "github.com:127.0.0.1:8443"), `invalid value "github.com:127.0.0.1:8443" for flag -resolve: "github.com:127.0.0.1:8443": want HOST=ADDR:PORT`},
		"-resolve without port":  {append(base, "-resolve", "github.com=127.0.0.1"), `for flag -resolve`},
		"bad -other-hosts":       {append(base, "-other-hosts", "allow"), `-other-hosts "allow": want tunnel or refuse`},
		"non-loopback -listen":   {[]string{"-listen", "0.0.0.0:8118", "-credentials", creds, "-ca-cert-out", ca}, `-listen "0.0.0.0:8118": not a loopback address`},
		"non-loopback metrics":   {append(base, "-metrics-listen", "10.0.0.1:9118"), `-metrics-listen "10.0.0.1:9118": not a loopback address`},
		"negative -margin":       {append(base, "-margin", "-1s"), "-margin -1s: must not be negative"},
		"-ca-cert-out directory": {[]string{"-listen", "127.0.0.1:0", "-credentials", creds, "-ca-cert-out", dir}, "-ca-cert-out " + dir + " is a directory"},
		"stray argument":         {append(base, "extra"), `unexpected argument "extra"`},
	} {
		var stderr bytes.Buffer
		code := run(tc.args, &stderr, nil)
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
	var stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run([]string{"-listen", addr, "-credentials", filepath.Join(dir, "credentials.json"), "-ca-cert-out", ca,
			"-resolve", "github.com=127.0.0.1:1", "-resolve", "api.github.com=127.0.0.1:2"}, &stderr, stop)
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
	conn.Close()
	close(stop)
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"listening"`) {
		t.Errorf("no start-up line: %s", stderr.String())
	}
}
