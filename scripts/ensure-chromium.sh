#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser test. Installed with apt when we are root;
# a normal user without it gets the browser test skipped (said so, not hidden).
set -euo pipefail
if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium from Debian's packages (for the dashboard's browser test) …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "note: chromium is not installed and this user cannot install it; the dashboard's browser test will be skipped"
fi
