#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 30s) and
# prints the executions and findings of each. Seed corpora also run as
# ordinary tests in `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-30s}"
status=0
while IFS= read -r file; do
  pkg="./$(dirname "$file")"
  mapfile -t targets < <(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}')
  for target in "${targets[@]}"; do
    echo "== $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | grep -E 'fuzz: elapsed: .*execs|PASS|FAIL|failure|panic' | tail -3; then
      status=1
    fi
  done
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | sort)
exit $status
