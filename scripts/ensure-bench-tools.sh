#!/usr/bin/env bash
# Installs what `make bench` needs beyond Go: redis-server and wrk (REST
# load), from Debian's packages. ghz is built from bench/tools/go.mod.
set -euo pipefail
"$(dirname "$0")/ensure-redis-server.sh"
if command -v wrk >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "installing wrk from Debian's packages" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
