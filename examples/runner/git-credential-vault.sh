#!/bin/sh
# Git credential helper: answers with the GitHub installation token that
# Vault Agent keeps rendered in credentials.json, read afresh on every call,
# so git always uses the current token and never has to track its expiry.
#
# Install (as the runner's git config; GIT_CONFIG_* variables work too, see
# k8s/sidecar-pod.yaml). The empty value first clears helpers configured
# elsewhere for this host:
#   git config --global credential.https://github.com.helper ''
#   git config --global --add credential.https://github.com.helper /opt/github/git-credential-vault.sh
#
# Environment:
#   GITHUB_CREDENTIALS_FILE  what Agent renders (default
#                            /var/run/github/credentials.json): the token and
#                            validUntil, when Vault revokes it
#   GITHUB_TOKEN_MARGIN      seconds a token must have left to be handed out
#                            (default 120)
#   GITHUB_TOKEN_WAIT        seconds to wait for Agent to render a fresh token
#                            when the one in the file has less (default 30);
#                            then fail with a message on stderr
#   GITHUB_HOST              the host the token is for (default github.com; your
#                            GitHub Enterprise Server host otherwise)
#
# Only "get" answers, and only for https://$GITHUB_HOST: the token is never
# handed to another host. "store" and "erase" do nothing: the file is
# Vault Agent's to change.
set -eu

prog=git-credential-vault
creds_file=${GITHUB_CREDENTIALS_FILE:-/var/run/github/credentials.json}
margin=${GITHUB_TOKEN_MARGIN:-120}
wait_max=${GITHUB_TOKEN_WAIT:-30}
want_host=${GITHUB_HOST:-github.com}

# fresh_token prints the token in $creds_file once it has at least $margin
# seconds left before Vault revokes it, waiting up to $wait_max seconds for
# Agent to render a fresher one; otherwise it fails with a message.
# (The same function is in gh-wrapper.sh.)
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

if [ "${1:-}" != get ]; then
  cat >/dev/null # git writes the credential to store/erase on stdin
  exit 0
fi

protocol=
host=
while IFS= read -r line; do
  [ -n "$line" ] || break
  case $line in
    protocol=*) protocol=${line#protocol=} ;;
    host=*) host=${line#host=} ;;
  esac
done

if [ "$protocol" != https ] || [ "$host" != "$want_host" ]; then
  exit 0 # not ours: say nothing, git asks its next helper
fi

token=$(fresh_token) || exit 1
printf 'username=x-access-token\npassword=%s\n' "$token"
