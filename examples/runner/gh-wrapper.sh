#!/bin/sh
# A `gh` wrapper that reads the GitHub installation token from the file
# Vault Agent renders, on every call, and hands it to the real gh in
# GH_TOKEN. Install it ahead of the real gh on PATH, named gh, e.g. as
# /usr/local/bin/gh with the real one at /usr/bin/gh.
#
# Environment:
#   GITHUB_TOKEN_FILE  the rendered token (default /var/run/github/token)
#   GH_REAL            the real gh (default /usr/bin/gh)
#   GH_HOST            set for GitHub Enterprise Server; gh then reads
#                      GH_ENTERPRISE_TOKEN, which this wrapper also sets
set -eu

token_file=${GITHUB_TOKEN_FILE:-/var/run/github/token}
gh_real=${GH_REAL:-/usr/bin/gh}

if [ -s "$token_file" ]; then
  GH_TOKEN=$(cat "$token_file")
  export GH_TOKEN
  case ${GH_HOST:-github.com} in
    github.com) ;;
    *) GH_ENTERPRISE_TOKEN=$GH_TOKEN; export GH_ENTERPRISE_TOKEN ;;
  esac
else
  echo "gh-wrapper: $token_file is missing or empty; is Vault Agent running?" >&2
fi

exec "$gh_real" "$@"
