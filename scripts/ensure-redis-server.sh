#!/usr/bin/env bash
# Installs redis-server from Debian's packages when it is missing, so that the
# real-Redis tests (and `make bench`) can start their own servers. Tests that
# need it skip without it outside CI and fail under CI=true.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "redis-server is missing and this user cannot install it; install Debian's redis-server package" >&2
    exit 1
  fi
fi
echo "installing redis-server from Debian's packages" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package starts a system service on 6379; the tests never use it.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop redis-server >/dev/null 2>&1 || true; fi
command -v redis-server
