package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// The supervising process. github-token-proxy binds its listeners and
// makes its CA in a first process that serves nothing and holds little
// (about 2 MiB), and runs the proxy in a child process that inherits both;
// when the child dies (a crash, a kill by the out-of-memory killer where
// it picks the largest process), the supervisor starts another on the same
// sockets with the same CA. The listening port is never released while the
// container lives, so the agent cannot bind it in the gap, and the
// agent's clients keep trusting the CA certificate they loaded.
//
// Why not a privileged port instead: containerd and Docker often set
// net.ipv4.ip_unprivileged_port_start=0 in a pod's network namespace, so
// any user may bind port 80; and the proxy, a non-root user with
// allowPrivilegeEscalation: false, could not bind one otherwise.
//
// What it does not cover: the supervisor's own death (it does nothing but
// wait), and an out-of-memory kill of the whole container: Kubernetes 1.28
// and later on cgroup v2 set memory.oom.group, so the kernel kills every
// process of the container at once; the bounds and the soft memory limit
// are what keep the proxy from getting there.

// serveEnv marks a serving process started by a supervisor: its value
// is the number of listeners it inherits (after the CA pipe).
const serveEnv = "GITHUB_TOKEN_PROXY_SERVE"

// The first inherited descriptor: the CA pipe, then the listeners.
const firstInheritedFD = 3

// restart backoff: 100 ms after the first death, doubling to 5 s while the
// child keeps dying young; a child that ran a minute resets it.
const (
	restartFirst  = 100 * time.Millisecond
	restartMax    = 5 * time.Second
	restartSettle = time.Minute
	stopGrace     = 10 * time.Second
)

// IsServingProcess reports whether this process was started by a
// supervisor to serve.
func IsServingProcess() bool { return os.Getenv(serveEnv) != "" }

// Supervised is what a serving process inherits: the CA and the
// listeners, in the order the supervisor was given them.
type Supervised struct {
	CA        *CA
	Listeners []net.Listener
}

// Inherited returns what the supervisor handed this process, or nil when
// it was not started by one.
func Inherited() (*Supervised, error) {
	v := os.Getenv(serveEnv)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(serveEnv)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 8 {
		return nil, fmt.Errorf("%s=%q: not a listener count", serveEnv, v)
	}
	pipe := os.NewFile(firstInheritedFD, "ca")
	ca, err := ReceiveCA(pipe)
	pipe.Close()
	if err != nil {
		return nil, err
	}
	s := &Supervised{CA: ca}
	for i := range n {
		f := os.NewFile(uintptr(firstInheritedFD+1+i), "listener")
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("inherited listener %d: %w", i, err)
		}
		s.Listeners = append(s.Listeners, l)
	}
	return s, nil
}

// Supervisor runs serving processes: this program, again, with Args.
type Supervisor struct {
	Args      []string
	Listeners []*net.TCPListener
	CA        *CA
	Log       *slog.Logger
	Stderr    io.Writer // the serving processes' standard error (and output)
}

// Run starts the first serving process and another each time one dies,
// until stop is closed or sig delivers; then it stops the serving process
// with SIGTERM (SIGKILL after a grace) and returns its exit code: 0 after a
// clean stop.
func (s *Supervisor) Run(stop <-chan struct{}, sig <-chan os.Signal) int {
	exe, err := os.Executable()
	if err != nil {
		s.Log.Error("cannot find this program to run it again", "error", err.Error())
		return 1
	}
	var files []*os.File
	for _, l := range s.Listeners {
		f, err := l.File()
		if err != nil {
			s.Log.Error("cannot hand the listener on", "error", err.Error())
			return 1
		}
		defer f.Close()
		files = append(files, f)
	}
	backoff := restartFirst
	for {
		cmd, err := s.start(exe, files)
		if err != nil {
			s.Log.Error("cannot start the serving process", "error", err.Error())
			return 1
		}
		started := time.Now()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if code := exitCode(err); code == 2 {
				// A setting the supervisor could not check (the serving
				// process names it): another start would fail the same.
				s.Log.Error("the serving process refused its settings; stopping", "pid", cmd.Process.Pid)
				return 2
			}
			ran := time.Since(started)
			if ran >= restartSettle {
				backoff = restartFirst
			}
			s.Log.Warn("the serving process exited; starting another on the same listeners and CA",
				"pid", cmd.Process.Pid, "exit", exitDescription(err), "ran_s", ran.Round(time.Millisecond).Seconds(), "restart_in", backoff.String())
			select {
			case <-time.After(backoff):
			case <-stop:
				return 0
			case v := <-sig:
				s.Log.Info("stopping", "signal", v.String())
				return 0
			}
			backoff = min(2*backoff, restartMax)
		case <-stop:
			return s.stop(cmd, exited)
		case v := <-sig:
			s.Log.Info("stopping", "signal", v.String())
			return s.stop(cmd, exited)
		}
	}
}

// start runs one serving process with the CA sent over a pipe.
func (s *Supervisor) start(exe string, listeners []*os.File) (*exec.Cmd, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(exe, s.Args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", serveEnv, len(listeners)))
	cmd.Stdout, cmd.Stderr = s.Stderr, s.Stderr
	cmd.ExtraFiles = append([]*os.File{r}, listeners...)
	// Its own process group: a terminal's Ctrl-C reaches the supervisor,
	// which stops it; and it dies with the supervisor.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, err
	}
	err = s.CA.Send(w) // the pipe's buffer holds it: this does not wait for the child
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("sending the CA: %w", err)
	}
	return cmd, nil
}

func (s *Supervisor) stop(cmd *exec.Cmd, exited <-chan error) int {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		// SIGTERM itself ended it when it came before the serving
		// process's handler was in place: the stop it was asked for.
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				err = nil
			}
		}
		if err != nil {
			s.Log.Error("the serving process did not stop cleanly", "exit", exitDescription(err))
			return 1
		}
		return 0
	case <-time.After(stopGrace):
		_ = cmd.Process.Kill()
		<-exited
		s.Log.Error("the serving process did not stop within the grace; killed", "grace", stopGrace.String())
		return 1
	}
}

// exitCode is a process's exit code, -1 if a signal ended it.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

func exitDescription(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("code %d", ee.ExitCode())
	}
	if err == nil {
		return "code 0"
	}
	return err.Error()
}
