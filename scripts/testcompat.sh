#!/usr/bin/env bash
# The Vault compatibility run (`make testcompat`, not part of test-all): for
# each Vault version given, builds that Vault into the cache with
# scripts/build-vault.sh (or reuses it) and runs the core of the acceptance
# suite against it:
#   TestBasics              mint, narrowing, lease revoke and revoke -prefix
#                           revoking the tokens at GitHub
#   TestAPITour             every path of the engine through the HTTP API
#   TestLeaseExpiryRevokes  a lease that ends revokes its token at GitHub
#   TestAgentRotation       Vault Agent renders and rotates the token
#   TestUpgrade             plugin upgrade: register, tune, reload, leases kept
#   TestSoak                the continuity promise, with that version's Agent
#                           running the shipped agent-approle.hcl: faults, and
#                           the token in the file never dead at GitHub
#                           (Agent 1.16 ignores lease_renewal_threshold and
#                           fails it)
# Then prints one line per version and fails if any version failed.
#
#   bash scripts/testcompat.sh v1.17.6 v1.21.1   # default: the README's passing list
#   COMPAT_RUN='^TestBasics$' bash scripts/testcompat.sh v1.18.5
#   VAULT_AGENT_BIN=~/.cache/vault-plugin-github-app/vault/v1.21.1/vault \
#     bash scripts/testcompat.sh v1.16.3   # an older server, a newer Agent
set -euo pipefail
cd "$(dirname "$0")/.."

# The versions the README's "Supported Vault versions" section lists as
# passing.
[ $# -gt 0 ] || set -- v1.17.6 v1.18.0 v1.19.5 v1.21.1
run="${COMPAT_RUN:-^(TestBasics|TestAPITour|TestLeaseExpiryRevokes|TestAgentRotation|TestUpgrade|TestSoak)\$}"

agent=""
[ -z "${VAULT_AGENT_BIN:-}" ] || agent="$("$VAULT_AGENT_BIN" version | awk '{print $2}' | tr -d ,)"
summary=()
failed=0
for ver in "$@"; do
  echo "== Vault $ver" >&2
  start=$(date +%s)
  if ! bin="$(VAULT_VERSION="$ver" bash scripts/build-vault.sh)"; then
    summary+=("$ver: not built (the error is above)")
    failed=1
    continue
  fi
  built=$(($(date +%s) - start))
  bin="$(tail -n1 <<<"$bin")"
  start=$(date +%s)
  if VAULT_BIN="$bin" go test -tags acceptance -race -count=1 -timeout 30m -run "$run" ./test/acceptance/ >&2; then
    result=pass
  else
    result=FAIL
    failed=1
  fi
  summary+=("$ver${agent:+ with Agent $agent}: $result (build-vault.sh ${built}s, tests $(($(date +%s) - start))s)")
done

echo "testcompat: $run" >&2
printf '%s\n' "${summary[@]}"
exit "$failed"
