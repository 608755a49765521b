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
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/ambient-code/vault-plugin-github-app/proxy"
)

// version is set at build time (-ldflags "-X main.version=v1.2.3").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, nil))
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

const about = `github-token-proxy: an HTTPS proxy on a pod's loopback that adds the GitHub
installation token Vault Agent renders to the agent's git and API requests to
GitHub (-hosts), so that the agent itself never holds the token. It
terminates TLS for those hosts with a CA it makes in memory at start, and
tunnels or refuses everything else.

Usage:
  github-token-proxy -credentials FILE -ca-cert-out FILE [flags]

Example (examples/runner/k8s/proxy-pod.yaml):
  github-token-proxy -listen 127.0.0.1:8118 \
    -credentials /var/run/github/credentials.json \
    -ca-cert-out /var/run/github-proxy/ca.pem \
    -ca-bundle-out /var/run/github-proxy/ca-bundle.pem
and in the agent's environment:
  HTTPS_PROXY=http://127.0.0.1:8118
  SSL_CERT_FILE=/var/run/github-proxy/ca-bundle.pem   (and GIT_SSL_CAINFO,
    CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS)
  GH_TOKEN=placeholder-the-proxy-injects-the-real-token   (and GITHUB_TOKEN:
    not a secret; gh sends nothing without one, the proxy replaces it)

The credentials file (what examples/runner/credentials.json.ctmpl renders;
read again whenever it changes):
  {"token": "ghs_...", "validUntil": 1767225600, ...}
  token       the installation token
  validUntil  when Vault revokes it: unix seconds, between 2020 and a day
              ahead; the proxy never sends a token with less than -margin left
  branches    (when the role sets them) the session's write scope: the branch
              patterns git, REST and GraphQL writes may touch; [] allows none
  Other fields are ignored.

The proxy runs in two processes: one holds the listeners and the CA and
starts the one that serves again if it dies, so the port is never free.

Flags:
`

const docsPointer = `
Docs: docs/agent-isolation.md in https://github.com/ambient-code/vault-plugin-github-app
`

// options are the parsed flags.
type options struct {
	cfg                   proxy.Config
	listen, metricsListen string
	memoryLimit           string
}

// parse reads the flags; done reports that the program should exit with
// code (help, version, or a bad flag).
func parse(args []string, stdout, stderr io.Writer) (o options, code int, done bool) {
	fs := flag.NewFlagSet("github-token-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // -h prints the help to stdout below; a bad flag gets a hint
	listen := fs.String("listen", "127.0.0.1:8118", "where the agent's HTTPS_PROXY points (loopback only)")
	credentials := fs.String("credentials", "", "the credentials.json Vault Agent renders (required)")
	caOut := fs.String("ca-cert-out", "", "where to write the CA certificate (PEM, public) the agent's clients trust (required)")
	bundleOut := fs.String("ca-bundle-out", "", "where to write the system's root certificates and the CA certificate in one PEM file, for clients with one CA setting (default: none)")
	hosts := fs.String("hosts", strings.Join(proxy.DefaultHosts, ","), "the hosts the token may go to, comma-separated, no wildcards")
	upstreamCA := fs.String("upstream-ca", "", "PEM file of the CA that signs the hosts' certificates (GHES); default: the system roots")
	resolve := resolveFlag{}
	fs.Var(resolve, "resolve", "HOST=ADDR:PORT: connect to ADDR:PORT for HOST, keeping HOST for TLS and Host (repeatable)")
	other := fs.String("other-hosts", proxy.OtherHostsTunnel, "CONNECT to any other host: tunnel (untouched, no token) or refuse (403)")
	allowPrivate := fs.String("allow-private", "", "private ranges (CIDR, comma-separated) tunnels and plain HTTP may reach, e.g. 10.20.0.0/16; loopback, link-local and the pod's own addresses never")
	margin := fs.Duration("margin", proxy.DefaultMargin, "never use a token with less than this left before Vault revokes it")
	wait := fs.Duration("wait", proxy.DefaultWait, "how long a request waits for Vault Agent to render a fresh token")
	maxConns := fs.Int("max-conns", proxy.DefaultMaxConns, "client connections open at once; more are answered 503")
	maxTunnels := fs.Int("max-tunnels", proxy.DefaultMaxTunnels, "tunnels to other hosts open at once; more are answered 503")
	maxUpstream := fs.Int("max-upstream-conns", proxy.DefaultMaxUpstreamConns, "connections to each configured host at once; more requests wait for one")
	memoryLimit := fs.String("memory-limit", proxy.MemoryLimitAuto, "the soft memory limit: auto (GOMEMLIMIT, else 3/4 of the container's memory limit), off, or a size such as 48MiB")
	metricsListen := fs.String("metrics-listen", "", "where to serve Prometheus metrics, e.g. 127.0.0.1:9118 (loopback only; default: none)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	probe := fs.String("probe", "", "check FILE and exit, doing nothing else: 0 when it exists and is not empty (the proxy writes -ca-cert-out, then -ca-bundle-out, once it listens), 1 when not; a startup probe that needs no shell in the image")
	fail := func(err error) (options, int, bool) {
		fmt.Fprintf(stderr, "github-token-proxy: %v\n", err)
		return options{}, 2, true
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, about)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprint(stdout, docsPointer)
			return options{}, 0, true
		}
		fmt.Fprintln(stderr, "github-token-proxy -h shows the flags")
		return options{}, 2, true
	}
	if *showVersion {
		fmt.Fprintf(stdout, "github-token-proxy %s\n", version)
		return options{}, 0, true
	}
	if *probe != "" {
		fi, err := os.Stat(*probe)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "github-token-proxy: -probe: %v\n", err)
		case !fi.Mode().IsRegular() || fi.Size() == 0:
			fmt.Fprintf(stderr, "github-token-proxy: -probe: %s is not a file with something in it\n", *probe)
		default:
			return options{}, 0, true
		}
		return options{}, 1, true
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0)))
	}
	hostList, err := proxy.ParseHosts(*hosts)
	if err != nil {
		return fail(err)
	}
	allowed, err := proxy.ParseAllowPrivate(*allowPrivate)
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
	for name, v := range map[string]int{"-max-conns": *maxConns, "-max-tunnels": *maxTunnels, "-max-upstream-conns": *maxUpstream} {
		if v < 1 {
			return fail(fmt.Errorf("%s %d: must be at least 1", name, v))
		}
	}
	if *memoryLimit != proxy.MemoryLimitAuto && *memoryLimit != "off" {
		if _, err := proxy.ParseSize(*memoryLimit); err != nil {
			return fail(fmt.Errorf("-memory-limit %q: want auto, off or a size such as 48MiB", *memoryLimit))
		}
	}
	o = options{
		cfg: proxy.Config{
			Credentials:      *credentials,
			CACertOut:        *caOut,
			CABundleOut:      *bundleOut,
			Hosts:            hostList,
			UpstreamCA:       *upstreamCA,
			Resolve:          resolve,
			OtherHosts:       *other,
			AllowPrivate:     allowed,
			Margin:           *margin,
			Wait:             *wait,
			MaxConns:         *maxConns,
			MaxTunnels:       *maxTunnels,
			MaxUpstreamConns: *maxUpstream,
		},
		listen: *listen, metricsListen: *metricsListen, memoryLimit: *memoryLimit,
	}
	// The serving process takes the settings its supervisor checked (and
	// writes no file: -ca-bundle-out is the supervisor's).
	if proxy.IsServingProcess() {
		o.cfg.CABundleOut = ""
	} else if err := o.cfg.Check(); err != nil {
		return fail(err)
	}
	return o, 0, false
}

