#!/usr/bin/env bash
# Builds a pinned Vault server from the Go module proxy into a cache folder
# outside the repository, keyed by version, and prints the binary's path.
# A cached binary is reused; a missing one is rebuilt (about 16 minutes on 2
# cores with an empty module cache, 6-8 with a warm one).
#
#   VAULT_VERSION=v1.21.0 bash scripts/build-vault.sh   # another version
set -euo pipefail

VAULT_VERSION="${VAULT_VERSION:-v1.21.1}"
CACHE_ROOT="${VAULT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-github-app/vault}"
dir="$CACHE_ROOT/$VAULT_VERSION"
bin="$dir/vault"

if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "Vault ${VAULT_VERSION}"; then
  echo "$bin"
  exit 0
fi

echo "building Vault ${VAULT_VERSION} into ${dir} (takes 6-16 minutes)" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Vault's own go.mod replaces its SDK with the in-repository copy, so the
# build needs the published SDK that matches that copy: the one its go.mod
# requires (v1.21.0-v1.21.2: v0.20.0). From v1.21.2 on the in-repository SDK
# matches no published one (v1.21.2 calls TryRecordObservationWithRequest,
# which SDK v0.20.0 lacks; v1.21.3 and v1.21.4 name v0.21.0, whose
# ActivationFunc they do not compile with), so v1.21.1 is the newest patch
# the module proxy can build. The 1.20 line matches none either (v0.18.0
# lacks PluginRunner.Download, v0.19.0 changed GetCloudSQLAuthOptions); the
# README's "Supported Vault versions" has the matrix. VAULT_SDK_VERSION
# overrides the choice.
info="$(go mod download -json "github.com/hashicorp/vault@${VAULT_VERSION}")"
gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$info")"
src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")"
[ -f "$gomod" ] || { echo "the Go module proxy serves no go.mod for Vault ${VAULT_VERSION}" >&2; exit 1; }
# Where the SDK a line's go.mod names is older than its in-repository copy,
# the nearest published SDK that builds it:
# - 1.19: the copy has PluginTier, which v0.15.2 lacks; v0.17.0, the first
#   published with it, builds v1.19.5;
# - 1.16: the copy has the OCSP retry settings and go-ldap's `Close() error`,
#   which v0.11.0 lacks; v0.12.0 builds v1.16.3.
case "$VAULT_VERSION" in
  v1.19.*) : "${VAULT_SDK_VERSION:=v0.17.0}" ;;
  v1.16.*) : "${VAULT_SDK_VERSION:=v0.12.0}" ;;
esac
if [ -z "${VAULT_SDK_VERSION:-}" ]; then
  VAULT_SDK_VERSION="$(awk '$1 == "github.com/hashicorp/vault/sdk" && $2 ~ /^v/ { print $2; exit }' "$gomod")"
  [ -n "$VAULT_SDK_VERSION" ] || { echo "cannot tell which SDK Vault ${VAULT_VERSION} needs; set VAULT_SDK_VERSION" >&2; exit 1; }
fi
# Vault's go.mod also replaces a few third-party modules (forks); a
# dependency's replace directives do not apply to the module that requires
# it, so carry over every one that does not point into Vault's own tree.
replaces="$(awk '
  /^replace \($/ { block = 1; next }
  block && /^\)/ { block = 0; next }
  /^replace / { sub(/^replace /, ""); print_it($0); next }
  block { print_it($0) }
  function print_it(line) {
    n = split(line, f, /[[:space:]]+/)
    for (i = 1; i <= n; i++) if (f[i] == "=>") break
    if (i < n && f[i + 1] !~ /^\.\.?\//) { sub(/^[[:space:]]+/, "", line); print "\t" line }
  }
' "$gomod")"
mkdir -p "$work/src"
cd "$work/src"
cat > main.go <<'GO'
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
GO
cat > go.mod <<GOMOD
module vaultbuild

go 1.26

require github.com/hashicorp/vault ${VAULT_VERSION}

replace (
	github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk ${VAULT_SDK_VERSION}
${replaces}
)
GOMOD
# Vault's own go.sum: the checksums Vault recorded for its dependencies, so
# that none needs a checksum-database lookup (some, such as
# vault-plugin-database-snowflake v0.14.2 for v1.20.4, the database does not
# answer here).
cp "$src/go.sum" go.sum
cp go.mod go.mod.orig
cp go.sum vault.sum
export GOFLAGS=-mod=mod
tidy_log="$(go mod tidy -e 2>&1)" || { echo "$tidy_log" >&2; exit 1; }
echo "$tidy_log" >&2
# A package imported in the build that no module in the graph provides
# makes tidy take that module's newest version, and with it newer
# dependencies than Vault was built with (v1.17.6: otlptrace v1.47.0 brings
# grpc v1.82, which grpc-gcp-go v1.5.0 does not compile with). Start again
# with each such module at the newest version Vault's go.sum has the source
# of.
pins=()
while read -r mod; do
  ver="$(awk -v m="$mod" '$1 == m && $2 !~ /\/go\.mod$/ { print $2 }' vault.sum | sort -V | tail -n1)"
  [ -n "$ver" ] || continue
  echo "taking ${mod} at ${ver}, the version Vault's go.sum records" >&2
  pins+=("-require=${mod}@${ver}")
done < <(sed -n 's/^go: found .* in \([^ ]*\) v[^ ]*$/\1/p' <<<"$tidy_log" | sort -u)
if [ "${#pins[@]}" -gt 0 ]; then
  cp go.mod.orig go.mod
  cp vault.sum go.sum
  go mod edit "${pins[@]}"
  go mod tidy -e >&2
fi
mkdir -p "$dir"
go build -trimpath -ldflags "-s -w -X github.com/hashicorp/vault/version.Version=${VAULT_VERSION#v}" -o "$bin.tmp" . >&2
mv "$bin.tmp" "$bin"
"$bin" version >&2
echo "$bin"
