#!/bin/sh
# A `gh` wrapper that reads the GitHub installation token from the file
# Vault Agent renders, on every call, and hands it to the real gh in
# GH_TOKEN. Install it ahead of the real gh on PATH, named gh, e.g. as
# /usr/local/bin/gh with the real one at /usr/bin/gh.
#
# Environment:
#   GITHUB_CREDENTIALS_FILE  what Agent renders (default
#                            /var/run/github/credentials.json): the token and
#                            validUntil, when Vault revokes it
#   GITHUB_TOKEN_MARGIN      seconds a token must have left to be handed out
#                            (default 120)
#   GITHUB_TOKEN_WAIT        seconds to wait for Agent to render a fresh token
#                            when the one in the file has less (default 30);
#                            then exit 1 with a message, without running gh
#   GH_REAL                  the real gh (default /usr/bin/gh)
#   GH_HOST                  set for GitHub Enterprise Server; gh then reads
#                            GH_ENTERPRISE_TOKEN, which this wrapper also sets
set -eu

prog=gh-wrapper
creds_file=${GITHUB_CREDENTIALS_FILE:-/var/run/github/credentials.json}
margin=${GITHUB_TOKEN_MARGIN:-120}
wait_max=${GITHUB_TOKEN_WAIT:-30}
gh_real=${GH_REAL:-/usr/bin/gh}

# fresh_token prints the token in $creds_file once it has at least $margin
# seconds left before Vault revokes it, waiting up to $wait_max seconds for
# Agent to render a fresher one; otherwise it fails with a message.
# (The same function is in git-credential-vault.sh.)
fresh_token() {
  waited=0
  while :; do
    left=
    if [ -s "$creds_file" ]; then
      creds=$(cat "$creds_file") # one read: token and validUntil match
      token=$(printf '%s\n' "$creds" | sed -n 's/^ *"token": "\([^"]*\)",$/\1/p')
      valid_until=$(printf '%s\n' "$creds" | sed -n 's/^ *"validUntil": \([0-9][0-9]*\),$/\1/p')
      if [ -n "$token" ] && [ -n "$valid_until" ]; then
        left=$((valid_until - $(date +%s)))
        if [ "$left" -ge "$margin" ]; then
          printf '%s' "$token"
          return 0
        fi
      fi
    fi
    if [ "$waited" -ge "$wait_max" ]; then
      if [ -z "$left" ]; then
        echo "$prog: no token in $creds_file after ${wait_max}s; is Vault Agent running?" >&2
      else
        echo "$prog: the token in $creds_file has ${left}s left, less than the ${margin}s margin, and Vault Agent has not rendered a fresh one in ${wait_max}s; is Agent running? (see its log)" >&2
      fi
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

GH_TOKEN=$(fresh_token) || exit 1
export GH_TOKEN
case ${GH_HOST:-github.com} in
  github.com) ;;
  *) GH_ENTERPRISE_TOKEN=$GH_TOKEN; export GH_ENTERPRISE_TOKEN ;;
esac

exec "$gh_real" "$@"
