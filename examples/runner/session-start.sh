#!/usr/bin/env bash
# The platform backend's call when an agentic session starts: write the
# session's role, inside the project's bound, narrowed to the repositories
# (and permissions) the session needs and to the branches it may write
# (ambient/<session>/*: github-token-proxy refuses every other). The session's pod (namespace
# NAMESPACE, service account ambient-session-<session>) then reads
# github/token/session_<namespace>_ambient-session-<session> through Vault Agent.
#
#   session-start.sh SESSION OWNER/REPO [OWNER/REPO...]
#
# All repositories must belong to one owner (a token covers one
# installation). Every run writes every field of the role, so the role is
# exactly what this run asked for, whatever an earlier run (a restarted
# session) wrote: a field left empty here is reset, not kept.
#
# Environment:
#   VAULT_ADDR, VAULT_TOKEN  a token with policies/platform-backend.hcl
#   GITHUB_MOUNT             the engine's mount (default github)
#   NAMESPACE                the project's namespace, which is also its bound's
#                            name (default ambient-sessions)
#   SERVICE_ACCOUNT          the pod's service account
#                            (default ambient-session-SESSION)
#   PERMISSIONS              default contents=write,pull_requests=write,metadata=read
#                            (name=level, comma separated; "" for the bound's
#                            max_permissions)
#   BRANCHES                 the branch patterns the session may write, comma
#                            separated (default ambient/SESSION/*; "" for the
#                            bound's branches)
#   TTL                      optional lease cap, e.g. 30m ("": token life - buffer)
#   EXPIRY_BUFFER            optional, e.g. 10m ("": the config's)
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 SESSION OWNER/REPO [OWNER/REPO...]" >&2
  exit 2
fi
session=$1
shift
mount=${GITHUB_MOUNT:-github}
namespace=${NAMESPACE:-ambient-sessions}
role="session_${namespace}_${SERVICE_ACCOUNT:-ambient-session-$session}"
permissions=${PERMISSIONS-contents=write,pull_requests=write,metadata=read}
branches=${BRANCHES-ambient/$session/*}

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

vault write "$mount/roles/$role" \
  bound="$namespace" \
  owner="$owner" \
  repositories="$csv" \
  repository_ids= \
  permissions="$permissions" \
  branches="$branches" \
  ttl="${TTL:-}" \
  expiry_buffer="${EXPIRY_BUFFER:-}"
echo "session $session: role $mount/roles/$role; its pod reads $mount/token/$role"
