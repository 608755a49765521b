#!/bin/sh
# A `gh` wrapper that reads the GitHub installation token from the file
# Vault Agent renders, on every call, and hands it to the real gh for the
# token's one host only. Install it ahead of the real gh on PATH, named gh,
# e.g. as /usr/local/bin/gh with the real one at /usr/bin/gh.
#
# gh sends GH_TOKEN (or GITHUB_TOKEN) to github.com and GH_ENTERPRISE_TOKEN
# (or GITHUB_ENTERPRISE_TOKEN) to any other host. The token is for
# github.com, or, with GH_HOST set, for that GitHub Enterprise Server: the
# wrapper sets only the variable gh sends there and clears the other three
# (e.g. left by a sourced gh.env), so github.com never gets an Enterprise
# token and the Enterprise server never gets a github.com one. (gh would
# also send GH_ENTERPRISE_TOKEN to a third host it is pointed at with
# --hostname or HOST/OWNER/REPO: do not.)
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
#   GH_HOST                  the GitHub Enterprise Server host the token is
#                            for (unset: github.com); gh's default host too
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

token=$(fresh_token) || exit 1
unset GH_TOKEN GITHUB_TOKEN GH_ENTERPRISE_TOKEN GITHUB_ENTERPRISE_TOKEN
case ${GH_HOST:-github.com} in
  github.com) GH_TOKEN=$token; export GH_TOKEN ;;
  *) GH_ENTERPRISE_TOKEN=$token; export GH_ENTERPRISE_TOKEN ;;
esac

exec "$gh_real" "$@"
