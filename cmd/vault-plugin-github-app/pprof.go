//go:build pprof

package main

import (
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"

	hclog "github.com/hashicorp/go-hclog"
)

// Only a build with -tags pprof has this file (`make build`, the release and
// the acceptance tests' plugin do not): it serves net/http/pprof on the
// loopback address in PLUGIN_PPROF_ADDR (e.g. 127.0.0.1:6061), so that a
// load run can take a CPU profile of the plugin process under load; see
// docs/benchmarks.md. Vault passes its environment on to the plugin.
func init() {
	addr := os.Getenv("PLUGIN_PPROF_ADDR")
	if addr == "" {
		return
	}
	log := hclog.New(&hclog.LoggerOptions{})
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Error("PLUGIN_PPROF_ADDR must be a loopback IP address and port; not serving pprof", "addr", addr)
		return
	}
	go func() {
		log.Error("pprof listener stopped", "error", http.ListenAndServe(addr, nil))
	}()
}
