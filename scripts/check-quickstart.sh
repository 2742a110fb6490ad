#!/usr/bin/env bash
# Runs README.md's quick-start block (between <!-- quickstart --> and
# <!-- /quickstart -->) as written, in a session of its own, and checks that
# the email verify and the gRPC verify each returned a session JWT.
# Bounded: the block has 15 minutes (the first grpcurl build downloads its
# modules); every process it started is stopped by session id afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
block=$(awk '/<!-- quickstart -->/{f=1;next} /<!-- \/quickstart -->/{f=0} f' README.md | sed '/^```/d')
[ -n "$block" ] || { echo "no quick-start block in README.md" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out" otpd.log' EXIT
setsid bash -euo pipefail -c "$block" >"$out" 2>&1 &
sid=$!
( sleep 900; pkill -s "$sid" ) 2>/dev/null &
watchdog=$!
set +e
wait "$sid"
rc=$?
set -e
kill "$watchdog" 2>/dev/null || true
pkill -s "$sid" 2>/dev/null || true
cat "$out"
[ "$rc" = 0 ] || { echo "quick start: the block failed (exit $rc)" >&2; exit 1; }
n=$(grep -c '"sessionJwt"' "$out" || true)
[ "$n" -ge 2 ] || { echo "quick start: expected 2 sign-ins with a sessionJwt, saw $n" >&2; exit 1; }
echo "quick start: OK ($n sign-ins)"
