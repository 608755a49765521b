#!/usr/bin/env bash
# The platform backend's call when an agentic session starts: write the
# session's role, narrowed to the repositories (and permissions) the
# session needs. The session's pod (service account ambient-session-<session>)
# then reads github/token/ambient-session-<session> through Vault Agent.
#
#   session-start.sh SESSION OWNER/REPO [OWNER/REPO...]
#
# All repositories must belong to one owner (a token covers one
# installation). Writing again (a restarted session) updates the role.
#
# Environment:
#   VAULT_ADDR, VAULT_TOKEN  a token with policies/platform-backend.hcl
#   GITHUB_MOUNT             the engine's mount (default github)
#   ROLE_PREFIX              default ambient-session-; must match the service
#                            account names and the Kubernetes auth role
#   PERMISSIONS              default contents=write,pull_requests=write,metadata=read
#                            (name=level, comma separated; "" for everything the App has)
#   TTL                      optional lease cap, e.g. 30m (default: token life - buffer)
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 SESSION OWNER/REPO [OWNER/REPO...]" >&2
  exit 2
fi
session=$1
shift
mount=${GITHUB_MOUNT:-github}
role="${ROLE_PREFIX:-ambient-session-}${session}"
permissions=${PERMISSIONS-contents=write,pull_requests=write,metadata=read}

owner=${1%%/*}
repos=()
for full in "$@"; do
  if [[ $full != */* ]]; then
    echo "session-start: $full: give repositories as owner/name" >&2
    exit 2
  fi
  if [[ ${full%%/*} != "$owner" ]]; then
    echo "session-start: $full: all repositories must belong to $owner (one installation per token)" >&2
    exit 2
  fi
  repos+=("$full")
done
csv=$(IFS=,; echo "${repos[*]}")

args=("owner=$owner" "repositories=$csv")
if [ -n "$permissions" ]; then
  args+=("permissions=$permissions")
fi
if [ -n "${TTL:-}" ]; then
  args+=("ttl=$TTL")
fi

vault write "$mount/roles/$role" "${args[@]}"
echo "session $session: role $mount/roles/$role; its pod reads $mount/token/$role"
