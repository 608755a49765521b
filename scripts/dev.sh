#!/usr/bin/env bash
# `make dev`: runs the engine for real on this machine.
#
# Builds the plugin (and Vault, once, via scripts/build-vault.sh) and
# github-token-proxy (into .dev/bin), starts the GitHub API double on
# loopback with a freshly generated App key, starts a
# Vault dev server on 127.0.0.1 with the plugin registered by sha256 and
# version, mounts it at github/, writes the config and a `demo` role, and
# prints `vault read github/token/demo`. With the double it runs two Apps:
# the github.com-like double as the App `default` (over TLS with a
# certificate for 127.0.0.1 and github.com's names from a CA generated at
# start, .dev/github-ca.pem, which the App's ca_certificate trusts and
# github-token-proxy's -upstream-ca can: docs/agent-isolation.md's try-it
# sends github.com there through the proxy), and a second double shaped
# like GitHub Enterprise Server (API under /api/v3, TLS with a CA generated
# at start, trusted only through the App's ca_certificate) as the App `ghes`,
# with the role `demo-ghes`. Then it waits: Ctrl-C (or scripts/dev-stop.sh
# from another shell) stops every process it started.
#
# Environment:
#   GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_FILE
#                     use this real GitHub App instead of the double (the
#                     double is then not started)
#   GITHUB_API_URL    its API base URL, for GitHub Enterprise Server
#                     (https://HOST/api/v3); default https://api.github.com
#   GITHUB_OWNER      the org or user the demo role mints for; default: the
#                     App's first installation
#   VERSION           plugin version to build and register (default v0.1.0-dev)
#   DEV_VAULT_PORT    Vault's port on 127.0.0.1 (default 8200; the dev
#                     server's cluster listener takes the next one)
#   DEV_PROXY_PORT    the port on 127.0.0.1 the proxy try-it listens on
#                     (default 8118, proxy-pod.yaml's), checked free and
#                     written to .dev/env as DEV_PROXY_ADDR; make dev itself
#                     does not start the proxy
#   DEV_DETACH=1      return once the token is printed and leave the
#                     processes running; stop them with scripts/dev-stop.sh
#
# State (pids, logs, the double's key, an env file with VAULT_ADDR and
# VAULT_TOKEN) lives in .dev/ at the repository root, which git ignores.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dev="$root/.dev"
VERSION="${VERSION:-v0.1.0-dev}"
port="${DEV_VAULT_PORT:-8200}"
proxy_port="${DEV_PROXY_PORT:-8118}"
mount=github

say() { printf '==> %s\n' "$*"; }
die() { printf 'dev: %s\n' "$*" >&2; exit 1; }

# A port on 127.0.0.1 that something already listens on.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- inputs ------------------------------------------------------------------
real_app=""
if [ -n "${GITHUB_APP_ID:-}" ] || [ -n "${GITHUB_APP_PRIVATE_KEY_FILE:-}" ]; then
  [ -n "${GITHUB_APP_ID:-}" ] || die "GITHUB_APP_PRIVATE_KEY_FILE is set but GITHUB_APP_ID is not"
  [ -n "${GITHUB_APP_PRIVATE_KEY_FILE:-}" ] || die "GITHUB_APP_ID is set but GITHUB_APP_PRIVATE_KEY_FILE is not"
  [ -r "$GITHUB_APP_PRIVATE_KEY_FILE" ] || die "cannot read GITHUB_APP_PRIVATE_KEY_FILE=$GITHUB_APP_PRIVATE_KEY_FILE"
  real_app=1
fi
case "$port" in ''|*[!0-9]*) die "DEV_VAULT_PORT=$port is not a port number" ;; esac
case "$proxy_port" in ''|*[!0-9]*) die "DEV_PROXY_PORT=$proxy_port is not a port number" ;; esac

