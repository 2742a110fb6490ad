#!/usr/bin/env bash
# Runs README.md's quick-start block (between <!-- quickstart --> and
# <!-- /quickstart -->) as written, twice, each in a session of its own:
#   1. on its own: the block starts otpd itself (and must stop it);
#   2. while an otpd already serves 127.0.0.1:8080, as `make run` in another
#      terminal would: the block must use it, and leave it running.
# Each time it checks that the email verify and the gRPC verify each
# returned a session JWT. Bounded: each run has 15 minutes (the first
# grpcurl build downloads its modules); every process a run started is
# stopped by session id afterwards, and the otpd of run 2 by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
block=$(awk '/<!-- quickstart -->/{f=1;next} /<!-- \/quickstart -->/{f=0} f' README.md | sed '/^```/d')
[ -n "$block" ] || { echo "no quick-start block in README.md" >&2; exit 1; }
out=$(mktemp)
served=""
cleanup() {
  rm -f "$out" otpd.log otpd-served.log
  if [ -n "$served" ]; then kill "$served" 2>/dev/null || true; fi
}
trap cleanup EXIT

healthy() { curl -sf http://127.0.0.1:8080/healthz >/dev/null 2>&1; }

run_block() {
  local label=$1
  setsid bash -euo pipefail -c "$block" >"$out" 2>&1 &
  local sid=$!
  ( sleep 900; pkill -s "$sid" ) 2>/dev/null &
  local watchdog=$!
  set +e
  wait "$sid"
  local rc=$?
  set -e
  kill "$watchdog" 2>/dev/null || true
  pkill -s "$sid" 2>/dev/null || true
  # Wait for them to be gone (otpd drains for up to 10 s and closes its
  # admin listener, :9090, after :8080): the next run binds the same ports.
  for _ in $(seq 150); do pgrep -s "$sid" >/dev/null 2>&1 || break; sleep 0.2; done
  pkill -9 -s "$sid" 2>/dev/null || true
  echo "=== quick start, $label ==="
  cat "$out"
  [ "$rc" = 0 ] || { echo "quick start ($label): the block failed (exit $rc)" >&2; exit 1; }
  local n
  n=$(grep -c '"sessionJwt"' "$out" || true)
  [ "$n" -ge 2 ] || { echo "quick start ($label): expected 2 sign-ins with a sessionJwt, saw $n" >&2; exit 1; }
  echo "quick start ($label): OK ($n sign-ins)"
}

if healthy; then
  echo "something already serves 127.0.0.1:8080: stop it to run the quick-start check" >&2
  exit 1
fi
run_block "otpd started by the block"
if healthy; then
  echo "quick start: the block left its otpd running" >&2
  exit 1
fi

# As if `make run` were serving in another terminal.
make build >/dev/null
bin/otpd >otpd-served.log 2>&1 &
served=$!
for _ in $(seq 60); do healthy && break; sleep 1; done
healthy || { cat otpd-served.log; echo "quick start: the pre-started otpd did not come up" >&2; exit 1; }
run_block "otpd already serving"
kill -0 "$served" 2>/dev/null || { echo "quick start: the block stopped the otpd that was already serving" >&2; exit 1; }
grep -q '"to":"ada@example.com"' otpd-served.log || { echo "quick start: the block did not use the otpd already serving" >&2; exit 1; }
echo "quick start: OK both ways"
