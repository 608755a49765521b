#!/usr/bin/env bash
# The platform backend's call when an agentic session ends: delete the
# session's role, so nothing can mint for it any more, then revoke every
# token minted for it. Vault revokes each one at GitHub
# (DELETE /installation/token) and retries a failed revocation on its own.
#
#   session-end.sh SESSION
#
# Environment: VAULT_ADDR, VAULT_TOKEN (policies/platform-backend.hcl),
# GITHUB_MOUNT (default github), NAMESPACE (default ambient-sessions),
# SERVICE_ACCOUNT (default ambient-session-SESSION), SYNC=1 to wait until
# GitHub has revoked the tokens (fails if it has not).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 SESSION" >&2
  exit 2
fi
mount=${GITHUB_MOUNT:-github}
role="session_${NAMESPACE:-ambient-sessions}_${SERVICE_ACCOUNT:-ambient-session-$1}"

# Role first: the session's Agent cannot mint a new token in between.
vault delete "$mount/roles/$role"

# Vault appends "/" to the prefix: github/token/session_ambient-sessions_ambient-session-s1
# does not reach the leases of session_ambient-sessions_ambient-session-s10.
sync=()
if [ "${SYNC:-}" = 1 ]; then
  sync=(-sync)
fi
vault lease revoke ${sync[@]+"${sync[@]}"} -prefix "$mount/token/$role"
