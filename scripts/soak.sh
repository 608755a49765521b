#!/usr/bin/env bash
# The continuity soak (test/acceptance/soak_test.go, issue 11) for
# SOAK_DURATION (default 10m), through a real Vault and Vault Agent running
# examples/runner/agent-approle.hcl, then docs/continuity.md from its
# figures and fault timeline. The acceptance tests run the same soak for
# 2m30s in CI.
#
#   make soak                         # 10 minutes (plus the failover soak)
#   SOAK_DURATION=30m make soak
#   SOAK_LEASE_RENEWAL_THRESHOLD=0.9 SOAK_OUT=/tmp/c.md make soak   # try another threshold
#
# Writes SOAK_OUT (default docs/continuity.md) even when the soak fails, and
# exits with the test's status. VAULT_BIN names a Vault binary to use instead
# of the pinned build.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${SOAK_DURATION:-10m}
out=${SOAK_OUT:-docs/continuity.md}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

vault_bin=${VAULT_BIN:-$(bash scripts/build-vault.sh)}
echo "soak: ${duration} with every fault, then the failover soak; log in ${work}/soak.log" >&2
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
rc=0
SOAK_DURATION=$duration SOAK_REPORT=$work/report VAULT_BIN=$vault_bin \
  go test -tags acceptance -count=1 -timeout 90m -v -run '^(TestSoak|TestSoakFailover)$' ./test/acceptance/ \
  >"$work/soak.log" 2>&1 || rc=$?
grep -E '^(=== RUN|--- |(PASS|FAIL|ok) )|soak (single|failover) \+' "$work/soak.log" >&2 || true

{
  cat <<MD
# Session continuity, measured

Written by \`make soak\` (scripts/soak.sh) on ${start}, commit
$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- examples test || echo ' (with local changes)'),
Vault $("$vault_bin" version | awk '{print $2}' | tr -d ,), $(nproc) CPUs shared with other work.
SOAK_DURATION=${duration}. Result: $([ "$rc" = 0 ] && echo "**pass**" || echo "**FAIL (exit ${rc})**").

What it is: issue 11's continuity soak (test/acceptance/soak_test.go). A real
Vault (raft storage) with the plugin, a real Vault Agent running
examples/runner/agent-approle.hcl and its templates as shipped (addresses and
paths substituted, durations divided by 60), restarted whenever it exits as
Kubernetes restarts a sidecar (CrashLoopBackOff, scaled), and the GitHub API
double. Time is compressed: 60 s tokens and a 15 s expiry_buffer stand for
GitHub's hour and the default 5 minutes, so one soak minute is one real hour.
Agent's AppRole token has token_ttl 60 s (the recipe's 1 h) and a token_max_ttl
of 70 s, so that Agent reaches it and logs in again about every 45 s of its
life (consul-template #1433: Vault revokes every lease created by a token
that expires). Agent's retry window, a count (12 retries, 5-6 minutes at real
scale), is compressed to 2 retries (15-20 s here): 12 would outlast a token.

- A **sample** (every 250 ms) reads ./github/token and ./github/credentials.json
  and asks the double about the token in each: it is **good** when both are live
  at GitHub (not revoked, not expired) with at least 5 s left.
- The **credential helper** (examples/runner/git-credential-vault.sh, margin
  5 s, wait 10 s) is run every 2 s; each token it hands out is judged the same
  way at the moment it answers.
- **git through the token proxy**: github-token-proxy reads the same
  credentials.json, with the session's write scope (session-start.sh's default,
  ambient/s1/*). Every 3 s a round of the agent side's git goes through it: a
  fetch, then a push of a new commit to the session's branch ambient/s1/soak
  (the double's branch must then hold that commit), and every tenth round a
  push to main (a fast-forward GitHub would take; the first round too), which the proxy must refuse
  in git's report-status; main must never move. A fetch or push may fail with
  the proxy's 503 only while a fault has left no usable token, and a later one
  must succeed.
- **Leaks**: tokens live at GitHub with no Vault lease at the end. **Leases whose
  token is gone**: Vault leases whose token is no longer live at GitHub.
- **Gap**: for each token, from the sample that first saw its successor in the
  file to its revocation at GitHub. Never negative: a token is never revoked
  while still in the file.
- **Mints per real hour** = mints per soak minute.

Faults, each cycle (one cycle at least, repeated until SOAK_DURATION): SIGKILL of
the plugin process; GitHub slow (2 s per call) for 15 s; after Agent's token has
reached its max TTL, a GitHub outage of the mint endpoint for 24 s (40% of a
token's life), armed right after a render so that it starts at Agent's next
re-read, every mint answering 503; a Vault restart (stop, start, unseal); SIGKILL
of Agent; a Vault outage lasting until Agent has exhausted its retries and
exited, plus 2 s; another max-TTL rollover. The failover soak runs a 3-node raft
cluster behind a loopback TCP balancer and SIGKILLs the active node.

## Figures

MD
  for f in "$work"/report.*; do
    [ -e "$f" ] && { cat "$f"; echo; }
  done
  if ! ls "$work"/report.* >/dev/null 2>&1; then
    echo "No report was written; the end of the test log:"
    echo
    echo '```'
    tail -n 60 "$work/soak.log" | grep -v ghs_ || true
    echo '```'
  fi
} >"$out"
echo "soak: wrote ${out}" >&2
exit "$rc"