mkdir -p "$dev"
for f in "$dev"/*.pid; do
  [ -e "$f" ] || continue
  read -r pid _ <"$f" || true
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
    die "a dev environment is already running (pid $pid, $f); stop it with: make dev-stop"
  fi
  rm -f "$f"
done
for p in "$port" "$((port + 1))"; do
  port_busy "$p" && die "127.0.0.1:$p is in use; free it or set DEV_VAULT_PORT"
done
port_busy "$proxy_port" && die "127.0.0.1:$proxy_port is in use; free it or set DEV_PROXY_PORT"

# From here on, whatever we started is stopped when we exit, unless detached.
cleanup() {
  trap - EXIT INT TERM
  # Stop everything even if our output is gone (e.g. piped into a dead tee).
  trap '' PIPE
  echo || true
  bash "$root/scripts/dev-stop.sh" || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background, logging to .dev/NAME.log,
# and records its pid in .dev/NAME.pid.
start() {
  local name="$1"
  shift
  "$@" >"$dev/$name.log" 2>&1 &
  echo "$! $(basename "$1")" >"$dev/$name.pid"
}

# wait_for WHAT SECONDS PIDFILE CMD...: polls CMD every 0.25 s until it
# succeeds; fails if the process in PIDFILE dies or time runs out.
wait_for() {
  local what="$1" secs="$2" pidfile="$3" pid i
  shift 3
  read -r pid _ <"$pidfile"
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "${pidfile%.pid}.log" >&2 || true
      die "$what exited; log above (${pidfile%.pid}.log)"
    fi
    sleep 0.25
  done
  tail -n 30 "${pidfile%.pid}.log" >&2 || true
  die "$what not ready after ${secs}s; log above (${pidfile%.pid}.log)"
}

# --- build -------------------------------------------------------------------
say "building Vault (cached after the first run) and the plugin $VERSION"
vault_bin="$(bash "$root/scripts/build-vault.sh")"
mkdir -p "$dev/plugins" "$dev/bin"
read -r plugin_bin plugin_sha < <(bash "$root/scripts/build-plugin.sh" "$dev/plugins" "$VERSION")
plugin_name="$(basename "$plugin_bin")"
# The token proxy, as `make build` builds it, for docs/agent-isolation.md's try-it.
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" \
  -o "$dev/bin/github-token-proxy" ./cmd/github-token-proxy)

# --- GitHub: the double, or a real App ---------------------------------------
if [ -z "$real_app" ]; then
  (cd "$root" && go build -o "$dev/bin/github-double" ./github/githubtest/cmd/github-double)
  rm -f "$dev/app-key.pem" "$dev/github-ca.pem"
  start github-double "$dev/bin/github-double" -addr 127.0.0.1:0 -key-out "$dev/app-key.pem" \
    -tls -ca-out "$dev/github-ca.pem" -installations 'acme:Organization:widgets,gadgets,tools;octocat:User:dotfiles'
  wait_for "the GitHub API double" 20 "$dev/github-double.pid" grep -q '^github-double listening on ' "$dev/github-double.log"
  github_url="$(sed -n 's/^github-double listening on \([^ ]*\) .*/\1/p' "$dev/github-double.log")"
  app_id="$(sed -n 's/^github-double listening on .* app_id=\([0-9]*\).*/\1/p' "$dev/github-double.log")"
  key_file="$dev/app-key.pem"
  owner=acme
  example_repo=widgets
  say "GitHub API double at $github_url (App $app_id, fresh key in .dev/app-key.pem, TLS with the CA in .dev/github-ca.pem)"

  # The second App's GitHub: like GitHub Enterprise Server behind a private CA.
  rm -f "$dev/ghes-key.pem" "$dev/ghes-ca.pem"
  start github-double-ghes "$dev/bin/github-double" -addr 127.0.0.1:0 -prefix /api/v3 -tls \
    -ca-out "$dev/ghes-ca.pem" -key-out "$dev/ghes-key.pem" -app-id 2002 -slug ghes-double-app \
    -first-installation-id 52000001 -first-repository-id 923456001 \
    -installations 'corp:Organization:infra,platform'
  wait_for "the GHES-like double" 20 "$dev/github-double-ghes.pid" grep -q '^github-double listening on ' "$dev/github-double-ghes.log"
  ghes_url="$(sed -n 's/^github-double listening on \([^ ]*\) .*/\1/p' "$dev/github-double-ghes.log")"
  ghes_app_id="$(sed -n 's/^github-double listening on .* app_id=\([0-9]*\).*/\1/p' "$dev/github-double-ghes.log")"
  say "GHES-like double at $ghes_url (App $ghes_app_id, TLS with the CA in .dev/ghes-ca.pem)"
else
  github_url="${GITHUB_API_URL:-}"
  app_id="$GITHUB_APP_ID"
  key_file="$GITHUB_APP_PRIVATE_KEY_FILE"
  owner="${GITHUB_OWNER:-}"
  example_repo=REPO
  say "real GitHub App $app_id at ${github_url:-https://api.github.com} (the double is not started)"
fi

