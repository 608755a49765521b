#!/usr/bin/env bash
# Builds release binaries for linux and darwin on amd64 and arm64 with the
# version stamped in (the plugin and github-token-proxy, the runner pod's
# token proxy), writes dist/SHA256SUMS, and prints the register command.
# Usage: scripts/release.sh v1.2.3
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-${VERSION:-}}"
if ! [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "usage: $0 vMAJOR.MINOR.PATCH (a v-prefixed semver; Vault registers the plugin by it)" >&2
  exit 2
fi
pkg=github.com/ambient-code/vault-plugin-github-app
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w -X $pkg/plugin.Version=$version -X $pkg/plugin.Commit=$commit -X $pkg/plugin.Date=$date"

rm -rf dist && mkdir -p dist
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
  os="${target%/*}" arch="${target#*/}"
  out="dist/vault-plugin-github-app_${version}_${os}_${arch}"
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -ldflags "$ldflags" -o "$out" ./cmd/vault-plugin-github-app
  echo "built $out" >&2
  out="dist/github-token-proxy_${version}_${os}_${arch}"
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/github-token-proxy
  echo "built $out" >&2
done
(cd dist && sha256sum vault-plugin-github-app_* github-token-proxy_* > SHA256SUMS)
cat dist/SHA256SUMS

host="dist/vault-plugin-github-app_${version}_$(go env GOOS)_$(go env GOARCH)"
sum="$(sha256sum "$host" | cut -d' ' -f1)"
cat <<MSG

Copy the binary for your Vault servers' platform into their plugin_directory
as vault-plugin-github-app, then (this sha256 is for $(go env GOOS)/$(go env GOARCH)):

  vault plugin register -sha256=$sum -version=$version -command=vault-plugin-github-app secret vault-plugin-github-app
  vault secrets enable -path=github -plugin-version=$version vault-plugin-github-app

github-token-proxy_${version}_<os>_<arch> is the runner pod's token proxy
(docs/agent-isolation.md, examples/runner/k8s/proxy-pod.yaml).
MSG