// run starts the proxy and serves until SIGTERM or SIGINT (or until stop
// is closed, for tests); it returns the exit code. The first process
// binds the listeners, makes the CA and supervises; the serving process
// it starts (this program again, flagged by the environment) serves.
func run(args []string, stdout, stderr io.Writer, stop <-chan struct{}) int {
	o, code, done := parse(args, stdout, stderr)
	if done {
		return code
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	if proxy.IsServingProcess() {
		return serve(o, log, stop, sig)
	}

	// The supervising process: bind first (the listeners outlive every
	// serving process), make the CA, start the server.
	fail := func(err error) int {
		fmt.Fprintf(stderr, "github-token-proxy: %v\n", err)
		return 2
	}
	var listeners []*net.TCPListener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, a := range []struct{ flag, addr string }{{"-listen", o.listen}, {"-metrics-listen", o.metricsListen}} {
		if a.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			return fail(fmt.Errorf("%s: %v", a.flag, err))
		}
		listeners = append(listeners, l.(*net.TCPListener))
	}
	ca, err := proxy.NewCA(o.cfg.Hosts)
	if err != nil {
		return fail(err)
	}
	// Once -ca-cert-out exists, the proxy listens (a startup probe can
	// test for the file): connections wait in the listener's queue for
	// the serving process.
	if err := ca.WriteFiles(o.cfg.CACertOut, o.cfg.CABundleOut); err != nil {
		return fail(err)
	}
	// Reading the system roots left garbage the supervisor, which then
	// only waits, would hold for the container's life.
	debug.FreeOSMemory()
	log.Info("supervising", "version", version, "pid", os.Getpid(), "listen", listeners[0].Addr().String())
	s := &proxy.Supervisor{Args: args, Listeners: listeners, CA: ca, Log: log, Stderr: stderr}
	return s.Run(stop, sig)
}

// serve is the serving process: the listeners and the CA come from the
// supervisor.
func serve(o options, log *slog.Logger, stop <-chan struct{}, sig <-chan os.Signal) int {
	sup, err := proxy.Inherited()
	if err != nil {
		log.Error("cannot take over from the supervising process", "error", err.Error())
		return 1
	}
	limit, from, err := proxy.SetMemoryLimit(o.memoryLimit)
	if err != nil {
		log.Error("memory limit", "error", err.Error())
		return 2
	}
	o.cfg.CA = sup.CA
	o.cfg.Log = log
	p, err := proxy.New(o.cfg)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 2
	}
	l := sup.Listeners[0]
	log.Info("listening", "version", version, "pid", os.Getpid(), "listen", l.Addr().String(), "hosts", o.cfg.Hosts, "other_hosts", o.cfg.OtherHosts,
		"credentials", o.cfg.Credentials, "ca_cert_out", o.cfg.CACertOut, "ca_bundle_out", o.cfg.CABundleOut,
		"margin", o.cfg.Margin.String(), "wait", o.cfg.Wait.String(), "metrics_listen", o.metricsListen,
		"max_conns", o.cfg.MaxConns, "max_tunnels", o.cfg.MaxTunnels, "max_upstream_conns", o.cfg.MaxUpstreamConns,
		"memory_limit_bytes", limit, "memory_limit_from", from)

	errc := make(chan error, 2)
	go func() { errc <- p.Serve(l) }()
	if len(sup.Listeners) > 1 {
		go func() { errc <- p.ServeMetrics(sup.Listeners[1]) }()
	}
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