# --- Vault -------------------------------------------------------------------
root_token="dev-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
cat >"$dev/vault.hcl" <<EOF
plugin_directory = "$dev/plugins"
disable_mlock    = true
ui               = false
EOF
export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN="$root_token"
start vault "$vault_bin" server -dev -dev-no-store-token \
  -dev-root-token-id="$root_token" -dev-listen-address="127.0.0.1:$port" \
  -config="$dev/vault.hcl"
wait_for "Vault" 60 "$dev/vault.pid" "$vault_bin" status
(umask 077 && cat >"$dev/env" <<EOF
export VAULT_ADDR=$VAULT_ADDR
export VAULT_TOKEN=$VAULT_TOKEN
export PATH="$(dirname "$vault_bin"):\$PATH"
export DEV_PROXY_ADDR=127.0.0.1:$proxy_port
EOF
)

v() { "$vault_bin" "$@"; }
say "Vault $("$vault_bin" version | awk '{print $2}' | tr -d ,) at $VAULT_ADDR; registering $plugin_name $VERSION (sha256 ${plugin_sha:0:12}…)"
v plugin register -sha256="$plugin_sha" -version="$VERSION" -command="$plugin_name" secret "$plugin_name" >/dev/null
v secrets enable -path="$mount" -plugin-version="$VERSION" "$plugin_name" >/dev/null

config_args=(app_id="$app_id" private_key=@"$key_file")
[ -n "$github_url" ] && config_args+=(base_url="$github_url")
[ -z "$real_app" ] && config_args+=(ca_certificate=@"$dev/github-ca.pem")
v write "$mount/config" "${config_args[@]}" >/dev/null

role_args=()
if [ -n "$real_app" ]; then
  if [ -z "$owner" ]; then
    # The CLI prints the login → id map as map[login:id ...].
    owner="$(v read -field=installations "$mount/installations" | sed -n 's/^map\[\([^: ]*\):.*/\1/p')"
    [ -n "$owner" ] || die "the App has no installations; install it on an account or set GITHUB_OWNER"
  fi
  # Against a real App the demo token can only read metadata.
  role_args+=(permissions=metadata=read)
fi
v write "$mount/roles/demo" owner="$owner" "${role_args[@]+"${role_args[@]}"}" >/dev/null
say "mounted at $mount/ with config and role demo (owner $owner)"
if [ -z "$real_app" ]; then
  v write "$mount/apps/ghes" app_id="$ghes_app_id" private_key=@"$dev/ghes-key.pem" \
    base_url="$ghes_url" ca_certificate=@"$dev/ghes-ca.pem" >/dev/null
  v write "$mount/roles/demo-ghes" app=ghes owner=corp repositories=infra permissions=contents=read >/dev/null
  say "second App ghes (the GHES-like double, trusted through ca_certificate) with role demo-ghes (owner corp)"
fi

echo
echo "\$ vault read $mount/token/demo"
v read "$mount/token/demo"
if [ -z "$real_app" ]; then
  echo
  echo "\$ vault read $mount/token/demo-ghes"
  v read "$mount/token/demo-ghes"
fi

cat <<EOF

Use it from another shell:
  export VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=$VAULT_TOKEN
  export PATH="$(dirname "$vault_bin"):\$PATH"
  (or: source .dev/env, which sets the same)
  vault read $mount/token/demo
  vault write $mount/roles/team-a_$example_repo owner=$owner repositories=$example_repo permissions=contents=read
  vault list $mount/roles
  vault read $mount/roles/demo/check
EOF
if [ -z "$real_app" ]; then
  cat <<EOF
  vault list $mount/apps
  vault read $mount/apps/ghes
  vault read $mount/token/demo-ghes
  vault read $mount/roles/demo-ghes/check
  vault write $mount/roles/corp_platform app=ghes owner=corp repositories=platform permissions=contents=read check=true
  vault read $mount/installations app=ghes
EOF
fi
cat <<EOF
  vault lease revoke -prefix $mount/token/

Logs in .dev/: vault.log$([ -z "$real_app" ] && echo ", github-double.log, github-double-ghes.log")
EOF

if [ "${DEV_DETACH:-}" = 1 ]; then
  trap - EXIT INT TERM
  echo "Left running (DEV_DETACH=1); stop with: make dev-stop"
  exit 0
fi
echo "Stop with Ctrl-C here, or: make dev-stop"

# Wait until Vault exits or we are told to stop (the traps clean up).
read -r vault_pid _ <"$dev/vault.pid"
while kill -0 "$vault_pid" 2>/dev/null; do
  sleep 1 &
  wait $! || true
done
say "Vault exited; see .dev/vault.log"
