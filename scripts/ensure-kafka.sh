#!/usr/bin/env bash
# Apache Kafka for the Kafka test tier and `make run BROKER=kafka`: Maven from Debian when
# it is missing and we are root with apt (it brings a JDK too), then the broker's jars from
# Maven Central through kafka/pom.xml into ~/.cache/samenwijk/kafka-<version> (outside the
# clone: CI clones fresh). Where that cannot be done, say why; the tests then skip the
# Kafka tier and print the same reason. Never fails the build on its own.
set -uo pipefail
PY=${1:-.venv/bin/python}
if ! command -v mvn >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Maven from Debian's packages (for the Apache Kafka jars) …"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends maven >/dev/null
  else
    echo "no Maven and not root: the Apache Kafka tier will be skipped (install maven to run it)"
  fi
fi
if command -v mvn >/dev/null; then
  "$PY" -m samenwijk_dev kafka-jars || echo "fetching the Apache Kafka jars failed: the Kafka tier will be skipped"
else
  "$PY" -m samenwijk_dev kafka-jars --check
fi
exit 0
