#!/usr/bin/env bash
# What the tests need on the machine besides make, bash and Go, and how to
# get it. `make test-all` (and `make test`, `make testacc`) runs this first:
#
#   bash scripts/deps.sh          installs what is missing with apt-get
#                                 (Debian, Ubuntu; as root or with
#                                 passwordless sudo), or stops with one
#                                 message naming every missing tool and
#                                 the command that installs it
#   bash scripts/deps.sh --check  never installs: the message, or nothing
#   bash scripts/deps.sh --list   the table below, without the checks
#
# Adding a tool is one line of the table.
set -euo pipefail

# tool             Debian package   present when (bash; status 0)
#
# git and its git-http-backend serve the GitHub API double's repositories;
# gh is the runner's GitHub CLI (the proxy's and the gh wrapper's tests run
# the real one); curl is a client of the proxy in the tests; shellcheck
# checks the example scripts; PyYAML parses the Kubernetes manifests (apt
# puts it in /usr/bin/python3, which the tests also try when the python3
# on PATH has no yaml module); Python requests is a client of the proxy in
# the tests (the runner's language), looked for the same way.
# shellcheck disable=SC2016 # the checks run later, with eval
table='
git                git              command -v git
git-http-backend   git              test -x "$(git --exec-path 2>/dev/null)/git-http-backend"
gh                 gh               command -v gh
curl               curl             command -v curl
shellcheck         shellcheck       command -v shellcheck
PyYAML             python3-yaml     /usr/bin/python3 -c "import yaml" 2>/dev/null || python3 -c "import yaml" 2>/dev/null
python-requests    python3-requests /usr/bin/python3 -c "import requests" 2>/dev/null || python3 -c "import requests" 2>/dev/null
'

root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-install}"
case "$mode" in
  install | --check | --list) ;;
  *) echo "usage: $0 [--check | --list]" >&2; exit 2 ;;
esac

if [ "$mode" = --list ]; then
  printf '%s\n' "$table" | awk 'NF { print $1, $2 }'
  exit 0
fi

# Go is not taken from apt (Debian 12's golang-go is 1.19): the go.mod's
# version, or Go 1.21 or later, which fetches the go.mod's version itself
# unless GOTOOLCHAIN=local.
go_want="$(awk '$1 == "go" { print $2; exit }' "$root/go.mod")"
version_ge() { printf '%s\n%s\n' "$2" "$1" | sort -V -C; }

# Node.js is not taken from apt either (Debian 12's nodejs is 18): the
# proxy's Node clients run fetch() with the docs' preload, whose undici
# (docs/agent-isolation.md) needs Node 20.18.1 or later, and npm installs it.
node_want=20.18.1
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  local have
  have="$(node --version 2>/dev/null)" || return 1
  have="${have#v}"
  version_ge "$have" "$node_want"
}
go_ok() {
  command -v go >/dev/null 2>&1 || return 1
  local have
  have="$(cd / && GOTOOLCHAIN=local go env GOVERSION 2>/dev/null)" || return 1
  have="${have#go}"
  version_ge "$have" "$go_want" && return 0
  version_ge "$have" 1.21 && [ "$(cd / && go env GOTOOLCHAIN)" != local ]
}

# missing: fills tools and pkgs with the rows whose check fails.
tools=() pkgs=()
missing() {
  tools=() pkgs=()
  local tool pkg check
  while read -r tool pkg check; do
    [ -n "$tool" ] || continue
    if ! (eval "$check") >/dev/null 2>&1; then
      tools+=("$tool")
      case " ${pkgs[*]-} " in *" $pkg "*) ;; *) pkgs+=("$pkg") ;; esac
    fi
  done <<<"$table"
}

# report WHY: the one message, on stderr, then exit 1.
report() {
  local i pkg
  {
    echo "deps: make test-all needs what this machine lacks:"
    go_ok || printf '  %-18s Go %s or newer: https://go.dev/dl/ (not Debian'"'"'s golang-go, which is older)\n' go "$go_want"
    node_ok || printf '  %-18s Node.js %s or newer, with npm: https://nodejs.org/ or NodeSource'"'"'s packages (not Debian 12'"'"'s nodejs, which is 18)\n' node "$node_want"
    for i in "${!tools[@]}"; do
      pkg="$(printf '%s\n' "$table" | awk -v t="${tools[$i]}" '$1 == t { print $2 }')"
      printf '  %-18s Debian package %s\n' "${tools[$i]}" "$pkg"
    done
    if [ "${#pkgs[@]}" -gt 0 ]; then
      echo "Install them with:"
      echo "  sudo apt-get update && sudo apt-get install -y ${pkgs[*]}"
      echo "(on other systems: the same tools from its package manager)."
    fi
    [ -n "$1" ] && echo "$1"
    echo "Then run make test-all again."
  } >&2
  exit 1
}

missing
if [ "${#tools[@]}" -eq 0 ]; then
  if ! { go_ok && node_ok; }; then report ""; fi
  exit 0
fi

# Install with apt-get when this user can without a password.
why=""
sudo=()
if [ "$mode" = --check ]; then
  why=""
elif ! command -v apt-get >/dev/null 2>&1; then
  why="(No apt-get here: make test-all installs them itself only on Debian or Ubuntu.)"
elif [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
  why="(make test-all installs them itself when run as root or with passwordless sudo.)"
else
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  echo "deps: installing ${pkgs[*]} (apt-get update && apt-get install -y ${pkgs[*]}${sudo[*]:+, with sudo})" >&2
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  # apt's output only when it fails.
  if ! "${sudo[@]}" apt-get update -qq >"$log" 2>&1; then
    cat "$log" >&2
    why="(apt-get update failed, above.)"
  elif ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    why="(apt-get install failed, above.)"
  else
    installed=("${pkgs[@]}")
    missing
    [ "${#tools[@]}" -eq 0 ] && go_ok && node_ok && { echo "deps: installed ${installed[*]}" >&2; exit 0; }
    [ "${#tools[@]}" -eq 0 ] ||
      why="(apt-get installed ${installed[*]}, yet the above are still not found: is their directory, e.g. /usr/bin, on PATH?)"
  fi
fi
report "$why"
