#!/usr/bin/env bash
# Runs the benchmarks and writes docs/benchmarks.md:
#   1. in-process: go test -bench in backend/ against the GitHub API double
#   2. through a real Vault: the load runs of test/acceptance (LOAD_DURATION
#      per scenario, LOAD_WORKERS concurrent clients), with the same Vault's
#      kv-v1 read throughput as the ceiling and the floor (test/floorplugin,
#      a plugin that issues a lease and calls nothing) alternating with
#      by-id LOAD_ROUNDS times, and the fault run.
# All traffic stays on 127.0.0.1; every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOAD_DURATION="${LOAD_DURATION:-15s}" LOAD_WORKERS="${LOAD_WORKERS:-8}" LOAD_ROUNDS="${LOAD_ROUNDS:-5}"
out="${BENCH_OUT:-docs/benchmarks.md}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

vault="$(bash scripts/build-vault.sh)"
inproc_cmd="go test -run '^\$' -bench BenchmarkMint -benchtime 5000x -count 3 ./backend"
echo "== $inproc_cmd" >&2
eval "$inproc_cmd" | tee "$tmp/inproc.txt" >&2

load_cmd="LOAD_DURATION=$LOAD_DURATION LOAD_WORKERS=$LOAD_WORKERS LOAD_ROUNDS=$LOAD_ROUNDS go test -tags acceptance -count=1 -timeout 30m -run '^(TestLoad|TestLeaseEntrySize)' ./test/acceptance/"
echo "== $load_cmd" >&2
# The machine is shared: the load average before and after the load runs
# goes into the report beside the figures.
load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
LOAD_REPORT="$tmp" go test -tags acceptance -count=1 -timeout 30m -run '^(TestLoad|TestLeaseEntrySize)' ./test/acceptance/ >&2
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

# The proxy's section comes from its own benchmark (the command is in the
# section); keep it as it is.
proxy_section="$(sed -n '/^## github-token-proxy/,$p' "$out" 2>/dev/null || true)"

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ":(exclude)$out" 2>/dev/null || echo ' (with uncommitted changes)'). Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GiB; $(go version | cut -d' ' -f3); $("$vault" version | cut -d, -f1)."
  echo "Everything (Vault, the plugin, the GitHub API double and the load clients) shares those cores, and so does whatever else runs on the machine: its load average (1, 5 and 15 minutes) was $load_before before the load runs through Vault and $load_after after them."
  echo
  echo "## In-process: the backend against the GitHub API double"
  echo
  echo "\`$inproc_cmd\`"
  echo
  echo '```'
  grep -E '^(Benchmark|goos|goarch|cpu)' "$tmp/inproc.txt"
  echo '```'
  echo
  echo "github-calls/token counts every HTTP request the double saw per token minted in steady state; jwt-signs/1000tokens counts App JWTs signed. vault-calls/token and log-lines/token count what is free in-process but not through a real Vault, where the plugin is a process of its own: each call to the system view is a gRPC round trip to Vault (the framework's replication-state check on every request, and the mount's max lease TTL for lease_expires_at, one read shared by the mints under way, never one that started before a mint's request arrived), and each line the plugin logs, at any level, is written to Vault, which parses it before it looks at its own log level. The installation lookup of owner and repository roles is cached, so both stay at 1 call per token; a mount signs one JWT every ~8 minutes. B/op and allocs/op include the in-process double's side of each request (by-repo tokens carry GitHub's full repository object in the double's answer)."
  echo
  echo "## Through a real Vault server"
  echo
  echo "\`$load_cmd\`"
  echo
  echo "Each row: N clients reading \`github/token/<role>\` as fast as they can for the duration. by-id is an \`installation_id\` role; by-owner an \`owner\` role among 100 installations. GitHub latency is injected at the double, which runs in the test process on the same cores (it checks each App JWT in full once, then remembers it until its exp, so it spends no RSA verification per request). kv-v1 is the same Vault's read throughput with the same clients, the ceiling for any engine (and where a static token would live). The floor is an external plugin built and served like this one (\`test/floorplugin\`: same SDK, \`plugin.ServeMultiplex\`, same TLS flags) whose read of \`floor/token/<name>\` issues a lease (55 minutes, a value the size of the double's 520-character tokens, a revoke that does nothing) and calls nothing: what Vault, the plugin protocol and a lease cost per read, the most any external engine could do. With GitHub answering at once, kv-v1, the floor and by-id alternate $LOAD_ROUNDS times; the by-id row pools those rounds."
  echo
  cat "$tmp/through-vault.md"
  echo
  echo "### by-id against the floor, round by round"
  echo
  echo "The same Vault and the same clients, back to back, in a rotating order. The machine is shared, so each round's ratio moves; the spread is part of the result. The CPU time per request says where the difference goes, whatever the load."
  echo
  cat "$tmp/floor.md"
  echo
  echo "Where the time goes: the same test takes CPU profiles of each run with \`GOFLAGS=-tags=pprof PLUGIN_PPROF_ADDR=127.0.0.1:6061 LOAD_PROFILE=1 LOAD_REPORT=<dir> go test -tags acceptance -count=1 -run '^TestLoadThroughVault\$' ./test/acceptance/\`: \`cpu-vault-<run>-<round>.pprof\` from Vault's \`sys/pprof\`, \`cpu-plugin-by-id-<round>.pprof\` from the engine (built with \`-tags pprof\`, which serves net/http/pprof on that loopback address; no other build has the listener) and \`cpu-clients-<run>-<round>.pprof\` from the test process; \`go tool pprof -top\` reads them."
  echo
  echo "## Faults: 10% 503 and 2% 429 (Retry-After 1s) at the double"
  echo
  cat "$tmp/faults.md"
  echo
  echo "Every token the double issued has a Vault lease (mapped through Vault's raw lease entries) or was revoked; every lease's token is live at the double; after \`vault lease revoke -prefix github/token/\` none is live."
  echo
  echo "## Lean leases"
  echo
  cat "$tmp/lease-size.md"
  if [ -n "$proxy_section" ]; then
    echo
    echo "$proxy_section"
  fi
} > "$out.new"
mv "$out.new" "$out"
echo "wrote $out" >&2
