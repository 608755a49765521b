#!/usr/bin/env bash
# Builds the plugin binary with its version stamped in and prints
# "PATH SHA256" on one line, the two things `vault plugin register` needs.
#
#   scripts/build-plugin.sh [OUT_DIR [VERSION]]
#
# OUT_DIR defaults to bin/, VERSION to $VERSION or v0.1.0-dev. The version
# must be a v-prefixed semver: Vault registers the plugin with it and refuses
# a registered version that differs from the one built in.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out_dir="${1:-$root/bin}"
version="${2:-${VERSION:-v0.1.0-dev}}"
case "$version" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "build-plugin: version '$version' is not a v-prefixed semver (e.g. v0.1.0)" >&2; exit 2 ;;
esac

pkg=github.com/ambient-code/vault-plugin-github-app
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)"
date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkdir -p "$out_dir"
out="$(cd "$out_dir" && pwd)/vault-plugin-github-app"

(cd "$root" && CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X $pkg/plugin.Version=$version -X $pkg/plugin.Commit=$commit -X $pkg/plugin.Date=$date" \
  -o "$out.tmp" ./cmd/vault-plugin-github-app)
mv "$out.tmp" "$out"

if command -v sha256sum >/dev/null 2>&1; then
  sum="$(sha256sum "$out" | cut -d' ' -f1)"
else
  sum="$(shasum -a 256 "$out" | cut -d' ' -f1)"
fi
echo "$out $sum"
