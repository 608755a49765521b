#!/bin/sh
# Git credential helper: answers with the GitHub installation token that
# Vault Agent keeps rendered in a file, read afresh on every call, so git
# always uses the current token and never has to track its expiry.
#
# Install (as the runner's git config; GIT_CONFIG_* variables work too, see
# k8s/sidecar-pod.yaml). The empty value first clears helpers configured
# elsewhere for this host:
#   git config --global credential.https://github.com.helper ''
#   git config --global --add credential.https://github.com.helper /opt/github/git-credential-vault.sh
#
# Environment:
#   GITHUB_TOKEN_FILE  the rendered token (default /var/run/github/token)
#   GITHUB_HOST        the host the token is for (default github.com; your
#                      GitHub Enterprise Server host otherwise)
#
# Only "get" answers, and only for https://$GITHUB_HOST: the token is never
# handed to another host. "store" and "erase" do nothing: the file is
# Vault Agent's to change.
set -eu

token_file=${GITHUB_TOKEN_FILE:-/var/run/github/token}
want_host=${GITHUB_HOST:-github.com}

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

if [ ! -s "$token_file" ]; then
  echo "git-credential-vault: $token_file is missing or empty; is Vault Agent running?" >&2
  exit 0
fi

token=$(cat "$token_file")
printf 'username=x-access-token\npassword=%s\n' "$token"
