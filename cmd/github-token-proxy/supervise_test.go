package main

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServingProcessRestarts: a kill -9 of the serving process leaves
// the port held (the agent cannot bind it, on the address or on all
// addresses), and the supervisor starts another serving process on it
// with the same CA: git works again without the agent's clients loading
// a new certificate. SIGTERM to the supervisor stops both, exit 0.
func TestServingProcessRestarts(t *testing.T) {
	bin, err := proxyBin()
	if err != nil {
		t.Fatal(err)
	}
	g := newGitServer(t)
	p := startManifestProxy(t, bin, g, nil)
	if err := gitThrough(t, p); err != nil {
		t.Fatalf("git: %v", err)
	}
	caBefore, err := os.ReadFile(p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	first := p.servingPID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The agent tries to take the port, again and again for two seconds
	// after the kill, on the address and on all addresses.
	_, port, _ := net.SplitHostPort(p.addr)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for _, addr := range []string{p.addr, "0.0.0.0:" + port} {
			l, err := net.Listen("tcp", addr)
			if err == nil {
				l.Close()
				t.Fatalf("the agent bound %s after the serving process died", addr)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("binding %s: %v, want address already in use", addr, err)
			}
		}
	}
	var second int
	for i := 0; ; i++ {
		if second = p.servingPID(); second != first && second != p.cmd.Process.Pid {
			break
		}
		if i == 100 {
			t.Fatalf("no new serving process; log:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := gitThrough(t, p); err != nil {
		t.Errorf("git after the restart: %v", err)
	}
	if caAfter, _ := os.ReadFile(p.caFile); string(caAfter) != string(caBefore) {
		t.Error("the CA certificate changed with the restart")
	}
	if log := p.stderr.String(); !strings.Contains(log, `"msg":"the serving process exited; starting another on the same listeners and CA"`) ||
		!strings.Contains(log, `"exit":"signal 9 (killed)"`) {
		t.Errorf("the supervisor's log does not say what happened:\n%s", log)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the supervisor did not stop within 15 s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if err := syscall.Kill(second, 0); err == nil {
		t.Errorf("the serving process %d outlived its supervisor", second)
	}
}
