#!/usr/bin/env bash
# `make dev-stop`: stops every process scripts/dev.sh started, by the pids it
# recorded in .dev/*.pid (Vault, its plugin processes, the GitHub API double).
# Each is sent SIGTERM, and SIGKILL if it is still there after 15 seconds.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dev="$root/.dev"

# Messages never stop the stopping, even with stdout gone.
say() { echo "$@" 2>/dev/null || true; }
warn() { echo "dev-stop: $*" >&2 2>/dev/null || true; }

pids=()
names=()
for f in "$dev"/*.pid; do
  [ -e "$f" ] || continue
  pid="" name=""
  read -r pid name <"$f" || true
  rm -f "$f"
  case "$pid" in ''|*[!0-9]*) continue ;; esac
  kill -0 "$pid" 2>/dev/null || continue
  # Guard against a recycled pid: the process must still be the one we started.
  if [ -n "$name" ] && command -v ps >/dev/null 2>&1; then
    comm="$(ps -p "$pid" -o comm= 2>/dev/null || true)"
    case "$comm" in *"$name"*) ;; *) warn "pid $pid is now '$comm', not $name; leaving it"; continue ;; esac
  fi
  # Vault's plugin processes are its children; stop them too if Vault
  # cannot (pgrep -P lists only this pid's children).
  if command -v pgrep >/dev/null 2>&1; then
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do
      pids+=("$child")
      names+=("child of $name")
    done
  fi
  pids=("$pid" "${pids[@]+"${pids[@]}"}")
  names=("$name" "${names[@]+"${names[@]}"}")
done
rm -f "$dev/env"

if [ "${#pids[@]}" -eq 0 ]; then
  say "dev-stop: nothing running"
  exit 0
fi

for i in "${!pids[@]}"; do
  kill -TERM "${pids[$i]}" 2>/dev/null || true
done
for ((t = 0; t < 60; t++)); do
  alive=0
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && alive=1
  done
  [ "$alive" = 0 ] && break
  sleep 0.25
done
for i in "${!pids[@]}"; do
  if kill -0 "${pids[$i]}" 2>/dev/null; then
    warn "${names[$i]} (pid ${pids[$i]}) ignored SIGTERM; killing it"
    kill -KILL "${pids[$i]}" 2>/dev/null || true
  fi
done
for i in "${!pids[@]}"; do
  case "${names[$i]}" in "child of "*) ;; *) say "stopped ${names[$i]} (pid ${pids[$i]})" ;; esac
done
