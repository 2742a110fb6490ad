#!/usr/bin/env bash
# Runs every fuzz target in the module for a fixed time, one at a time
# (go test -fuzz takes one target in one package per run). Targets are
# found by name (func FuzzXxx in *_test.go), so a new one joins `make fuzz`
# and CI without being listed here.
#
#   FUZZTIME   time per target (default 10s; the build and the seed corpus
#              run are not counted)
#   FUZZFLAGS  extra go test flags, e.g. -parallel 1 on a shared machine
#
# A failing input is written to <package>/testdata/fuzz/<Target>/ and the
# run stops: commit that file with the fix, as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
read -r -a flags <<<"${FUZZFLAGS:-}"
total=0
for dir in $(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | xargs -n1 dirname | sort -u); do
  for target in $(grep -hoE '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    echo "fuzz: $dir $target for $FUZZTIME" >&2
    "$GO" test "$dir" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "${flags[@]}"
    total=$((total + 1))
  done
done
echo "fuzz: $total targets passed, $FUZZTIME each" >&2
