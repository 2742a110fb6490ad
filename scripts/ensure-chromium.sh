#!/usr/bin/env bash
# Installs headless Chromium from Debian's `chromium` package when it is
# missing, for the development console's browser test (devconsole). The test
# skips without it outside CI and fails under CI=true.
set -euo pipefail
for b in "${CHROMIUM_BIN:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$b" ] && [ -x "$b" ]; then echo "$b"; exit 0; fi
done
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "chromium is missing and this user cannot install it; install Debian's chromium package" >&2
    exit 1
  fi
fi
echo "installing chromium from Debian's packages" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
command -v chromium
