// Command github-token-proxy injects the GitHub token Vault Agent renders
// into an agent's HTTPS traffic to GitHub, so that the agent never holds
// it. See docs/agent-isolation.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ambient-code/vault-plugin-github-app/proxy"
)

// version is set at build time (-ldflags "-X main.version=v1.2.3").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr, nil))
}

// resolveFlag collects repeated -resolve HOST=ADDR:PORT values.
type resolveFlag map[string]string

func (f resolveFlag) String() string { return "" }

func (f resolveFlag) Set(s string) error {
	host, addr, err := proxy.ParseResolve(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "-resolve "))
	}
	f[host] = addr
	return nil
}

// run starts the proxy and serves until SIGTERM or SIGINT (or until stop
// is closed, for tests); it returns the exit code.
func run(args []string, stderr io.Writer, stop <-chan struct{}) int {
	fs := flag.NewFlagSet("github-token-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8118", "where the agent's HTTPS_PROXY points (loopback only)")
	credentials := fs.String("credentials", "", "the credentials.json Vault Agent renders (required)")
	caOut := fs.String("ca-cert-out", "", "where to write the CA certificate (PEM, public) the agent's clients trust (required)")
	hosts := fs.String("hosts", strings.Join(proxy.DefaultHosts, ","), "the hosts the token may go to, comma-separated, no wildcards")
	upstreamCA := fs.String("upstream-ca", "", "PEM file of the CA that signs the hosts' certificates (GHES); default: the system roots")
	resolve := resolveFlag{}
	fs.Var(resolve, "resolve", "HOST=ADDR:PORT: connect to ADDR:PORT for HOST, keeping HOST for TLS and Host (repeatable)")
	other := fs.String("other-hosts", proxy.OtherHostsTunnel, "CONNECT to any other host: tunnel (untouched, no token) or refuse (403)")
	margin := fs.Duration("margin", proxy.DefaultMargin, "never use a token with less than this left before Vault revokes it")
	wait := fs.Duration("wait", proxy.DefaultWait, "how long a request waits for Vault Agent to render a fresh token")
	metricsListen := fs.String("metrics-listen", "", "where to serve Prometheus metrics, e.g. 127.0.0.1:9118 (loopback only; default: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "github-token-proxy: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0)))
	}
	hostList, err := proxy.ParseHosts(*hosts)
	if err != nil {
		return fail(err)
	}
	if err := proxy.CheckLoopback("-listen", *listen); err != nil {
		return fail(err)
	}
	if *metricsListen != "" {
		if err := proxy.CheckLoopback("-metrics-listen", *metricsListen); err != nil {
			return fail(err)
		}
	}
	// Bind first: once -ca-cert-out exists, the proxy is listening (a
	// startup probe can test for the file).
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(fmt.Errorf("-listen: %v", err))
	}
	var ml net.Listener
	if *metricsListen != "" {
		if ml, err = net.Listen("tcp", *metricsListen); err != nil {
			l.Close()
			return fail(fmt.Errorf("-metrics-listen: %v", err))
		}
	}
	closeListeners := func() {
		l.Close()
		if ml != nil {
			ml.Close()
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	p, err := proxy.New(proxy.Config{
		Credentials: *credentials,
		CACertOut:   *caOut,
		Hosts:       hostList,
		UpstreamCA:  *upstreamCA,
		Resolve:     resolve,
		OtherHosts:  *other,
		Margin:      *margin,
		Wait:        *wait,
		Log:         log,
	})
	if err != nil {
		closeListeners()
		return fail(err)
	}
	log.Info("listening", "version", version, "listen", l.Addr().String(), "hosts", hostList, "other_hosts", *other,
		"credentials", *credentials, "ca_cert_out", *caOut, "margin", margin.String(), "wait", wait.String(), "metrics_listen", *metricsListen)

	errc := make(chan error, 2)
	go func() { errc <- p.Serve(l) }()
	if ml != nil {
		go func() { errc <- p.ServeMetrics(ml) }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	code := 0
	select {
	case s := <-sig:
		log.Info("stopping", "signal", s.String())
	case <-stop:
	case err := <-errc:
		log.Error("serving failed", "error", err.Error())
		code = 1
	}
	p.Close()
	return code
}
